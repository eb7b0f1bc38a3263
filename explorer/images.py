"""Pictures as the page shows them and as downloads carry them. No Streamlit here either; latents
are decoded by ``training.inference.decode_pixels``."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from training import labelled
from training.checkpoint import npz_bytes
from training.synthesis.sample_sheets import image_grid


def pixels(image: np.ndarray) -> np.ndarray:
    """One image in [0, 1] (S×S grey or S×S×3 colour) → uint8 of the same shape. The app sends images
    at their own size and the browser enlarges them with square pixels (the page's
    ``image-rendering: pixelated``): a PNG of 784 pixels instead of one enlarged 64 times, which the
    server had to build and encode at every rerun."""
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def for_display(grey: np.ndarray, longest: int = 640) -> np.ndarray:
    """A greyscale picture in [0, 1] as uint8, shrunk so that its longer side is at most ``longest``:
    what a page shows of an upload. A 20-megapixel photo kept at full size held 80 MB of floats per
    session and took seconds to re-encode at every rerun of its panel."""
    img = Image.fromarray(pixels(grey))
    img.thumbnail((longest, longest), Image.LANCZOS)   # keeps the aspect ratio; never enlarges
    return np.asarray(img)


def grid_png(images: np.ndarray, ncol: int, scale: int = 3) -> bytes:
    buf = io.BytesIO()
    image_grid(images, ncol=ncol, scale=scale).save(buf, format="PNG")
    return buf.getvalue()


def rows_png(rows: list[np.ndarray], scale: int = 3) -> bytes:
    """Rows of equal length stacked into one PNG (e.g. pixel blend over latent interpolation)."""
    ncol = max(len(r) for r in rows)
    padded = [np.concatenate([r, np.zeros((ncol - len(r), *r.shape[1:]), np.float32)]) for r in rows]
    return grid_png(np.concatenate(padded), ncol=ncol, scale=scale)


def unlabelled_npz(images: np.ndarray, z: np.ndarray) -> bytes:
    """Generated images in [0, 1] drawn without a category, as ``generate`` writes them without
    ``--category``: uint8 ``images`` and latent codes ``z``."""
    return npz_bytes({"images": labelled.to_uint8(images), "z": np.asarray(z, np.float32)})


def labelled_npz(images: np.ndarray, label: int, z: np.ndarray) -> bytes:
    """Generated images in [0, 1] of one category as a download, in ``generate``'s format: uint8
    ``images``, their ``labels`` and latent codes ``z``."""
    return labelled.npz(images, np.full(len(images), label), z)
