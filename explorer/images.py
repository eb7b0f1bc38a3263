"""Decoding latents to pictures, and pictures to bytes. No Streamlit here either."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from training.figures import image_grid


@torch.inference_mode()
def decode(model, z: np.ndarray) -> np.ndarray:
    """Latent(s) k or N×k → images N×28×28 float32 in [0, 1]."""
    z = np.atleast_2d(np.asarray(z, np.float32))
    return model.decode(torch.from_numpy(z)).squeeze(1).numpy()


def pixels(image: np.ndarray) -> np.ndarray:
    """One 28×28 image in [0, 1] → uint8 28×28. The app sends images at their own size and the browser
    enlarges them with square pixels (the page's ``image-rendering: pixelated``): a PNG of 784 pixels
    instead of one enlarged 64 times, which the server had to build and encode at every rerun."""
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
    padded = [np.concatenate([r, np.zeros((ncol - len(r), 28, 28), np.float32)]) for r in rows]
    return grid_png(np.concatenate(padded), ncol=ncol, scale=scale)


def labelled_npz(images: np.ndarray, label: int, z: np.ndarray) -> bytes:
    """Generated images in [0, 1] as a download: uint8 ``images``, their ``labels`` and latent codes ``z``."""
    buf = io.BytesIO()
    np.savez_compressed(buf, images=(images * 255).round().astype(np.uint8),
                        labels=np.full(len(images), label, np.uint8), z=np.asarray(z, np.float32))
    return buf.getvalue()
