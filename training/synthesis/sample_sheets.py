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
from ..folder import to_tensor
from ..inference import encode_all
from ..latent_prior import stored_learned_prior
from ..model import load_model
from ..model_data import ModelData, of_model
from ..sampling import DEFAULT_NOISE, CategoryMixtures, LearnedPrior, sample_categories


def image_grid(images: np.ndarray, ncol: int, scale: int = 3, pad: int = 2) -> Image.Image:
    """N×S×S (grey) or N×S×S×3 (colour) floats in [0, 1] → one image, nearest-neighbour upscaled (no
    blur)."""
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    n, h, w = images.shape[:3]
    nrow = -(-n // ncol)
    sheet = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, *images.shape[3:]), 0.35, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        sheet[pad + r * (h + pad): pad + r * (h + pad) + h,
              pad + c * (w + pad): pad + c * (w + pad) + w] = img
    pil = Image.fromarray((sheet * 255).round().astype(np.uint8), "L" if images.ndim == 3 else "RGB")
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def labelled_rows(rows: list[tuple[str, np.ndarray]], ncol: int, scale: int = 3,
                  label_width: int = 170) -> Image.Image:
    grids = [image_grid(imgs, ncol, scale) for _, imgs in rows]
    width = label_width + max(g.width for g in grids)
    mode = "RGB" if any(g.mode == "RGB" for g in grids) else "L"
    sheet = Image.new(mode, (width, sum(g.height for g in grids)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for (label, _), g in zip(rows, grids, strict=True):
        sheet.paste(g, (label_width, y))
        draw.text((8, y + g.height // 2 - 6), label, fill="black")
        y += g.height
    return sheet


@torch.no_grad()
def sample_sheet(model, data: ModelData | fmnist.FashionMNIST, seed: int = 0, noise: float = DEFAULT_NOISE,
                 interpolate: tuple[int, int] | None = None,
                 stats: tuple[np.ndarray, np.ndarray] | None = None,
                 mixtures: CategoryMixtures | None = None,
                 learned_prior: LearnedPrior | None = None) -> Image.Image:
    """Row by row: one test image per category, its reconstruction from μ, two rows of prior
    samples (the second, with ``learned_prior``, from the learned prior: the whole model without a
    category), the decoded category means (paper fig. 5), two rows of samples around them with the
    app's sampler (fig. 6), with ``mixtures`` two rows from the categories' clusters (the app's
    second sampler), and a latent interpolation between test images of two categories.
    ``stats`` = (category means, covariances) saves encoding the training set when known. One column
    per category (of Fashion-MNIST or of the model's folder; ten columns of an unlabelled set)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    names = getattr(data, "categories", fmnist.CATEGORIES)
    columns = len(names) or 10
    picks = ([rng.choice(np.flatnonzero(data.test_labels == c)) for c in range(len(names))] if names
             else list(rng.choice(len(data.test_images), min(10, len(data.test_images)), replace=False)))
    interpolate = interpolate or (0, len(picks) - 1)
    x = to_tensor(data.test_images[picks])
    mu_picks = model.encode(x)[0]
    recon = model.decode(mu_picks)
    k = model.config.latent_dim
    prior = model.decode(torch.randn(2 * columns, k, generator=g))
    if names and stats is None:
        mu, logvar, _ = encode_all(model, data.train_images)
        stats = category_statistics(mu, logvar, data.train_labels, len(names))[:2]
    mean, cov = stats if names else (None, None)
    c = len(names)

    def two_per_category(mixtures=None):  # row 1: one of each category, row 2: another of each
        z, _ = sample_categories(mean, cov, [2] * c, noise, seed, mixtures)
        return model.decode(torch.from_numpy(z.reshape(c, 2, k).transpose(1, 0, 2).reshape(2 * c, k)).float())

    around = two_per_category() if names else None
    clusters = two_per_category(mixtures) if names and mixtures is not None else None
    a, b = mu_picks[interpolate[0]], mu_picks[interpolate[1]]
    t = torch.linspace(0, 1, columns)[:, None]
    path = model.decode((1 - t) * a + t * b)

    def sq(images: torch.Tensor) -> np.ndarray:   # N×S×S grey, N×S×S×3 colour
        return images[:, 0].numpy() if images.shape[1] == 1 else images.permute(0, 2, 3, 1).numpy()

    rows = [("test images", sq(x)), ("reconstructions", sq(recon)),
            ("prior samples z ~ N(0, I)", sq(prior[:columns])),
            ("learned-prior samples", sq(model.decode(torch.from_numpy(
                learned_prior.sample(columns, 1.0, seed)[0]).float()))) if learned_prior is not None
            else ("prior samples", sq(prior[columns:]))]
    if names:
        rows += [("category means", sq(model.decode(torch.from_numpy(np.asarray(mean, np.float32))))),
                 (f"category samples, noise {noise}", sq(around[:c])), ("category samples", sq(around[c:]))]
        if clusters is not None:
            rows += [(f"cluster samples, noise {noise}", sq(clusters[:c])),
                     ("cluster samples", sq(clusters[c:]))]
    ends = (names[interpolate[0]], names[interpolate[1]]) if names else ("one test image", "another")
    return labelled_rows([*rows, (f"{ends[0]} to {ends[1]}"[:26], sq(path))], ncol=columns)


def write_sample_sheet(checkpoint, out, seed: int = 0, data_dir=None) -> None:
    """The sample sheet of a model directory as a PNG file, with its clusters where embed stored them."""
    if not str(out).lower().endswith(".png"):
        raise ProjectError(f"--out {out}: expected a .png file name")
    model = load_model(checkpoint)
    sheet = sample_sheet(model, of_model(model.info, data_dir), seed=seed,
                         mixtures=stored_category_mixtures(checkpoint, model),
                         learned_prior=stored_learned_prior(checkpoint, model))
    sheet.save(out)
