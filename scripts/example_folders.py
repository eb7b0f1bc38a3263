"""Two folders of images to try `python -m training data/train --data` on, from what the installed packages
ship (no network):

- ``digits``: scikit-learn's handwritten digits, 1,797 grey 8×8 images in ten folders ``0`` … ``9``
  (UCI's optical recognition set; the loader enlarges them to 28×28);
- ``shapes``: colour shapes drawn with a seed, 64×64 RGB PNGs in six folders (disc, square, triangle,
  ring, cross, bar), each shape in a random colour, size, place and angle on a dark ground.

    .venv/bin/python scripts/example_folders.py --out examples/   [--shapes-per-category 500]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "square", "triangle", "ring", "cross", "bar")


def write_digits(out: Path) -> int:
    from sklearn.datasets import load_digits
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return len(digits.images)


def draw_shape(kind: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One shape in a random colour, size, place and angle on a dark, slightly noisy ground."""
    ground = rng.integers(0, 40, 3)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in ground))
    d = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in rng.integers(80, 256, 3))
    r = rng.uniform(0.18, 0.34) * size
    cx, cy = rng.uniform(r + 2, size - r - 2, 2)
    angle = rng.uniform(0, 2 * math.pi)

    def turned(points):
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]

    if kind == "disc":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=max(2, int(r / 3)))
    elif kind == "square":
        d.polygon(turned([(-r, -r), (r, -r), (r, r), (-r, r)]), fill=colour)
    elif kind == "triangle":
        d.polygon(turned([(r * math.cos(a), r * math.sin(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)]),
                  fill=colour)
    elif kind == "cross":
        w = r / 3
        d.polygon(turned([(-r, -w), (r, -w), (r, w), (-r, w)]), fill=colour)
        d.polygon(turned([(-w, -r), (w, -r), (w, r), (-w, r)]), fill=colour)
    elif kind == "bar":
        d.polygon(turned([(-r, -r / 4), (r, -r / 4), (r, r / 4), (-r, r / 4)]), fill=colour)
    pixels = np.asarray(image, np.int16) + rng.integers(-6, 7, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_shapes(out: Path, per_category: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_category):
            draw_shape(kind, rng).save(out / kind / f"{i:04d}.png")
    return per_category * len(SHAPES)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory to write digits/ and shapes/ into")
    p.add_argument("--shapes-per-category", type=int, default=500)
    a = p.parse_args()
    out = Path(a.out)
    for name in ("digits", "shapes"):
        if (out / name).exists():
            print(f"{out / name}: exists; remove it to write it again", file=sys.stderr)
            return 1
    print(f"wrote {write_digits(out / 'digits'):,} digits into {out / 'digits'}")
    print(f"wrote {write_shapes(out / 'shapes', a.shapes_per_category):,} shapes into {out / 'shapes'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
