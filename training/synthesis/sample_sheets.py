"""Sample sheets: originals, reconstructions, prior samples, category means and samples around them,
and samples from the categories' clusters where ``embed`` stored them.

``python -m training figure --checkpoint DIR --out FILE.png`` draws one for any model directory;
docs/samples.png is made this way.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .. import data as fmnist
from ..category_latents import category_statistics, stored_category_mixtures
from ..errors import ProjectError
from ..inference import encode_all
from ..model import load_model
from ..sampling import DEFAULT_NOISE, CategoryMixtures, sample_categories


def image_grid(images: np.ndarray, ncol: int, scale: int = 3, pad: int = 2) -> Image.Image:
    """N×28×28 floats in [0, 1] → one image, nearest-neighbour upscaled (no blur)."""
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    n, h, w = images.shape
    nrow = -(-n // ncol)
    sheet = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), 0.35, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        sheet[pad + r * (h + pad): pad + r * (h + pad) + h,
              pad + c * (w + pad): pad + c * (w + pad) + w] = img
    pil = Image.fromarray((sheet * 255).round().astype(np.uint8), "L")
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def labelled_rows(rows: list[tuple[str, np.ndarray]], ncol: int, scale: int = 3,
                  label_width: int = 170) -> Image.Image:
    grids = [image_grid(imgs, ncol, scale) for _, imgs in rows]
    width = label_width + max(g.width for g in grids)
    sheet = Image.new("L", (width, sum(g.height for g in grids)), 255)
    draw, y = ImageDraw.Draw(sheet), 0
    for (label, _), g in zip(rows, grids, strict=True):
        sheet.paste(g, (label_width, y))
        draw.text((8, y + g.height // 2 - 6), label, fill=0)
        y += g.height
    return sheet


@torch.no_grad()
def sample_sheet(model, data: fmnist.FashionMNIST, seed: int = 0, noise: float = DEFAULT_NOISE,
                 interpolate: tuple[int, int] = (0, 9), stats: tuple[np.ndarray, np.ndarray] | None = None,
                 mixtures: CategoryMixtures | None = None) -> Image.Image:
    """Row by row: one test image per category, its reconstruction from μ, two rows of prior
    samples, the decoded category means (paper fig. 5), two rows of samples around them with the
    app's sampler (fig. 6), with ``mixtures`` two rows from the categories' clusters (the app's
    second sampler), and a latent interpolation between test images of two categories.
    ``stats`` = (category means, covariances) saves encoding the training set when known."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(data.test_labels == c)) for c in range(10)]
    x = fmnist.to_tensor(data.test_images[picks])
    mu_picks = model.encode(x)[0]
    recon = model.decode(mu_picks)
    k = model.config.latent_dim
    prior = model.decode(torch.randn(20, k, generator=g))
    if stats is None:
        mu, logvar, _ = encode_all(model, data.train_images)
        stats = category_statistics(mu, logvar, data.train_labels)[:2]
    mean, cov = stats
    def two_per_category(mixtures=None):  # row 1: one of each category, row 2: another of each
        z, _ = sample_categories(mean, cov, [2] * 10, noise, seed, mixtures)
        return model.decode(torch.from_numpy(z.reshape(10, 2, k).transpose(1, 0, 2).reshape(20, k)).float())

    around = two_per_category()
    clusters = two_per_category(mixtures) if mixtures is not None else None
    a, b = mu_picks[interpolate[0]], mu_picks[interpolate[1]]
    t = torch.linspace(0, 1, 10)[:, None]
    path = model.decode((1 - t) * a + t * b)

    def sq(images: torch.Tensor) -> np.ndarray:
        return images.squeeze(1).numpy()

    names = fmnist.CATEGORIES
    return labelled_rows([
        ("test images", sq(x)), ("reconstructions", sq(recon)),
        ("prior samples z ~ N(0, I)", sq(prior[:10])), ("prior samples", sq(prior[10:])),
        ("category means", sq(model.decode(torch.from_numpy(np.asarray(mean, np.float32))))),
        (f"category samples, noise {noise}", sq(around[:10])), ("category samples", sq(around[10:])),
        *([(f"cluster samples, noise {noise}", sq(clusters[:10])), ("cluster samples", sq(clusters[10:]))]
          if clusters is not None else []),
        (f"{names[interpolate[0]]} to {names[interpolate[1]]}"[:26], sq(path)),
    ], ncol=10)


def write_sample_sheet(checkpoint, out, seed: int = 0, data_dir=None) -> None:
    """The sample sheet of a model directory as a PNG file, with its clusters where embed stored them."""
    if not str(out).lower().endswith(".png"):
        raise ProjectError(f"--out {out}: expected a .png file name")
    model = load_model(checkpoint)
    sheet = sample_sheet(model, fmnist.load(data_dir), seed=seed,
                         mixtures=stored_category_mixtures(checkpoint, model))
    sheet.save(out)
