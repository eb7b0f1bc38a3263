"""Sample sheets: originals, reconstructions, prior samples, category means and samples around them.

``python -m training figure --checkpoint DIR --out FILE.png`` draws one for any model directory;
the README's grid is made this way.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from . import data as fmnist
from .embed import category_statistics, encode_all


def image_grid(images: np.ndarray, ncol: int, scale: int = 3, pad: int = 2) -> Image.Image:
    """N×28×28 floats in [0, 1] → one image, nearest-neighbour upscaled (no blur)."""
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    n, h, w = images.shape
    nrow = -(-n // ncol)
    sheet = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), 0.35, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        sheet[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    pil = Image.fromarray((sheet * 255).round().astype(np.uint8), "L")
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def labelled_rows(rows: list[tuple[str, np.ndarray]], ncol: int, scale: int = 3, label_width: int = 170) -> Image.Image:
    grids = [image_grid(imgs, ncol, scale) for _, imgs in rows]
    width = label_width + max(g.width for g in grids)
    sheet = Image.new("L", (width, sum(g.height for g in grids)), 255)
    draw, y = ImageDraw.Draw(sheet), 0
    for (label, _), g in zip(rows, grids):
        sheet.paste(g, (label_width, y))
        draw.text((8, y + g.height // 2 - 6), label, fill=0)
        y += g.height
    return sheet


@torch.no_grad()
def sample_sheet(model, data: fmnist.FashionMNIST, seed: int = 0, noise: float = 0.5) -> Image.Image:
    """Row by row: one test image per category, its reconstruction from μ, two rows of prior
    samples, the decoded category means (paper fig. 5), and samples around them (fig. 6)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(data.test_labels == c)) for c in range(10)]
    x = fmnist.to_tensor(data.test_images[picks])
    recon = model.decode(model.encode(x)[0])
    k = model.config.latent_dim
    prior = model.decode(torch.randn(20, k, generator=g))
    mu, logvar, _ = encode_all(model, data.train_images)
    mean, cov, _, _ = category_statistics(mu, logvar, data.train_labels)
    means = torch.from_numpy(mean)
    chol = torch.linalg.cholesky(torch.from_numpy(cov).double() + 1e-6 * torch.eye(k, dtype=torch.float64)).float()
    eps = torch.randn(10, k, 1, generator=g)
    around = model.decode(means + noise * (chol @ eps).squeeze(-1))
    sq = lambda t: t.squeeze(1).numpy()
    return labelled_rows([
        ("test images", sq(x)), ("reconstructions", sq(recon)),
        ("prior samples z ~ N(0, I)", sq(prior[:10])), ("prior samples", sq(prior[10:])),
        ("category means", sq(model.decode(means))),
        (f"around means, noise {noise}", sq(around)),
    ], ncol=10)
