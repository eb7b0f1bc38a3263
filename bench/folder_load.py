"""Reading a folder of your own images (training/folder.py): the first scan, which decodes every image,
and a later load from the cache, each in its own process with its peak memory.

The folder is written from Fashion-MNIST's 60,000 training images as 64×64 RGB JPEGs in ten category
folders (each image enlarged and tinted by its category, so the set is colour), unless --folder names
one that exists.

    .venv/bin/python bench/folder_load.py [--folder /tmp/fmnist-folder] [--images 60000] [--size 64]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINTS = [(230, 90, 60), (60, 160, 230), (240, 200, 60), (90, 200, 120), (180, 90, 220),
         (250, 150, 40), (60, 200, 200), (220, 60, 140), (150, 120, 90), (120, 130, 240)]

# One load in a fresh interpreter: its time, whether it came from the cache, its peak memory.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
t = time.perf_counter()
from training import folder
s = folder.load({folder!r}, {size}, cache={cache!r}, progress=True)
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "from_cache": s.from_cache, "shape": list(s.images.shape),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def write_folder(target: Path, n: int, size: int) -> float:
    import numpy as np
    from PIL import Image

    from training import data as fmnist
    d = fmnist.load()
    t = time.perf_counter()
    for name in fmnist.CATEGORIES:
        (target / name.replace("/", "-")).mkdir(parents=True, exist_ok=True)
    tints = np.array(TINTS, np.float32) / 255
    for i, (image, label) in enumerate(zip(d.train_images[:n], d.train_labels[:n], strict=True)):
        grey = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR), np.float32)
        rgb = (grey[..., None] * tints[label]).astype(np.uint8)
        Image.fromarray(rgb).save(target / fmnist.CATEGORIES[label].replace("/", "-") / f"{i:05d}.jpg",
                                  quality=90)
    return time.perf_counter() - t


def load_once(folder: Path, size: int, cache: Path) -> dict:
    code = CHILD.format(root=str(ROOT), folder=str(folder), size=size, cache=str(cache))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folder", help="a folder to read (default: one written from Fashion-MNIST in a "
                                    "temporary directory)")
    p.add_argument("--images", type=int, default=60000, help="images to write (default: %(default)s)")
    p.add_argument("--size", type=int, default=64, help="side of the written and kept images (default: "
                                                       "%(default)s)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.folder) if a.folder else Path(tmp) / "folder"
        if not folder.is_dir():
            seconds = write_folder(folder, a.images, a.size)
            files = sum(1 for _ in folder.rglob("*.jpg"))
            mb = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 1e6
            print(f"wrote {files:,} {a.size}×{a.size} RGB JPEGs ({mb:.0f} MB) in {seconds:.0f} s")
        cache = Path(tmp) / "cache"
        first = load_once(folder, a.size, cache)
        print(f"first scan (decode every image): {first['seconds']:.1f} s, peak memory "
              f"{first['peak_mb']:.0f} MB, images {first['shape']}")
        again = [load_once(folder, a.size, cache) for _ in range(3)]
        assert all(r["from_cache"] for r in again)
        times = sorted(r["seconds"] for r in again)
        print(f"from the cache (3 loads): {times[0]:.2f} / {times[1]:.2f} / {times[2]:.2f} s, peak memory "
              f"{max(r['peak_mb'] for r in again):.0f} MB")


if __name__ == "__main__":
    main()
