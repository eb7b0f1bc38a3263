"""Turn any picture into a Fashion-MNIST-like input: what the app's upload box and
``python -m training encode`` feed the model.

Fashion-MNIST items are light on black, greyscale, trimmed to the object and resized so the longer
side fills all 28 pixels, centred (Xiao et al. 2017, and measured: the median item's longer side
is 28 px). The steps here do the same to a product photo: first frame, alpha over white, greyscale,
a light background made dark, contrast stretched from the background level to the brightest
object pixel, cropped to the object's bounding box, padded to a square, resized to 28×28.

A large photo is prepared from a copy at most ``WORKING_SIDE`` pixels on its longer side (a JPEG is
decoded at that scale): 28×28 pixels and a page's display copy need no more, and a 12-megapixel
phone photo took 420 ms of a shared server's CPU at full size.

Bad files raise ``ImageError`` with one line saying what is wrong; nothing here crashes on input.
"""
from __future__ import annotations

import io
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ProjectError

SIZE = 28
MAX_PIXELS = 25_000_000        # width × height; larger files are refused before decoding (bombs)
MAX_BYTES = 20 * 1024 * 1024   # the app's upload limit (server.maxUploadSize = 20 in .streamlit/config.toml)
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
OBJECT_THRESHOLD = 0.15        # of the stretched contrast: what counts as the object for the bounding box
MIN_CONTRAST = 0.04            # below this, the picture is one colour: nothing to find
WORKING_SIDE = 1024            # the longer side of the copy a photo is prepared from (≥ the 640 px shown)
EXIF_ORIENTATION = 0x0112      # values 5–8 turn the picture by a quarter: width and height swap


class Prepared(NamedTuple):
    """What ``prepare`` makes of a file."""
    picture: np.ndarray       # the photo in [0, 1] (greyscale; colour for a colour model), upright, longer
                              # side ≤ WORKING_SIDE
    size: tuple[int, int]     # the file's own width × height, upright
    model_input: np.ndarray   # 28×28 float32 in [0, 1], light object on black, as the dataset's items; for a
                              # folder model S×S or S×S×3 as its folder's images
    notes: list[str]          # for the user, e.g. that only an animation's first frame is used


class ImageError(ProjectError, ValueError):
    """A file that cannot be turned into a model input; the message is one line."""


def open_image(payload: bytes, name: str = "image",
               draft: str = "L") -> tuple[Image.Image, tuple[int, int], list[str]]:
    """Decode the first frame of an image file, refusing empty, unknown, truncated and huge files; a
    large JPEG is decoded at a half, quarter or eighth of its size, no smaller than WORKING_SIDE.
    Returns the image, the file's own width × height and notes for the user (e.g. that only the first
    frame of an animation is used)."""
    if not payload:
        raise ImageError(f"{name}: the file is empty")
    if len(payload) > MAX_BYTES:
        raise ImageError(f"{name}: {len(payload) / 2**20:.1f} MB, more than the {MAX_BYTES // 2**20} MB "
                         "limit")
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(payload))
            if img.format not in FORMATS:
                raise ImageError(f"{name}: {img.format} images are not supported; expected one of "
                                 f"{', '.join(FORMATS)}")
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{name}: {w}×{h} pixels, more than the {MAX_PIXELS // 10**6} megapixel "
                                 "limit (a decompression bomb, or a photo to scale down first)")
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"{name}: an animated {img.format} with {img.n_frames} frames; the first frame "
                             "is used")
                img.seek(0)
            if img.format == "JPEG":
                img.draft(draft, (WORKING_SIDE, WORKING_SIDE))   # the DCT's own scaling (and only the grey)
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ImageError(f"{name}: refused as a possible decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file PIL can read (expected {', '.join(FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: the image data is broken or truncated "
                         f"({str(e).splitlines()[0][:120]})") from None
    return img, (w, h), notes


def greyscale(img: Image.Image, longest: int = WORKING_SIDE) -> np.ndarray:
    """Any mode → H×W float in [0, 1], upright, shrunk so that its longer side is at most ``longest``;
    transparency is composited over white (a product on a page)."""
    img = ImageOps.exif_transpose(img) if hasattr(img, "getexif") else img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    grey = img.convert("L")
    if max(grey.size) > longest:   # an area average: antialiased, and 4× faster than Lanczos at this size
        scale = longest / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.BOX)
    return np.asarray(grey, np.float32) / 255.0


def to_fashion_mnist(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """H×W greyscale in [0, 1] → 28×28 float32 in [0, 1], light object on black, as in the dataset."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    x = 1.0 - grey if background > 0.5 else grey.copy()   # dark background, light object
    background = min(background, 1 - background)
    peak = float(x.max())
    if peak - background < MIN_CONTRAST:
        raise ImageError(f"{name}: a single colour (contrast {peak - background:.3f}); there is no object to "
                         "find")
    x = np.clip((x - background) / (peak - background), 0.0, 1.0)
    rows, cols = np.flatnonzero((x > OBJECT_THRESHOLD).any(1)), np.flatnonzero((x > OBJECT_THRESHOLD).any(0))
    x = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = x.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = x
    small = Image.fromarray((square * 255).round().astype(np.uint8), "L").resize((SIZE, SIZE), Image.LANCZOS)
    return np.asarray(small, np.float32) / 255.0


def prepare_for_model(payload: bytes, name: str, meta: dict) -> Prepared:
    """File bytes → what the model whose model.json is ``meta`` takes: prepared the Fashion-MNIST way
    for a Fashion-MNIST model (``prepare``), as its folder's images were read for a folder model."""
    dataset = meta.get("dataset") or {}
    if not (meta.get("training") or {}).get("data"):
        return prepare(payload, name)
    return prepare_like_folder(payload, name, dataset.get("image_size", SIZE), dataset.get("channels", 3))


def prepare_like_folder(payload: bytes, name: str, size: int, channels: int) -> Prepared:
    """File bytes → the picture (in colour where the model is), its size and the model input as
    ``train --data`` reads a folder's images: the centre square, resized to ``size``, in ``channels``
    (training.folder.fit_square). No Fashion-MNIST steps: such a model saw its photos as they are."""
    from ..folder import as_channels, fit_square
    img, (w, h), notes = open_image(payload, name, draft="RGB" if channels == 3 else "L")
    try:
        turned = img.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8) if hasattr(img, "getexif") else False
        upright = ImageOps.exif_transpose(img) if hasattr(img, "getexif") else img
        square = as_channels(fit_square(upright, size)[None], channels)[0]
        shown = upright.convert("RGB" if channels == 3 else "L")
        shown.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.BOX)
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: the image data is broken or truncated "
                         f"({str(e).splitlines()[0][:120]})") from None
    if min(w, h) < 0.9 * max(w, h):
        notes.append(f"{name}: {w}×{h}; the model sees its centre square, as it saw its training images")
    return Prepared(np.asarray(shown, np.float32) / 255.0, (h, w) if turned else (w, h),
                    square.astype(np.float32) / 255.0, notes)


def prepare(payload: bytes, name: str = "image") -> Prepared:
    """File bytes → the picture, its size, the 28×28 model input and notes (see ``Prepared``)."""
    img, (w, h), notes = open_image(payload, name)
    try:
        turned = img.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8) if hasattr(img, "getexif") else False
        grey = greyscale(img)
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: the image data is broken or truncated "
                         f"({str(e).splitlines()[0][:120]})") from None
    return Prepared(grey, (h, w) if turned else (w, h), to_fashion_mnist(grey, name), notes)
