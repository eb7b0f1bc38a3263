"""A perceptual distance in a trained classifier's convolutional features (Johnson et al. 2016; Zhang
et al.'s LPIPS), for the decoder's fine-tuning.

The pixel likelihood pays the same for a blurred collar as for a slightly shifted one, so a decoder
trained on it alone paints the average. A classifier's conv blocks respond to the edges and textures
that tell a pullover from a coat; matching them asks the decoder to keep those. Each block's squared
difference is divided by the mean square of the real images' activations there, so the three blocks
weigh alike whatever their scale.

The classifier is frozen and in eval mode (its batch-norm statistics and dropout fixed): it is a
measuring instrument here, not something trained. A model fine-tuned this way must be judged by a
classifier that never shaped it (``evaluate``'s independent judge).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..evaluation.classifier import FashionClassifier


def feature_blocks(classifier: nn.Module) -> list[nn.Sequential]:
    """The classifier's conv stages, split after each max-pooling and ending before it flattens:
    for the shipped judge, three blocks at 14×14×32, 7×7×64 and 3×3×128."""
    if not isinstance(classifier, FashionClassifier):
        raise TypeError(f"a perceptual term needs the conv3 classifier's blocks, not a "
                        f"{type(classifier).__name__}")
    blocks, current = [], []
    for layer in classifier.body:
        if isinstance(layer, nn.Flatten):
            break
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            blocks.append(nn.Sequential(*current))
            current = []
    return blocks


class PerceptualDistance(nn.Module):
    """distance(x̂, x): per image, Σ over blocks of mean((φ_b(x̂) − φ_b(x))²) / mean(φ_b(x)²), with
    φ_b the classifier's activations after block b and the denominator taken over the batch."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.blocks = nn.ModuleList(feature_blocks(classifier))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)   # always measures in eval mode, whatever the caller sets

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        total = fake.new_zeros(len(fake))
        for block in self.blocks:
            fake, real = block(fake), block(real)
            scale = (real.detach() ** 2).mean().clamp_min(1e-6)
            total = total + ((fake - real.detach()) ** 2).mean(dim=(1, 2, 3)) / scale
        return total
