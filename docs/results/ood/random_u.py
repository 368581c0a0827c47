"""Side measurement for docs/ood.md: S with random dequantization (one draw per image, u ~ U[0,1), seed 0)
instead of the bin centre, with the runtime's shortest-PNG L from docs/results/ood/run.sh's JSON output.
usage: .venv/bin/python docs/results/ood/random_u.py   (after run.sh; reads out/ood/)"""
import json, numpy as np, onnxruntime as ort, zlib, struct, os
sess=ort.InferenceSession("pretrained/fmnist/forward.onnx", providers=["CPUExecutionProvider"])
def load(folder):
    out=[]
    for f in sorted(os.listdir(folder)):
        b=open(os.path.join(folder,f),"rb").read(); i=b.index(b"IDAT"); n=struct.unpack(">I",b[i-4:i])[0]
        out.append(np.frombuffer(zlib.decompress(b[i+4:i+4+n]),np.uint8).reshape(28,29)[:,1:])
    return np.stack(out).astype(np.float32)[:,None]
rng=np.random.default_rng(0)
def bpd(x):
    xs=x+rng.random(x.shape,dtype=np.float32)
    return np.concatenate([sess.run(["bits_per_dim"],{"x":xs[i:i+500]})[0] for i in range(0,len(xs),500)]).astype(np.float64)
def auroc(i,o):
    s=np.concatenate([i,o]); r=s.argsort().argsort()+1.0
    return (r[len(i):].sum()-len(o)*(len(o)+1)/2)/(len(i)*len(o))
fm=json.load(open("out/ood/fmnist-all.json")); mn=json.load(open("out/ood/mnist.json"))
Lf=np.array([d["complexity_bits_per_dim"] for d in fm]); Lm=np.array([d["complexity_bits_per_dim"] for d in mn])
bf=bpd(load("out/ood/fmnist-all")); bm=bpd(load("out/ood/mnist"))
print("random u (K=1), shortest-PNG L: AUROC S %.4f, -log p %.4f; means %.3f %.3f"%(auroc(bf-Lf,bm-Lm),auroc(bf,bm),bf.mean(),bm.mean()))
