"""Fashion-MNIST from the four standard IDX files, checked byte for byte.

Where the files are looked for, in order:
  1. an explicit directory (``--data-dir``) or the ``FASHION_MNIST_DIR`` environment variable;
  2. the Debian package location (``apt-get install dataset-fashion-mnist``);
  3. a user cache directory, filled once by downloading from the official location.

Checksums are of the *decompressed* IDX payload: Debian recompresses the gzip files, so the
compressed bytes differ between sources while the data inside is the same release.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ProjectError

CATEGORIES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
ENV_DIR = "FASHION_MNIST_DIR"
ENV_URL = "FASHION_MNIST_URL"  # lets tests point the download at a local server


@dataclass(frozen=True)
class IdxFile:
    name: str
    magic: int            # 2051 for images, 2049 for labels
    shape: tuple          # (count, ...) expected after the header
    sha256: str           # of the decompressed IDX bytes


FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte.gz", 2051, (60000, 28, 28),
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": IdxFile("train-labels-idx1-ubyte.gz", 2049, (60000,),
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": IdxFile("t10k-images-idx3-ubyte.gz", 2051, (10000, 28, 28),
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz", 2049, (10000,),
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


class DataError(ProjectError):
    """A data file is missing, corrupt or could not be fetched; the message is one line."""


@dataclass
class FashionMNIST:
    train_images: np.ndarray   # uint8, 60000×28×28
    train_labels: np.ndarray   # int64, 60000
    test_images: np.ndarray    # uint8, 10000×28×28
    test_labels: np.ndarray    # int64, 10000
    directory: Path
    sha256: dict               # file name -> SHA-256 of its decompressed payload

    @property
    def checksum(self) -> str:
        """One digest for the whole dataset, recorded in every model's config."""
        return hashlib.sha256("".join(self.sha256[f.name] for f in FILES.values()).encode()).hexdigest()


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fashion-mnist-vae" / "fashion-mnist"


def decode_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode any unsigned-byte IDX payload (magic 0x0801 + number of dimensions), checking that
    the header and the length agree."""
    if len(raw) < 8:
        raise DataError(f"{source}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim < 1:
        raise DataError(f"{source}: wrong magic number {struct.unpack('>I', raw[:4])[0]}, "
                        "expected an unsigned-byte IDX file (2049 labels, 2051 images)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: too short for an IDX header ({len(raw)} bytes)")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected_len = header + int(np.prod(dims))
    if len(raw) != expected_len:
        raise DataError(f"{source}: {len(raw)} bytes after decompression, expected {expected_len}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def parse_idx(raw: bytes, spec: IdxFile, source: str) -> np.ndarray:
    """Decode one decompressed IDX payload of the release, checking header, size and checksum."""
    if len(raw) < 8:
        raise DataError(f"{source}: too short for an IDX header ({len(raw)} bytes)")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != spec.magic:
        raise DataError(f"{source}: wrong magic number {magic}, expected {spec.magic}")
    array = decode_idx(raw, source)
    if array.shape != spec.shape:
        raise DataError(f"{source}: shape {array.shape}, expected {spec.shape}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"{source}: checksum mismatch (sha256 {digest[:12]}…, expected {spec.sha256[:12]}…)")
    return array


def encode_idx(array: np.ndarray) -> bytes:
    """uint8 array → IDX bytes (2049 for 1-D labels, 2051 for N×28×28 images)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.tobytes()


def gzip_bytes(raw: bytes) -> bytes:
    """gzip with mtime 0 and no file name: the same input always gives the same bytes."""
    import io
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(raw)
    return buf.getvalue()


def read_idx_file(path: str | os.PathLike) -> np.ndarray:
    """Any gzipped (or plain) unsigned-byte IDX file, e.g. one written by ``generate --format idx``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e})") from None
    return decode_idx(raw, str(path))


def read_idx_gz(path: Path, spec: IdxFile, source: str | None = None) -> np.ndarray:
    """Read and check one file; ``source`` names it in errors (default: its path)."""
    source = source or str(path)
    if not path.is_file():
        raise DataError(f"{source}: file not found")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{source}: not a valid gzip file ({e})") from None
    return parse_idx(raw, spec, source)


def has_all_files(directory: Path) -> bool:
    return all((directory / f.name).is_file() for f in FILES.values())


def download(directory: Path, base_url: str | None = None, timeout: float = 30.0) -> None:
    """Fetch the missing files into ``directory``, each checked before it is moved into place."""
    base_url = base_url or os.environ.get(ENV_URL) or OFFICIAL_URL
    directory.mkdir(parents=True, exist_ok=True)
    for spec in FILES.values():
        target = directory / spec.name
        if target.is_file():
            continue
        url = base_url.rstrip("/") + "/" + spec.name
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=spec.name, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as response:
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                except (urllib.error.URLError, OSError, ValueError) as e:
                    reason = getattr(e, "reason", e)
                    raise DataError(f"{url}: download failed ({reason}); install the data with "
                                    f"'apt-get install dataset-fashion-mnist' or pass --data-dir") from None
            read_idx_gz(Path(tmp), spec, source=url)  # refuse anything that is not the real file
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def locate(data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> Path:
    """The directory the dataset is read from, following the documented search order."""
    explicit = data_dir or os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)  # an explicit choice is never silently replaced by another source
    if has_all_files(DEBIAN_DIR):
        return DEBIAN_DIR
    cache = user_cache_dir()
    if not has_all_files(cache) and allow_download:
        download(cache)
    return cache


def load(data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> FashionMNIST:
    directory = locate(data_dir, allow_download)
    arrays, digests = {}, {}
    for key, spec in FILES.items():
        arrays[key] = read_idx_gz(directory / spec.name, spec)
        digests[spec.name] = spec.sha256
    for split in ("train", "test"):
        labels = arrays[f"{split}_labels"]
        if labels.max() >= len(CATEGORIES):
            raise DataError(f"{directory}: {split} labels contain {labels.max()}, expected 0–9")
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    return FashionMNIST(directory=directory, sha256=digests, **arrays)


def try_load_test_images(data_dir=None) -> tuple[np.ndarray, np.ndarray] | None:
    """The test split when it is installed locally (no download); None otherwise. For the app."""
    try:
        directory = locate(data_dir, allow_download=False)
        images = read_idx_gz(directory / FILES["test_images"].name, FILES["test_images"])
        labels = read_idx_gz(directory / FILES["test_labels"].name, FILES["test_labels"])
    except DataError:
        return None
    return images, labels.astype(np.int64)


def to_tensor(images: np.ndarray):
    """uint8 N×S×S (grey: Fashion-MNIST's N×28×28) or N×S×S×3 (colour) → float32 N×C×S×S in [0, 1],
    the model's input convention."""
    import torch
    x = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True))   # a copy: the array may be read-only
    return channels_first(x).float().div_(255.0).contiguous()


def channels_first(x):
    """A batch of images N×S×S (grey) or N×S×S×3 (channels last, as files and numpy keep them) as
    the N×C×S×S the networks take."""
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)


def random_hflip(x, generator=None):
    """Mirror each image of an (N, 1, H, W) tensor left-right with probability ½ (a fair draw per
    image from ``generator``): the classifier's augmentation."""
    import torch
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
