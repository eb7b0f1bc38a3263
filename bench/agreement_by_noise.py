"""Where in a category's Gaussian do samples stop being recognised?

For each category: the judge's probability of that category for the decoded category *mean*, and
`category_agreement` of samples drawn as the evaluation draws them (the category's fitted Gaussian
from the training μ, test-set proportions, seed 0) at noise scales from 0 (the mean itself) up to
1. `evaluate` writes the same figures (`category_agreement_by_noise`, without the 0.1 row); the
app's default (0.5) is the row it reports as `category_agreement`. A category whose decoded mean
is already a borderline image cannot be fixed by sharper drawing alone (reports/notes.md, "Eight
variants of the fine-tuning, and where the shirt gap is").

`--mixture K …` also scores samples from each category's K-component Gaussian mixture
(`embed.category_mixtures`, the app's "category clusters" sampler, which `evaluate` measures at
K = 8) at the default noise: is a category's spread one blob, or several that a single Gaussian's
centre falls between?

    .venv/bin/python bench/agreement_by_noise.py [MODEL_DIR] [--noise 0 0.1 …] [--mixture 3 8] [--threads N]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import data as fmnist  # noqa: E402
from training.category_latents import category_mixtures, category_statistics  # noqa: E402
from training.evaluation.classifier import classifier_dir_for, load_classifier, predict  # noqa: E402
from training.evaluation.judging import AGREEMENT_NOISE_SCALES, agreement_by_noise  # noqa: E402
from training.evaluation.metrics import agreement  # noqa: E402
from training.inference import (
    decode_batched,  # noqa: E402
    encode_all,  # noqa: E402
)
from training.model import load_model  # noqa: E402
from training.sampling import DEFAULT_NOISE, sample_categories  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="assets")
    ap.add_argument("--noise", type=float, nargs="+", default=sorted({0.1, *AGREEMENT_NOISE_SCALES}))
    ap.add_argument("--mixture", type=int, nargs="*", default=[], metavar="K",
                    help="also score per-category K-component mixtures at the default noise")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = fmnist.load(allow_download=False)
    judge = load_classifier(classifier_dir_for(a.model))
    model = load_model(a.model)
    mu, logvar, _ = encode_all(model, data.train_images, errors=False)
    mean, cov, _, _ = category_statistics(mu, logvar, np.asarray(data.train_labels))
    counts = np.bincount(np.asarray(data.test_labels), minlength=len(mean))
    names = [c.split("/")[0] for c in fmnist.CATEGORIES]

    m = agreement_by_noise(model, judge, mean, cov, counts, seed=0, scales=a.noise)
    by_noise, p_mean = m["category_agreement_by_noise"], m["category_mean_judge_prob"]
    print(f"| | overall | {' | '.join(names)} |")
    print("|---|---:|" + "---:|" * len(names))
    print("| judge's probability of the category, decoded mean | | "
          + " | ".join(f"{p_mean[c]:.2f}" for c in fmnist.CATEGORIES) + " |")
    for i, noise in enumerate(by_noise["noise"]):
        default = " (default)" if noise == DEFAULT_NOISE else ""
        per = " | ".join(f"{by_noise['per_category'][c][i]:.2f}" for c in fmnist.CATEGORIES)
        print(f"| agreement at noise {noise:g}{default} | {by_noise['overall'][i]:.3f} | {per} |")
    for k in a.mixture:
        mixtures = category_mixtures(mu, logvar, np.asarray(data.train_labels), k)
        z, y = sample_categories(mean, None, counts, DEFAULT_NOISE, 0, mixtures)
        overall, per = agreement(predict(judge, decode_batched(model, z))[1].argmax(1), y, len(mean))
        print(f"| {k}-component mixture per category, noise {DEFAULT_NOISE:g} | {overall:.3f} | "
              + " | ".join(f"{x:.2f}" for x in per) + " |", flush=True)


if __name__ == "__main__":
    main()
