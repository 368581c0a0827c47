#!/usr/bin/env python3
"""Cuts the colour photographs shipped inside the scikit-image wheel into 32x32 RGB PNG patches.

Writes data/colour-patches/ (committed; `make test` and the colour tests read it, so they need no
scikit-image). Run once, in a throwaway venv:

    python3 -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-image
    /tmp/sk/bin/python scripts/colour-patches.py            # [OUT_DIR], default data/colour-patches

Only photographs whose licence allows redistribution are used (see the README it writes). The patches
do not overlap, so the held-out split that `trainer fit --data images:DIR` takes (a fixed hash of the
file order, 10 %) shares no pixels with the training split. Patches that are nearly flat (standard
deviation of every channel below 2 grey levels) are dropped. This is a small stand-in, not CIFAR-10.
"""

import os
import sys

import numpy as np
from PIL import Image
import skimage

SIZE = 32
# (file inside skimage/data, what, licence as skimage's docstrings state it)
SOURCES = [
    ("astronaut.png", "Eileen Collins, NASA Great Images database",
     "no known copyright restrictions, released into the public domain (NASA)"),
    ("chelsea.png", "Chelsea the cat, photograph by Stefan van der Walt", "CC0 by the photographer"),
    ("coffee.png", "a cup of coffee, photograph by Rachel Michetti", "CC0 by the photographer"),
    ("rocket.jpg", "a Falcon 9 launch, SpaceX Photos", "released into the public domain by SpaceX"),
]


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "data/colour-patches"
    os.makedirs(out, exist_ok=True)
    data_dir = os.path.join(os.path.dirname(skimage.__file__), "data")
    rows = []
    for name, what, licence in SOURCES:
        img = np.asarray(Image.open(os.path.join(data_dir, name)).convert("RGB"))
        h, w, _ = img.shape
        stem = os.path.splitext(name)[0]
        kept = 0
        for r in range(h // SIZE):
            for c in range(w // SIZE):
                patch = img[r * SIZE:(r + 1) * SIZE, c * SIZE:(c + 1) * SIZE]
                if patch.reshape(-1, 3).std(axis=0).max() < 2.0:
                    continue
                Image.fromarray(patch).save(
                    os.path.join(out, f"{stem}-r{r:02}-c{c:02}.png"), optimize=True)
                kept += 1
        rows.append((name, f"{w}x{h}", kept, what, licence))
        print(f"{name}: {kept} patches", file=sys.stderr)
    total = sum(r[2] for r in rows)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(
            "# Colour patches (a small stand-in, not CIFAR-10)\n\n"
            f"{total} RGB PNG patches of {SIZE}x{SIZE} pixels, cut without overlap from the colour\n"
            f"photographs shipped inside the scikit-image {skimage.__version__} wheel (`skimage/data/`),\n"
            "written by `scripts/colour-patches.py`; patch `NAME-rRR-cCC.png` is rows `32·RR..32·RR+31`,\n"
            "columns `32·CC..32·CC+31` of `NAME`. Nearly flat patches (every channel's standard\n"
            "deviation below 2 grey levels) are left out.\n\n"
            "| source file | size | patches | photograph | licence (as scikit-image's `skimage.data` docstrings state it) |\n"
            "|---|---|---|---|---|\n")
        for name, size, kept, what, licence in rows:
            f.write(f"| `{name}` | {size} | {kept} | {what} | {licence} |\n")
        f.write(
            "\nThe patches are derived from these public-domain / CC0 photographs and are likewise free of\n"
            "copyright restrictions. scikit-image itself is BSD-3-Clause licensed.\n")


if __name__ == "__main__":
    main()
