"""``python -m training data DIR``: what a folder of your own images holds, checked and cached
(``training/folder.py``)."""
from __future__ import annotations

import argparse

from ..folder import IMAGE_SIZES, load
from .arguments import non_negative_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="DIR/<category>/<image> (PNG, JPEG, WebP), optionally under "
                                                  "DIR/train and DIR/test; or images directly in DIR")
    p.add_argument("--image-size", type=int, choices=IMAGE_SIZES,
                   help="side of the square the images are kept at (default: from the images' sizes)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave unreadable or truncated images out (counted) instead of stopping")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the split where DIR has no train/ and test/ (a seventh of each category for "
                        "testing; default: %(default)s)")
    p.add_argument("--cache-dir", help="where decoded images are kept (default: ~/.cache/fashion-mnist-vae/"
                                       "folders, or under $XDG_CACHE_HOME)")


def run(ns: argparse.Namespace) -> None:
    import numpy as np
    s = load(ns.folder, ns.image_size, skip_bad=ns.skip_bad, seed=ns.seed, cache=ns.cache_dir)
    labelled = bool(s.categories)
    split = ("its own train/ and test/ folders" if s.split["source"] == "folders" else
             f"seeded (seed {s.split['seed']}, {s.split['test_fraction']:.1%} of each "
             f"{'category' if labelled else 'set'} for testing)")
    print(f"{ns.folder}: {len(s.labels):,} images, "
          + (f"{len(s.categories)} categories" if labelled else "no categories (one unlabelled set)")
          + f"; split: {split}")
    if labelled:
        width = max(len("category"), *(len(c) for c in s.categories))
        print(f"  {'category':{width}s}  {'train':>7s}  {'test':>6s}")
        for i, name in enumerate(s.categories):
            of = s.labels == i
            print(f"  {name:{width}s}  {int(np.sum(of & ~s.is_test)):7,d}  {int(np.sum(of & s.is_test)):6,d}")
    else:
        print(f"  train {int(np.sum(~s.is_test)):,}, test {int(np.sum(s.is_test)):,}")
    sizes = sorted(s.sizes.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{w}×{h} ({n:,})" for (w, h), n in sizes[:3])
    print(f"sizes: {shown}" + (f" and {len(sizes) - 3} more" if len(sizes) > 3 else ""))
    print("modes: " + ", ".join(f"{m} ({n:,})" for m, n in s.modes.most_common()))
    channels = "1 channel (every image is grey)" if s.channels == 1 else "3 channels"
    source = "read from the cache" if s.from_cache else "decoded and cached"
    print(f"kept as: {s.size}×{s.size}, {channels} ({source}); checksum {s.checksum[:16]}…")
    if s.bad:
        print(f"left out: {len(s.bad)} unreadable image(s), e.g. {s.bad[0][0]}: {s.bad[0][1]}")
    if s.ignored:
        print(f"ignored: {s.ignored} file(s) that are not images, or images beside the category folders")
