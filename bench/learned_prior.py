"""Samples drawn without a category (issue 47): a Gaussian mixture fitted to the aggregate posterior
(one z ~ q(z|x) per training image, no labels) against the N(0, I) prior and each category's
Gaussian; Fréchet distances in a judge's features between 10,000 decoded samples and the 10,000 test
images (notes, step 40).

    .venv/bin/python bench/learned_prior.py [--checkpoint assets] [--judge assets] [--components 32]
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
from training.category_latents import category_statistics  # noqa: E402
from training.data import load, to_tensor  # noqa: E402
from training.evaluation import metrics as M  # noqa: E402
from training.evaluation.classifier import load_classifier  # noqa: E402
from training.evaluation.judging import classify  # noqa: E402
from training.inference import decode_batched, encode_all  # noqa: E402
from training.sampling import sample_categories, sample_mixture, sample_prior  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(ROOT / "assets"))
    p.add_argument("--judge", default=str(ROOT / "assets"), help="classifier directory whose features count")
    p.add_argument("--components", type=int, default=32)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    from sklearn.mixture import GaussianMixture
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint).eval()
    data = load(None)
    n = args.samples
    mu, logvar, _ = encode_all(model, data.train_images)
    z_posterior = mu + np.exp(0.5 * logvar) * np.random.default_rng(0).standard_normal(mu.shape)
    judge = load_classifier(args.judge)
    test_features = classify(judge, to_tensor(data.test_images[:n]))[0]

    def fid(z) -> float:
        return M.frechet_distance_of(classify(judge, decode_batched(model, z.astype(np.float32)))[0],
                                     test_features)

    means, covs = category_statistics(mu, logvar, data.train_labels)[:2]
    counts = np.bincount(data.test_labels[:n], minlength=len(means))
    rows = [("the prior N(0, I)", fid(sample_prior(n, mu.shape[1], 0)))]
    for noise in (0.5, 1.0):
        rows.append((f"each category's Gaussian, noise {noise}",
                     fid(sample_categories(means, covs, counts, noise, 0)[0])))
    t0 = time.perf_counter()
    mixture = GaussianMixture(args.components, covariance_type="full", reg_covar=1e-4, max_iter=200,
                              random_state=0).fit(z_posterior)
    fitted = time.perf_counter() - t0
    for noise in (1.0, 0.5):
        z = sample_mixture(mixture.weights_, mixture.means_, mixture.covariances_, n, noise, 1)[0]
        name = f"the aggregate-posterior mixture ({args.components} components), noise {noise}"
        rows.append((name, fid(z)))
    print(f"{args.checkpoint}, judged by {args.judge}: {n} samples against {n} test images "
          f"(the mixture fitted in {fitted:.0f} s)")
    for name, value in rows:
        print(f"  {name:62s} FID {value:7.2f}")


if __name__ == "__main__":
    main()
