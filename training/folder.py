"""Your own images: a folder in the ImageFolder layout, read once and kept as arrays.

    DIR/<category>/<image>                              labelled; categories sorted by name
    DIR/train/<category>/<image>, DIR/test/<category>/…   labelled, with the folder's own split
    DIR/<image>  (no sub-folder holds an image)         one unlabelled set

Images are PNG, JPEG or WebP of any size and mode, in any depth below their category's folder; names
starting with "." are skipped, as are files of other kinds (counted). Each image is decoded once: turned
to RGB (transparency onto black, the background Fashion-MNIST has), its centre square cropped and
resized to ``size`` (Lanczos), and kept as uint8 in a cache keyed by a checksum of the folder's paths
and bytes, so a later command reads an array instead of decoding again, and a changed folder, a file
added, removed or edited, is noticed. A set whose every image is grey (R = G = B everywhere) is kept as
one channel.

Without train/ and test/ folders the split is drawn per category with a seed: ``TEST_FRACTION`` of each
category (at least one image) is for testing, as Fashion-MNIST keeps 10,000 of its 70,000.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import DataError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
IMAGE_SIZES = (28, 32, 64)   # the sizes the architecture is scaled to (training/model.py)
MAX_CATEGORIES = 32          # the explorer's palette tells this many apart
TEST_FRACTION = 1 / 7
SPLIT_DIRS = ("train", "test")
MAX_PIXELS = 25_000_000      # larger is refused before decoding, as uploads are (synthesis/prepare.py)
CACHE_VERSION = 1            # a new way of reading images: a new cache


class FolderError(DataError):
    """The folder cannot be used as it is; the message is one line naming the file or folder."""


@dataclass(frozen=True)
class Listing:
    """What a folder holds, from its names alone."""
    root: Path
    categories: tuple[str, ...]   # empty for an unlabelled set
    files: tuple[str, ...]        # paths relative to root, "/"-separated, in a fixed order
    labels: np.ndarray            # int64 per file; -1 for an unlabelled set
    given_test: np.ndarray | None  # bool per file from train/ and test/, or None
    ignored: int                  # files that are not images, or images beside category folders


@dataclass
class ImageSet:
    """A folder's images as arrays: uint8, N×S×S (grey) or N×S×S×3, with labels and the split."""
    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    categories: tuple[str, ...]
    files: tuple[str, ...]
    checksum: str
    split: dict                   # {"source": "folders"} or {"source": "seeded", "seed", "test_fraction"}
    sizes: Counter = field(default_factory=Counter)   # (width, height) → images
    modes: Counter = field(default_factory=Counter)   # PIL mode → images
    bad: list = field(default_factory=list)           # (file, why) left out with skip_bad
    ignored: int = 0
    from_cache: bool = False

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else 3

    @property
    def size(self) -> int:
        return self.images.shape[1]


def _images_under(directory: str) -> tuple[list[str], int]:
    """The image files below ``directory`` (any depth, hidden names skipped, each folder in name order)
    and how many other files; plain strings, since a folder may hold hundreds of thousands."""
    images, other = [], 0
    with os.scandir(directory) as found:
        entries = sorted((e for e in found if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            below, skipped = _images_under(entry.path)
            images += below
            other += skipped
        elif entry.name.lower().endswith(SUFFIXES):
            images.append(entry.path)
        else:
            other += 1
    return images, other


def _subfolders(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _labelled(top: Path, categories: list[str]) -> tuple[list[str], list[int], int]:
    files, labels, other = [], [], 0
    for index, name in enumerate(categories):
        found, skipped = _images_under(str(top / name)) if (top / name).is_dir() else ([], 0)
        files += found
        labels += [index] * len(found)
        other += skipped
    return files, labels, other


def list_folder(root: str | os.PathLike) -> Listing:
    """The images of ``root`` and their categories; a one-line FolderError when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder; expected DIR/<category>/<image> (PNG, JPEG or WebP)")
    subs = _subfolders(root)
    names = [p.name for p in subs]
    given_test = None
    if all(s in names for s in SPLIT_DIRS):   # the folder's own split
        per_split = {s: [p.name for p in _subfolders(root / s)] for s in SPLIT_DIRS}
        categories = sorted(set(per_split["train"]) | set(per_split["test"]))
        files, labels, tests, ignored = [], [], [], 0
        for s in SPLIT_DIRS:
            if categories:
                found, found_labels, other = _labelled(root / s, categories)
            else:   # train/ and test/ of images with no categories
                found, other = _images_under(str(root / s))
                found_labels = [-1] * len(found)
            files += found
            labels += found_labels
            tests += [s == "test"] * len(found)
            ignored += other
        given_test = np.array(tests, bool)
    else:
        with_images = [p for p in subs if _images_under(str(p))[0]]
        if with_images:
            categories = [p.name for p in with_images]
            files, labels, ignored = _labelled(root, categories)
            ignored += sum(1 for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            categories = []
            files = sorted(str(p) for p in root.iterdir() if p.is_file()
                           and p.name.lower().endswith(SUFFIXES) and not p.name.startswith("."))
            labels = [-1] * len(files)
            others = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
            ignored = len(others) - len(files)
    if not files:
        raise FolderError(f"{root}: no images (PNG, JPEG or WebP) found; expected DIR/<category>/<image>, "
                          "DIR/train/<category>/<image> and DIR/test/…, or images directly in DIR")
    if len(categories) > MAX_CATEGORIES:
        raise FolderError(f"{root}: {len(categories)} categories; at most {MAX_CATEGORIES} are supported")
    start = len(str(root)) + 1
    names = tuple(f[start:].replace(os.sep, "/") for f in files)
    return Listing(root, tuple(categories), names, np.array(labels, np.int64), given_test, ignored)


def folder_checksum(listing: Listing) -> str:
    """SHA-256 over every image's path and bytes, in the listing's order: any change is a new checksum."""
    digest = hashlib.sha256()
    for name in listing.files:
        data = (listing.root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def fingerprint(listing: Listing) -> str:
    """A digest of every image's path, size and modification time: cheap (no file is read), and the
    key under which the folder's checksum is remembered. An edit that keeps a file's size and time
    (as a tool restoring times might) would go unnoticed, as it would by make or rsync."""
    digest = hashlib.sha256(str(listing.root.resolve()).encode())
    root = str(listing.root)
    for name in listing.files:
        st = os.stat(os.path.join(root, name))
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def seeded_split(labels: np.ndarray, seed: int, fraction: float = TEST_FRACTION) -> np.ndarray:
    """Which images are for testing: per category (or over an unlabelled set), ``fraction`` of them
    rounded, at least one and never all, chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = min(len(members) - 1, max(1, round(len(members) * fraction)))
        is_test[rng.choice(members, n, replace=False)] = True
    return is_test


def read_image(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int], str]:
    """One image as uint8 RGB, size×size: transparency onto black, the centre square, Lanczos. Also its
    original (width, height) and mode. Raises OSError, ValueError or PIL's errors on a bad file."""
    from PIL import Image
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}×{height} pixels, more than {MAX_PIXELS:,}")
            mode = im.mode
            im.load()   # a truncated file fails here, not at open
            return fit_square(im, size), (width, height), mode


def fit_square(im, size: int) -> np.ndarray:
    """A PIL image as a folder model sees it: uint8 RGB size×size, transparency onto black, the centre
    square, Lanczos. ``train --data`` reads every image so, and the app and ``encode`` a photo for such a
    model."""
    from PIL import Image, ImageOps
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(ground, rgba)
    return np.asarray(ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS), np.uint8)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fashion-mnist-vae" / "folders"


def _check_categories(listing: Listing, labels: np.ndarray, given_test: np.ndarray | None) -> None:
    for index, name in enumerate(listing.categories):
        count = int(np.sum(labels == index))
        if count < 2:
            raise FolderError(f"{listing.root / name}: {count} image(s); a category needs at least 2 (one to "
                              "train on, one to test)")
        if given_test is not None and not np.any((labels == index) & ~given_test):
            raise FolderError(f"{listing.root / 'train' / name}: no training images of this category")


def infer_size(sizes: Counter) -> int:
    """The largest supported size no larger than the typical image's shorter side (28 at least)."""
    sides = sorted(min(w, h) for (w, h), n in sizes.items() for _ in range(n))
    typical = sides[len(sides) // 2] if sides else IMAGE_SIZES[0]
    return max([s for s in IMAGE_SIZES if s <= typical], default=IMAGE_SIZES[0])


def load(root: str | os.PathLike, size: int | None = None, *, skip_bad: bool = False, seed: int = 0,
         cache: str | os.PathLike | None = None, progress: bool = True) -> ImageSet:
    """The folder's images at ``size`` (None: ``infer_size``), decoded once and then read from the cache
    while the folder's checksum stays the same."""
    if size is not None and size not in IMAGE_SIZES:
        raise FolderError(f"image size {size}: expected one of {', '.join(map(str, IMAGE_SIZES))}")
    listing = list_folder(root)
    where = Path(cache) if cache is not None else cache_dir()
    known = where / "fingerprints" / f"{fingerprint(listing)[:32]}.txt"
    checksum = known.read_text().strip() if known.is_file() else folder_checksum(listing)
    entry = where / f"{checksum[:32]}-v{CACHE_VERSION}"
    meta_file = entry / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else None
    if meta is not None and meta["bad"] and not skip_bad:
        _refuse_bad(listing.root, meta["bad"])
    chosen = size or (infer_size(Counter({tuple(k): v for k, v in meta["sizes"]})) if meta else None)
    images_file = entry / f"images-{chosen}.npy"
    if meta is not None and chosen is not None and images_file.is_file():
        images = np.load(images_file)
        from_cache = True
    else:
        images, meta = _decode(listing, size, progress)
        chosen = images.shape[1]
        entry.mkdir(parents=True, exist_ok=True)
        _save_npy(entry / f"images-{chosen}.npy", images)
        _save_text(meta_file, json.dumps(meta))
        _forget_older_versions(where, listing.root, entry)
        from_cache = False
        if meta["bad"] and not skip_bad:   # after caching: the next run refuses at once, or skips them
            _refuse_bad(listing.root, meta["bad"])
    if not known.is_file():
        known.parent.mkdir(parents=True, exist_ok=True)
        _save_text(known, checksum)
    keep = np.ones(len(listing.files), bool)
    bad = [tuple(b) for b in meta["bad"]]
    position = {name: i for i, name in enumerate(listing.files)} if bad else {}
    keep[[position[f] for f, _ in bad]] = False
    labels = listing.labels[keep]
    given_test = None if listing.given_test is None else listing.given_test[keep]
    _check_categories(listing, labels, given_test)
    if given_test is not None:
        is_test, split = given_test, {"source": "folders"}
    else:
        is_test = seeded_split(labels, seed)
        split = {"source": "seeded", "seed": seed, "test_fraction": round(TEST_FRACTION, 6)}
    return ImageSet(images, labels, is_test, listing.categories,
                    tuple(f for f, k in zip(listing.files, keep, strict=True) if k), checksum, split,
                    Counter({tuple(k): v for k, v in meta["sizes"]}), Counter(meta["modes"]), bad,
                    listing.ignored, from_cache)


def _forget_older_versions(where: Path, root: Path, entry: Path) -> None:
    """Note ``entry`` as the cache of the folder at ``root``, and remove the entry of its previous version
    unless another folder (a copy elsewhere) still uses it: an edited 60,000-image folder would otherwise
    leave most of a gigabyte behind."""
    record = where / "roots" / f"{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]}.txt"
    previous = record.read_text().strip() if record.is_file() else None
    record.parent.mkdir(parents=True, exist_ok=True)
    _save_text(record, entry.name)
    if previous in (None, entry.name):
        return
    in_use = {r.read_text().strip() for r in record.parent.glob("*.txt")}
    if previous not in in_use:
        import shutil
        shutil.rmtree(where / previous, ignore_errors=True)


def _refuse_bad(root: Path, bad: list) -> None:
    name, why = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise FolderError(f"{root / name}: not a readable image ({why}){more}; --skip-bad leaves such files out "
                      "and counts them")


def _decode(listing: Listing, size: int | None, progress: bool) -> tuple[np.ndarray, dict]:
    """Every image of the listing decoded (the bad ones left out and named), and what was found."""
    from PIL import Image, UnidentifiedImageError
    from tqdm import tqdm
    headers, sizes, modes, bad = {}, Counter(), Counter(), []
    if size is None:   # the size follows the images: read their headers first (cheap)
        for name in listing.files:
            try:
                with Image.open(listing.root / name) as im:
                    headers[name] = im.size
            except (OSError, ValueError, UnidentifiedImageError):
                continue
        size = infer_size(Counter(headers.values()))
    images = np.empty((len(listing.files), size, size, 3), np.uint8)   # filled in place: one copy in memory
    kept, grey = 0, True
    for name in tqdm(listing.files, desc=f"reading {listing.root}", unit="image", disable=not progress,
                     file=sys.stderr, leave=False):
        try:
            rgb, shape, mode = read_image(listing.root / name, size)
        except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombWarning,
                Image.DecompressionBombError) as e:
            bad.append((name, " ".join(str(e).split())[:120] or type(e).__name__))
            continue
        sizes[shape] += 1
        modes[mode] += 1
        grey = grey and bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        images[kept] = rgb
        kept += 1
    images = images[:kept]
    if grey:
        images = np.ascontiguousarray(images[..., 0])
    meta = {"sizes": [[list(k), v] for k, v in sorted(sizes.items())], "modes": dict(modes), "bad": bad}
    return images, meta


def _save(path: Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then renamed over it: a reader sees the
    old file or the whole new one. (training/checkpoint.py does the same, but imports torch.)"""
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_npy(path: Path, array: np.ndarray) -> None:
    _save(path, lambda f: np.save(f, array, allow_pickle=False))   # streamed: most of a gigabyte at 60k


def _save_text(path: Path, text: str) -> None:
    _save(path, lambda f: f.write(text.encode()))


def as_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 images with ``channels`` (1: N×S×S, 3: N×S×S×3): grey ones repeated into RGB, colour ones
    to grey by ITU-R 601 luma (what PIL's "L" conversion computes)."""
    if channels == 3:
        return images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)
    if images.ndim == 3:
        return images
    luma = images[..., 0] * 299 + images[..., 1] * 587 + images[..., 2] * 114   # int arithmetic, as PIL
    return ((luma + 500) // 1000).astype(np.uint8)


def to_tensor(images: np.ndarray):
    """uint8 N×S×S or N×S×S×3 → float32 N×C×S×S in [0, 1], the model's input convention."""
    from .data import to_tensor as tensor
    return tensor(images)
