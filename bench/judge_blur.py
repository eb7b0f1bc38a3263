"""How much of the judge's verdict on generated images is sharpness?

Scores the evaluation's classifier (the judge of `category_agreement`) on the real test images,
on the same images blurred by a Gaussian of σ = 0.5 … 1.2 pixels, and on a model's
reconstructions from μ, overall and for the categories that blur confuses. If a blur that costs
as much PSNR as the reconstructions costs as much accuracy, the judge's misreadings of decoded
images are the blur's (reports/notes.md, "The decoder fine-tuned against a discriminator").

    .venv/bin/python bench/judge_blur.py [MODEL_DIR] [--threads N]
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import data as fmnist  # noqa: E402
from training.evaluation.classifier import classifier_dir_for, load_classifier, predict  # noqa: E402
from training.inference import (
    decode_batched,  # noqa: E402
    encode_all,  # noqa: E402
)
from training.model import load_model  # noqa: E402

SHOWN = ("Pullover", "Dress", "Coat", "Shirt")


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int = 3) -> torch.Tensor:
    """Separable Gaussian blur of N×1×H×W images, edges replicated."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="assets")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = fmnist.load(allow_download=False)
    x, y = fmnist.to_tensor(data.test_images), np.asarray(data.test_labels)
    judge = load_classifier(classifier_dir_for(a.model))
    model = load_model(a.model)
    rows = [("real test images", x),
            (f"reconstructions ({a.model})", decode_batched(model, encode_all(model, x, errors=False).mu))]
    rows += [(f"blurred, σ = {s} px", gaussian_blur(x, s)) for s in (0.5, 0.7, 0.9, 1.2)]
    cats = [fmnist.CATEGORIES.index(c) for c in SHOWN]
    print(f"| images | PSNR of the mean MSE (dB) | judge accuracy | {' | '.join(SHOWN)} |")
    print("|---|---:|---:|" + "---:|" * len(SHOWN))
    for name, images in rows:
        pred = predict(judge, images)[1].argmax(1)
        mse = (images - x).pow(2).mean().item()
        psnr = "∞" if mse == 0 else f"{10 * math.log10(1 / mse):.1f}"
        per = " | ".join(f"{(pred[y == c] == c).mean():.2f}" for c in cats)
        print(f"| {name} | {psnr} | {(pred == y).mean():.3f} | {per} |", flush=True)


if __name__ == "__main__":
    main()
