#!/usr/bin/env python3
"""The `fmnist-small` RealNVP in PyTorch: the like-for-like reference for `make bench`.

The same architecture as `FlowConfig::preset("fmnist-small")` in realnvp-models (see
docs/model.md, models/src/flow.rs, models/src/layers/*.rs, models/src/nets/*.rs), in model
layout 2 (`MODEL_LAYOUT`, docs/model.md "Which half goes on"), layer by layer:

- logit preprocessing, alpha = 0.05, with its log-det (`Logit` in preprocess.rs);
- per scale: 3 checkerboard affine couplings in mask form (`y = x*exp(s) + t`, s and t zero where
  the mask keeps x, `s = scale * tanh(s_hat)` with a learned per-channel scale, t affine), each
  followed by a flow batch norm (batch statistics in training, running ones in eval, with log-det);
  squeeze (Reshape + Transpose exactly as squeeze.rs); 3 channel-wise couplings (+ flow batch norm)
  with mask parities 1, 0, 1 (`factor_out_parity` in flow.rs); factor out the first half of the
  channels, the second half goes on to the next scale; the last scale has 4 checkerboard couplings.
  Layout 2 means the last channel coupling before a factor-out keeps (conditions on) the half that
  goes on and transforms the half that leaves. Layout 1 (parities 0, 1, 0, what this file copied
  before) did the opposite and left a density with a hole at flat backgrounds. Latent order (as
  docs/bundle.md): the factored-out half (C, H, W flattened), then the next scale's latent;
- s/t nets: weight-normed 3x3 conv in (C -> width), 2 pre-activation residual blocks
  (BN -> ReLU -> conv -> BN -> ReLU -> conv, + skip), BN -> ReLU -> weight-normed 3x3 conv out
  (width -> 2C, zero gain at init); width 32 at the first scale, 64 at the second;
- loss: mean bits/dim + 5e-5 * sum of the squared s scales; Adam (lr 1e-3).

The s/t nets' batch norm is `nn.BatchNorm2d` (momentum 0.05, eps 1e-5): what a PyTorch user writes.
It keeps the unbiased variance as its running statistic where ours keeps the biased one; that
changes no shape, parameter or FLOP. The flow batch norm is written out (it needs its log-det).

Modes (one per process, so each reports its own peak RSS; threads: --threads, default 2):
  params                 trainable parameter count
  train                  training step at --batch (default 64): median seconds per step
  eager                  eval-mode no_grad scoring and sampling images/s at --batches
  export DIR             torch.onnx.export of scoring and sampling (opset 17) into DIR
  ort DIR                ONNX Runtime (Python) on DIR's graphs: images/s at --batches
                         (imports onnxruntime and numpy only, not torch)
  quality                train on the full Fashion-MNIST for --seconds of wall time, then score
                         the 10k test images; prints (and with --out writes) one JSON object
Every result of the first five is one line `ENGINE METRIC BATCH VALUE` (BATCH is `-` where it
does not apply), e.g. `torch score 64 215.3`; other lines start with `#`.

quality: `torch_ref.py quality --seconds S --threads T --seed N [--batch 64] [--lr 1e-3]
[--max-steps N] [--eval-every K] [--eval-examples M] [--out FILE.json]`. Like `trainer fit --preset fmnist-small --data fmnist` with its defaults:
Adam (0.9, 0.999, eps 1e-8) at a constant --lr, no clipping, no flips, batches of --batch drawn
from a fresh shuffle of the 60k training images each epoch (the incomplete last batch dropped),
x = p + u with u ~ U[0, 1) fresh per batch, loss = mean bits/dim + 5e-5 * sum of the squared s
scales; a step with a non-finite loss or gradient is skipped (no update, batch-norm statistics
restored), as the trainer does. The clock starts at the first step (data loading excluded) and
training stops after the step that crosses --seconds. Then, in eval mode (running statistics),
the mean bits/dim over the 10k test images with u = 0.5 and with one random u per image (K = 1,
a generator seeded with --seed). Weights, batch order and noise are seeded with --seed too (their
random streams are PyTorch's, not the trainer's).
For the matched-step comparison (docs/results/side-by-side/matched-steps.sh): --max-steps N stops
after N steps as well, and --eval-every K scores the first --eval-examples test images at u = 0.5
every K steps, in eval mode, as `trainer fit --eval-every K --eval-examples M` does; the JSON
object's "curve" lists (step, bits/dim), and that time is kept off the training clock.
"""

import argparse
import gzip
import json
import math
import os
import resource
import statistics
import sys
import time

ALPHA = 0.05
BN_MOMENTUM = 0.05
BN_EPS = 1e-5
S_SCALE_L2 = 5e-5
DATA = (1, 28, 28)
HIDDEN = 32
BLOCKS = 2
# --preset: (HIDDEN, BLOCKS) of the trainer's presets of the same topology
PRESETS = {"fmnist-small": (32, 2), "fmnist-paper": (64, 8)}
SCALES = 2
CHECKER, CHANNEL, FINAL = 3, 3, 4
NUMEL = DATA[0] * DATA[1] * DATA[2]
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
FMNIST = os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz")
FMNIST_TRAIN = os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz")


def emit(engine, metric, batch, value):
    print(f"{engine} {metric} {batch} {value}", flush=True)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_secs(fn, runs, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def runs_for(batch, runs):
    """More calls at batch 1, where one call takes milliseconds."""
    return runs * 5 if batch == 1 else runs


def build(torch):
    """The model classes (defined here so the `ort` mode never imports torch)."""
    nn = torch.nn
    F = torch.nn.functional

    class WNConv2d(nn.Module):
        """`conv(x, g * v / |v|) + bias`, |v| per output channel; 3x3, same padding."""

        def __init__(self, cin, cout, zero_init):
            super().__init__()
            self.weight_v = nn.Parameter(torch.randn(cout, cin, 3, 3) * (cin * 9) ** -0.5)
            self.weight_g = nn.Parameter(torch.full((cout,), 0.0 if zero_init else 1.0))
            self.bias = nn.Parameter(torch.zeros(cout))

        def forward(self, x):
            norm = self.weight_v.flatten(1).norm(dim=1)
            w = self.weight_v * (self.weight_g / norm).view(-1, 1, 1, 1)
            return F.conv2d(x, w, self.bias, padding=1)

    def batch_norm(width):
        return nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM)

    class ResBlock(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.norm1 = batch_norm(width)
            self.conv1 = WNConv2d(width, width, False)
            self.norm2 = batch_norm(width)
            self.conv2 = WNConv2d(width, width, False)

        def forward(self, x):
            h = self.conv1(F.relu(self.norm1(x)))
            h = self.conv2(F.relu(self.norm2(h)))
            return x + h

    class ResNet(nn.Module):
        """[N, C, H, W] -> [N, 2C, H, W]."""

        def __init__(self, c, width):
            super().__init__()
            self.in_conv = WNConv2d(c, width, False)
            self.blocks = nn.ModuleList(ResBlock(width) for _ in range(BLOCKS))
            self.out_norm = batch_norm(width)
            self.out_conv = WNConv2d(width, 2 * c, True)

        def forward(self, x):
            h = self.in_conv(x)
            for b in self.blocks:
                h = b(h)
            return self.out_conv(F.relu(self.out_norm(h)))

    def factor_out_parity(i, n):
        """Parity of channel coupling i of n before a factor-out (flow.rs): the last one keeps the
        second half (the one that goes on) and transforms the first (the one that leaves)."""
        return (n - i) % 2

    def mask(kind, parity, c, h, w):
        if kind == "checker":
            ij = torch.arange(h).view(h, 1) + torch.arange(w).view(1, w)
            return ((ij % 2) == parity).float().view(1, 1, h, w)
        first = torch.arange(c) < c // 2
        return (first == (parity == 0)).float().view(1, c, 1, 1)

    class Coupling(nn.Module):
        """`y = b*x + (1-b)*(x*exp(s) + t)` with `(s_hat, t) = net(b*x)`, `s = scale*tanh(s_hat)`."""

        def __init__(self, kind, parity, c, h, w, width):
            super().__init__()
            keep = mask(kind, parity, c, h, w)
            self.register_buffer("keep", keep)
            self.register_buffer("change", 1.0 - keep)
            self.s_scale = nn.Parameter(torch.ones(c))
            self.net = ResNet(c, width)
            self.c = c

        def scale_and_shift(self, x):
            st = self.net(x * self.keep)
            c = self.c
            s = torch.tanh(st[:, :c]) * self.s_scale.view(1, c, 1, 1) * self.change
            t = st[:, c:] * self.change
            return s, t

        def forward(self, x):
            s, t = self.scale_and_shift(x)
            return x * torch.exp(s) + t, s.flatten(1).sum(1)

        def inverse(self, y):
            s, t = self.scale_and_shift(y)
            return (y - t) * torch.exp(-s)

    class FlowBatchNorm(nn.Module):
        """`(x - mean)/sqrt(var + eps) * exp(log_gamma) + beta`; log-det `HW * sum(log_gamma - log(var+eps)/2)`."""

        def __init__(self, c, spatial):
            super().__init__()
            self.log_gamma = nn.Parameter(torch.zeros(c))
            self.beta = nn.Parameter(torch.zeros(c))
            self.register_buffer("running_mean", torch.zeros(c))
            self.register_buffer("running_var", torch.ones(c))
            self.spatial = spatial

        def forward(self, x):
            if self.training:
                mean = x.mean((0, 2, 3))
                var = (x - mean.view(1, -1, 1, 1)).pow(2).mean((0, 2, 3))  # biased, as ours
                with torch.no_grad():
                    self.running_mean.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean)
                    self.running_var.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * var)
            else:
                mean, var = self.running_mean, self.running_var
            var = var + BN_EPS
            y = (x - mean.view(1, -1, 1, 1)) / var.sqrt().view(1, -1, 1, 1)
            y = y * self.log_gamma.exp().view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
            ld = self.spatial * (self.log_gamma - 0.5 * var.log()).sum()
            return y, ld.expand(x.shape[0])

        def inverse(self, y):
            var = self.running_var + BN_EPS
            x = (y - self.beta.view(1, -1, 1, 1)) / self.log_gamma.exp().view(1, -1, 1, 1)
            return x * var.sqrt().view(1, -1, 1, 1) + self.running_mean.view(1, -1, 1, 1)

    class Squeeze(nn.Module):
        """2x2xC -> 1x1x4C, as squeeze.rs (Reshape, Transpose, Reshape)."""

        def __init__(self, c, h, w):
            super().__init__()
            self.c, self.h, self.w = c, h, w

        def forward(self, x):
            c, h, w = self.c, self.h, self.w
            n = x.shape[0]
            y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
            return y.reshape(n, 4 * c, h // 2, w // 2), None

        def inverse(self, y):
            c, h, w = self.c, self.h, self.w
            n = y.shape[0]
            x = y.reshape(n, c, 2, 2, h // 2, w // 2).permute(0, 1, 4, 2, 5, 3)
            return x.reshape(n, c, h, w)

    class MultiScale(nn.Module):
        """A scale's layers, then the first half of the channels factored out and the second half
        passed on to the next scale (multi_scale.rs)."""

        def __init__(self, index, c, h, w):
            super().__init__()
            width = HIDDEN << index
            last = index + 1 == SCALES
            layers = []
            for i in range(FINAL if last else CHECKER):
                layers += [Coupling("checker", i % 2, c, h, w, width), FlowBatchNorm(c, h * w)]
            if not last:
                layers.append(Squeeze(c, h, w))
                c, h, w = 4 * c, h // 2, w // 2
                for i in range(CHANNEL):
                    parity = factor_out_parity(i, CHANNEL)  # 1, 0, 1: layout 2
                    layers += [Coupling("channel", parity, c, h, w, width), FlowBatchNorm(c, h * w)]
            self.layers = nn.ModuleList(layers)
            self.out_dims = (c, h, w)
            self.next = None if last else MultiScale(index + 1, c - c // 2, h, w)

        def forward(self, x):
            ld = torch.zeros(x.shape[0], dtype=x.dtype)
            for layer in self.layers:
                x, l = layer(x)
                if l is not None:
                    ld = ld + l
            if self.next is None:
                return x.flatten(1), ld
            k = self.out_dims[0] // 2
            rest, ld_rest = self.next(x[:, k:])
            return torch.cat([x[:, :k].flatten(1), rest], 1), ld + ld_rest

        def inverse(self, z):
            c, h, w = self.out_dims
            n = z.shape[0]
            if self.next is None:
                x = z.reshape(n, c, h, w)
            else:
                k = c // 2
                length = k * h * w
                out = z[:, :length].reshape(n, k, h, w)
                x = torch.cat([out, self.next.inverse(z[:, length:])], 1)
            for layer in reversed(self.layers):
                x = layer.inverse(x)
            return x

    class RealNVP(nn.Module):
        def __init__(self):
            super().__init__()
            self.flow = MultiScale(0, *DATA)
            self.slope = (1 - 2 * ALPHA) / 256.0

        def forward(self, x):
            """x [N, 1, 28, 28] pixels -> (z [N, 784], log p(x) [N] nats)."""
            p = x * self.slope + ALPHA
            log_p, log_q = torch.log(p), torch.log(1 - p)
            ld0 = -(log_p + log_q).flatten(1).sum(1) + NUMEL * math.log(self.slope)
            z, ld1 = self.flow(log_p - log_q)
            prior = -0.5 * z.pow(2).sum(1) - 0.5 * NUMEL * math.log(2 * math.pi)
            return z, prior + ld0 + ld1

        def inverse(self, z):
            h = self.flow.inverse(z)
            return (torch.sigmoid(h) - ALPHA) / self.slope

        def loss(self, x):
            _, log_prob = self(x)
            bpd = (-log_prob / (NUMEL * math.log(2))).mean()
            l2 = sum(m.s_scale.pow(2).sum() for m in self.modules() if isinstance(m, Coupling))
            return bpd + S_SCALE_L2 * l2

    class Score(nn.Module):
        """The scoring graph: x -> z, log_prob, bits_per_dim (as forward.onnx)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            z, log_prob = self.model(x)
            return z, log_prob, log_prob * (-1.0 / (NUMEL * math.log(2)))

    class Sample(nn.Module):
        """The sampling graph: z -> x (as inverse.onnx)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, z):
            return self.model.inverse(z)

    return RealNVP, Score, Sample


def randomize(torch, model, seed):
    """Weights of a sensible scale everywhere, as realnvp_models::testing::randomize: batch-norm
    statistics away from (0, 1), gains in [0.5, 1.5], small output gains (so f32 inverses stay
    well conditioned)."""
    g = torch.Generator().manual_seed(seed)

    def u(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith(("keep", "change", "num_batches_tracked")):
                continue
            if name.endswith("running_var"):
                u(t, 0.3, 3.0)
            elif name.endswith("running_mean"):
                u(t, -0.5, 0.5)
            elif name.endswith("out_conv.weight_g"):
                u(t, 0.05, 0.2)
            elif name.endswith("log_gamma"):
                u(t, -0.2, 0.2)
            elif name.endswith(("weight_g", "s_scale", "norm1.weight", "norm2.weight", "out_norm.weight")):
                u(t, 0.5, 1.5)
            else:
                u(t, -0.17, 0.17)


def pixels(torch, n, seed):
    return torch.rand(n, *DATA, generator=torch.Generator().manual_seed(seed)) * 256.0


def setup_torch(threads):
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first inter-op parallel work
        pass
    torch.manual_seed(0)
    return torch


def mode_params(args):
    torch = setup_torch(args.threads)
    RealNVP, _, _ = build(torch)
    model = RealNVP()
    emit("torch", "params", "-", sum(p.numel() for p in model.parameters() if p.requires_grad))


def load_images(torch):
    """The first 1,000 Fashion-MNIST test images (as the trainer's embedded slice), or random pixels."""
    try:
        with gzip.open(FMNIST, "rb") as f:
            raw = f.read()
        import numpy as np

        imgs = np.frombuffer(raw, dtype=np.uint8, offset=16)[: 1000 * NUMEL].reshape(1000, *DATA)
        return torch.from_numpy(imgs.astype(np.float32)), "fashion-mnist t10k[:1000]"
    except OSError:
        return torch.floor(pixels(torch, 1000, 0)), "random pixels"


def mode_train(args):
    torch = setup_torch(args.threads)
    RealNVP, _, _ = build(torch)
    model = RealNVP()
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    images, source = load_images(torch)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, data: {source}")
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(images), generator=gen)
    pos = [0]

    def step():
        if pos[0] + args.batch > len(order):
            order.copy_(torch.randperm(len(images), generator=gen))
            pos[0] = 0
        idx = order[pos[0] : pos[0] + args.batch]
        pos[0] += args.batch
        x = images[idx] + torch.rand(args.batch, *DATA, generator=gen)  # dequantize
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x)
        loss.backward()
        opt.step()
        if not math.isfinite(loss.item()):
            sys.exit("torch_ref: training loss is not finite")

    secs = median_secs(step, args.steps, warmup=2)
    emit("torch", "train_step_s", args.batch, f"{secs:.4f}")
    emit("torch", "train_img_s", args.batch, f"{args.batch / secs:.1f}")
    emit("torch", "rss_mib", "train", f"{peak_rss_mib():.0f}")


def mode_eager(args):
    torch = setup_torch(args.threads)
    RealNVP, _, _ = build(torch)
    model = RealNVP()
    randomize(torch, model, 1)
    model.eval()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.no_grad():
        for batch in args.batches:
            x = pixels(torch, batch, 2)
            z = torch.randn(batch, NUMEL, generator=torch.Generator().manual_seed(3)) * 0.7
            runs = runs_for(batch, args.runs)
            score = median_secs(lambda: model(x), runs)
            sample = median_secs(lambda: model.inverse(z), runs)
            emit("torch", "score", batch, f"{batch / score:.1f}")
            emit("torch", "sample", batch, f"{batch / sample:.1f}")
        if args.matmul:
            a = torch.randn(2048, 2048)
            b = torch.randn(2048, 2048)
            secs = median_secs(lambda: a @ b, 9, warmup=2)
            emit("torch", "matmul_gflops", 2048, f"{2 * 2048**3 / secs / 1e9:.1f}")
    emit("torch", "rss_mib", ",".join(map(str, args.batches)), f"{peak_rss_mib():.0f}")


def mode_export(args):
    torch = setup_torch(args.threads)
    RealNVP, Score, Sample = build(torch)
    model = RealNVP()
    randomize(torch, model, 1)
    model.eval()
    os.makedirs(args.dir, exist_ok=True)
    fwd = os.path.join(args.dir, "forward.onnx")
    inv = os.path.join(args.dir, "inverse.onnx")
    x = pixels(torch, 4, 2)
    z = torch.randn(4, NUMEL, generator=torch.Generator().manual_seed(3)) * 0.7
    import warnings

    warnings.filterwarnings("ignore")
    jobs = [
        (Score(model).eval(), x, fwd, ["x"], ["z", "log_prob", "bits_per_dim"]),
        (Sample(model).eval(), z, inv, ["z"], ["x"]),
    ]
    start = time.perf_counter()
    exporter = "dynamo" if args.dynamo else "torchscript"
    for module, inp, path, names_in, names_out in jobs:
        axes = {n: {0: "batch"} for n in names_in + names_out}
        with torch.no_grad():
            torch.onnx.export(
                module,
                (inp,),
                path,
                opset_version=17,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes=axes,
                do_constant_folding=True,
                dynamo=args.dynamo,
            )
    secs = time.perf_counter() - start
    # (The exporter restores each wrapper's training flag on the whole tree afterwards: the
    # wrappers are in eval mode, so the model stays there.)
    assert not model.training
    import onnx

    for path in (fwd, inv):
        onnx.checker.check_model(onnx.load(path))
    # The export must compute what eager computes (checked here with ONNX Runtime).
    import onnxruntime as ort

    with torch.no_grad():
        _, lp = model(x)
        xs = model.inverse(z)
    s = ort.InferenceSession(fwd, providers=["CPUExecutionProvider"])
    lp_ort = s.run(["log_prob"], {"x": x.numpy()})[0]
    s = ort.InferenceSession(inv, providers=["CPUExecutionProvider"])
    xs_ort = s.run(["x"], {"z": z.numpy()})[0]
    err_lp = float(abs(torch.from_numpy(lp_ort) - lp).max() / lp.abs().max())
    err_x = float(abs(torch.from_numpy(xs_ort) - xs).max())
    print(f"# export ({exporter}, opset 17): log_prob max rel err {err_lp:.2e}, sample max abs err {err_x:.2e}")
    if not (err_lp < 1e-3 and err_x < 1e-2):
        sys.exit("torch_ref: the ONNX export does not match eager PyTorch")
    emit("torch", "export_s", "-", f"{secs:.3f}")
    emit("torch", "rss_mib", "export", f"{peak_rss_mib():.0f}")


def read_idx_images(path):
    """An IDX (gzip) file of u8 images, [N, 1, 28, 28] as a numpy array."""
    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = (int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(4))
    if magic != 0x803 or (h, w) != DATA[1:] or len(raw) != 16 + n * NUMEL:
        sys.exit(f"torch_ref: {path} is not an IDX file of {DATA[1]}x{DATA[2]} u8 images")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, *DATA)


def mode_quality(args):
    torch = setup_torch(args.threads)
    torch.manual_seed(args.seed)  # the weights
    RealNVP, _, _ = build(torch)
    model = RealNVP()
    train = torch.from_numpy(read_idx_images(FMNIST_TRAIN).copy())
    test = torch.from_numpy(read_idx_images(FMNIST).copy())
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, fashion-mnist "
        f"{len(train)} train / {len(test)} test, {args.seconds} s, seed {args.seed}",
        file=sys.stderr,
        flush=True,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    buffers = [b for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))]
    gen = torch.Generator().manual_seed(args.seed)
    per_epoch = len(train) // args.batch
    order, index = torch.randperm(len(train), generator=gen), 0
    bits = NUMEL * math.log(2)
    curve = []  # (step, u = 0.5 bits/dim on the first --eval-examples test images), as `trainer fit` logs it

    def evaluate_head():
        model.eval()
        head, total = test[: args.eval_examples or len(test)], 0.0
        with torch.no_grad():
            for i in range(0, len(head), args.eval_batch):
                _, lp = model(head[i : i + args.eval_batch].float() + 0.5)
                total += float((-lp.double() / bits).sum())
        model.train()
        return total / len(head)

    model.train()
    steps = skipped = in_a_row = 0
    eval_s = 0.0  # time spent in evaluate_head, kept off the training clock
    start = time.perf_counter()
    while True:
        if index == per_epoch:
            order, index = torch.randperm(len(train), generator=gen), 0
        idx = order[index * args.batch : (index + 1) * args.batch]
        index += 1
        x = train[idx].float() + torch.rand(args.batch, *DATA, generator=gen)  # dequantize
        saved = [b.clone() for b in buffers]
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x)
        loss.backward()
        norms = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(norms))
        if math.isfinite(loss.item()) and math.isfinite(norm.item()):
            opt.step()
            in_a_row = 0
        else:  # as the trainer: no update, and the running statistics as before the step
            with torch.no_grad():
                for b, v in zip(buffers, saved):
                    b.copy_(v)
            skipped += 1
            in_a_row += 1
            if in_a_row >= 10:
                sys.exit(f"torch_ref: {in_a_row} non-finite steps in a row at step {steps + 1}")
        steps += 1
        if args.eval_every and steps % args.eval_every == 0:
            t = time.perf_counter()
            curve.append((steps, round(evaluate_head(), 5)))
            eval_s += time.perf_counter() - t
            print(f"# step {steps}: test {curve[-1][1]:.4f} bits/dim (u = 0.5)", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - start - eval_s
        if steps % 100 == 0:
            print(f"# step {steps}, {elapsed:.0f} s, loss {loss.item():.4f}", file=sys.stderr, flush=True)
        if elapsed >= args.seconds or steps == args.max_steps:
            break
    train_wall = elapsed

    model.eval()
    eval_gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    sums = {"half": 0.0, "random": 0.0}
    with torch.no_grad():
        for i in range(0, len(test), args.eval_batch):
            p = test[i : i + args.eval_batch].float()
            _, lp = model(p + 0.5)
            sums["half"] += float((-lp.double() / bits).sum())
            _, lp = model(p + torch.rand(p.shape, generator=eval_gen))
            sums["random"] += float((-lp.double() / bits).sum())
    eval_wall = time.perf_counter() - start
    result = {
        "engine": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "seconds": args.seconds,
        "steps": steps,
        "examples_per_s": round(steps * args.batch / train_wall, 2),
        "train_wall_s": round(train_wall, 3),
        "test_bits_per_dim_u_half": round(sums["half"] / len(test), 5),
        "test_bits_per_dim_random_u": round(sums["random"] / len(test), 5),
        "eval_wall_s": round(eval_wall, 3),
        "seed": args.seed,
        "batch": args.batch,
        "lr": args.lr,
        "skipped_steps": skipped,
        "layout": 2,
        "eval_examples": args.eval_examples,
        "curve": curve,
    }
    text = json.dumps(result)
    print(text, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if not all(math.isfinite(result[k]) for k in ("test_bits_per_dim_u_half", "test_bits_per_dim_random_u")):
        sys.exit("torch_ref: test bits/dim is not finite")


def mode_ort(args):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    fwd = ort.InferenceSession(os.path.join(args.dir, "forward.onnx"), opts, providers=["CPUExecutionProvider"])
    inv = ort.InferenceSession(os.path.join(args.dir, "inverse.onnx"), opts, providers=["CPUExecutionProvider"])
    print(f"# onnxruntime {ort.__version__}, {args.threads} intra-op threads")
    rng = np.random.default_rng(0)
    for batch in args.batches:
        x = (rng.random((batch, *DATA), dtype=np.float32) * 256.0).astype(np.float32)
        z = (rng.standard_normal((batch, NUMEL), dtype=np.float32) * 0.7).astype(np.float32)
        runs = runs_for(batch, args.runs)
        score = median_secs(lambda: fwd.run(None, {"x": x}), runs)
        sample = median_secs(lambda: inv.run(None, {"z": z}), runs)
        emit("ort", "score", batch, f"{batch / score:.1f}")
        emit("ort", "sample", batch, f"{batch / sample:.1f}")
    emit("ort", "rss_mib", ",".join(map(str, args.batches)), f"{peak_rss_mib():.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["params", "train", "eager", "export", "ort", "quality"])
    p.add_argument("dir", nargs="?", help="bundle directory (export, ort)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--preset", choices=sorted(PRESETS), default="fmnist-small",
                   help="model size: the trainer preset of this name")
    p.add_argument("--batch", type=int, default=64, help="training batch")
    p.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-ups)")
    p.add_argument("--batches", default="1,64,256", help="inference batches")
    p.add_argument("--runs", type=int, default=5, help="timed calls per inference measurement (x5 at batch 1)")
    p.add_argument("--matmul", action="store_true", help="eager: also time a 2048^3 matmul")
    p.add_argument("--dynamo", action="store_true", help="export: torch.export-based exporter")
    p.add_argument("--seconds", type=float, default=60.0, help="quality: training wall time")
    p.add_argument("--seed", type=int, default=0, help="quality: weights, batch order, noise, eval u")
    p.add_argument("--lr", type=float, default=1e-3, help="quality: Adam's constant learning rate")
    p.add_argument("--eval-batch", type=int, default=50, help="quality: test images per eval call")
    p.add_argument("--max-steps", type=int, default=0, help="quality: stop after this many steps too (0: no limit)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="quality: every this many steps, u = 0.5 bits/dim on the first --eval-examples test images")
    p.add_argument("--eval-examples", type=int, default=2000,
                   help="quality: test images of --eval-every (0: all, as the trainer's 0)")
    p.add_argument("--out", help="quality: also write the JSON object to this file")
    args = p.parse_args()
    global HIDDEN, BLOCKS
    HIDDEN, BLOCKS = PRESETS[args.preset]
    args.batches = [int(b) for b in args.batches.split(",")]
    if args.mode in ("export", "ort") and not args.dir:
        p.error(f"{args.mode} needs a directory")
    modes = {
        "params": mode_params,
        "train": mode_train,
        "eager": mode_eager,
        "export": mode_export,
        "ort": mode_ort,
        "quality": mode_quality,
    }
    modes[args.mode](args)


if __name__ == "__main__":
    main()
