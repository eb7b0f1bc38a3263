"""``python -m training generate``: synthetic images with their intended labels, as .npz or IDX
(``synthesis/generate.py``)."""
from __future__ import annotations

import argparse

from ..errors import ProjectError
from ..model import read_config
from ..model_data import category_names
from ..sampling import DEFAULT_NOISE, DEFAULT_SAMPLER, SAMPLERS, UNCONDITIONAL
from ..synthesis.generate import generate
from . import arguments as A


def category_name_to_index(name: str, categories: tuple[str, ...]) -> int:
    """A category by its name, any case, or by an unambiguous start of it (``sneak``, ``t-shirt``)."""
    names = {c.lower(): i for i, c in enumerate(categories)}
    key = name.strip().lower()
    if key in names:
        return names[key]
    matches = [i for n, i in names.items() if n.startswith(key) or key in n.split("/")]
    if len(matches) == 1:
        return matches[0]
    raise ProjectError(f"--category {name!r}: expected one of {', '.join(categories)}")



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--category", help="one category, e.g. Sneaker or 'Ankle boot'")
    which.add_argument("--all", action="store_true", help="every category")
    p.add_argument("--n", type=A.positive_int, required=True,
                   help="images per category (without --category or --all: images, unlabelled)")
    p.add_argument("--noise", type=A.non_negative_float, default=None,
                   help=f"noise scale (default: the app's {DEFAULT_NOISE}; 1.0 for --sampler prior and "
                        "learned)")
    p.add_argument("--sampler", choices=SAMPLERS,
                   help="mixture: the category's clusters, a fitted mixture of Gaussians (samples keep to "
                        "its styles); covariance: its fitted Gaussian around its mean, the paper's sampler; "
                        "isotropic: N(0, I) around the mean; prior: N(0, I), labelled by the classifier; "
                        "learned: the learned prior, a mixture fitted to every training image's latent, "
                        "labelled by the classifier (both draw unlabelled without --category or --all; "
                        f"default: {DEFAULT_SAMPLER}, or learned without a category)")
    p.add_argument("--cluster", type=A.positive_int, metavar="R",
                   help="with --sampler mixture: only each category's R-th heaviest cluster (1 = the "
                        "heaviest), one style, numbered as in the app")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="a .npz file, or with --format idx a directory or DIR/PREFIX")
    p.add_argument("--format", choices=("npz", "idx"), default="npz")
    p.add_argument("--min-confidence", type=A.probability, metavar="P",
                   help="keep only samples the classifier assigns to the intended category with probability "
                        "≥ P")
    p.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    p.add_argument("--concept", metavar="FILE", help="a concept file (made in the app's Concepts view, e.g. "
                   "assets/concepts/long-sleeves.json): push every sample along its direction")
    p.add_argument("--strength", type=A.strength, default=1.0,
                   help="with --concept: how far, in units of the distance between the concept's two groups "
                        "(negative: away from it; default: %(default)s)")
    A.add_device(p)
    A.add_data_dir(p)


def run(ns: argparse.Namespace) -> None:
    names = category_names(read_config(ns.checkpoint))   # the model's: Fashion-MNIST's or its folder's
    wants_categories = ns.all or ns.category is not None
    if wants_categories and not names:
        raise ProjectError(f"{ns.checkpoint}: trained on images without categories; leave out --category and "
                           "--all and draw with --sampler learned")
    sampler = ns.sampler or (DEFAULT_SAMPLER if wants_categories else "learned")
    categories = (None if not wants_categories else list(range(len(names))) if ns.all
                  else [category_name_to_index(ns.category, names)])
    noise = ns.noise if ns.noise is not None else (1.0 if sampler in UNCONDITIONAL else DEFAULT_NOISE)
    summary = generate(ns.checkpoint, ns.out, categories, ns.n, noise, sampler, ns.seed, ns.format,
                       ns.min_confidence, ns.classifier, ns.data_dir, ns.cluster, ns.device, ns.concept,
                       ns.strength)
    if "min_confidence" in summary:
        kept = ", ".join(f"{c} {n}" for c, n in summary["kept_per_category"].items())
        print(f"kept {summary['kept']} of {summary['drawn']} samples with classifier confidence ≥ "
              f"{summary['min_confidence']} ({kept})")
    print("wrote " + " and ".join(summary["files"]) + f" ({summary['kept']} images)")
