"""Samples drawn without a category (issue 47): the learned prior (``latent_prior.fit_learned_prior``,
a Gaussian mixture fitted to one z ~ q(z|x) per training image, no labels) against the N(0, I) prior
and the two category samplers; Fréchet distances in both judges' features between 10,000 decoded
samples and the 10,000 test images, and the fit's time (notes, steps 40 and 41).

    .venv/bin/python bench/learned_prior.py [--checkpoint assets] [--components 32 16 64]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import load_model  # noqa: E402
from training.category_latents import category_statistics, stored_category_mixtures  # noqa: E402
from training.data import load, to_tensor  # noqa: E402
from training.evaluation import metrics as M  # noqa: E402
from training.evaluation.classifier import INDEPENDENT_JUDGE, load_classifier  # noqa: E402
from training.evaluation.judging import classify  # noqa: E402
from training.inference import decode_batched, encode_all  # noqa: E402
from training.latent_prior import fit_learned_prior  # noqa: E402
from training.sampling import sample_categories, sample_prior  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(ROOT / "assets"))
    p.add_argument("--components", type=int, nargs="+", default=[32])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint).eval()
    data = load(None)
    n = args.samples
    mu, logvar, _ = encode_all(model, data.train_images)
    judges = {"first judge": load_classifier(ROOT / "assets"),
              "independent judge": load_classifier(INDEPENDENT_JUDGE)}
    test = {name: classify(j, to_tensor(data.test_images[:n]))[0] for name, j in judges.items()}

    def fid(z) -> list[float]:
        images = decode_batched(model, z.astype(np.float32))
        return [M.frechet_distance_of(classify(j, images)[0], test[name]) for name, j in judges.items()]

    means, covs = category_statistics(mu, logvar, data.train_labels)[:2]
    counts = np.bincount(data.test_labels[:n], minlength=len(means))
    mixtures = stored_category_mixtures(args.checkpoint, model)
    rows = [("the prior N(0, I)", fid(sample_prior(n, mu.shape[1], 0))),
            ("each category's Gaussian, noise 0.5", fid(sample_categories(means, covs, counts, 0.5, 0)[0]))]
    if mixtures is not None:
        rows.append(("the categories' clusters, noise 0.5",
                     fid(sample_categories(means, None, counts, 0.5, 0, mixtures)[0])))
    for k in args.components:
        t0 = time.perf_counter()
        prior = fit_learned_prior(mu, logvar, k)
        took = time.perf_counter() - t0
        rows.append((f"the learned prior, {prior.components} components (fit {took:.0f} s)",
                     fid(prior.sample(n, 1.0, 0)[0])))
    print(f"{args.checkpoint}: {n} samples against {n} test images, FID in each judge's features")
    print(f"  {'samples of':58s} {'first':>7s} {'indep.':>7s}")
    for name, values in rows:
        print(f"  {name:58s} " + " ".join(f"{v:7.2f}" for v in values))


if __name__ == "__main__":
    main()
