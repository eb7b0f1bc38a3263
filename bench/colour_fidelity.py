"""How much of its test images' colour a colour model keeps (notes, step 39): for each test image,
the mean colour of its lit pixels (any channel above 0.3) in the original and in the reconstruction
from μ; their mean absolute difference, and each one's chroma (strongest minus weakest channel,
averaged over images). Also how far μ moves when an image's channels are rotated (RGB → BRG), beside
the distance to the nearest other test image: an encoder blind to hue barely moves.

    .venv/bin/python bench/colour_fidelity.py --checkpoint RUN [--images 400]
"""
import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import load_model  # noqa: E402
from training.data import to_tensor  # noqa: E402
from training.model_data import of_model  # noqa: E402


def mean_lit_colour(images: torch.Tensor, lit: torch.Tensor) -> torch.Tensor:
    """N×3: each image's mean colour over its lit pixels (N×3×S×S images, N×S×S mask)."""
    weights = lit[:, None].float()
    return (images * weights).sum((2, 3)) / weights.sum((2, 3)).clamp(min=1)


def chroma(colours: torch.Tensor) -> float:
    return (colours.max(1).values - colours.min(1).values).mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--images", type=int, default=400)
    args = p.parse_args()
    meta = json.loads((Path(args.checkpoint) / "model.json").read_text())
    model = load_model(args.checkpoint)
    if model.config.channels != 3:
        sys.exit(f"{args.checkpoint}: a grey model ({model.config.channels} channel); colour needs 3")
    x = to_tensor(of_model(meta, progress=False).test_images[: args.images])
    with torch.no_grad():
        mu = model.encode(x)[0]
        recon = model.decode(mu)
        rotated = model.encode(x[:, [2, 0, 1]])[0]
    lit = x.max(1).values > 0.3
    original, kept = mean_lit_colour(x, lit), mean_lit_colour(recon, lit)
    others = torch.cdist(mu, mu).fill_diagonal_(float("inf")).min(1).values
    print(f"{args.checkpoint}: {len(x)} test images, reconstruction MSE {((recon - x) ** 2).mean():.4f}")
    print(f"colour of the lit pixels: mean absolute error {(original - kept).abs().mean():.3f}; chroma "
          f"{chroma(original):.3f} in the originals, {chroma(kept):.3f} in the reconstructions "
          f"({chroma(kept) / chroma(original):.0%} kept)")
    print(f"μ moved by rotating the channels: {(mu - rotated).norm(dim=1).median():.2f} (median), "
          f"against {others.median():.2f} to the nearest other test image")


if __name__ == "__main__":
    main()
