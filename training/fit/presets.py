"""Named training configurations (``train --config``). Explicit flags override any of these values.

- ``paper``: section 3.3 as the paper describes it — squared error + KL, i.e. a Gaussian
  likelihood with σ² = ½ and a correct per-image ELBO — with the published optimiser settings.
- ``seed-code``: what the published code actually optimised (summed squared error + 10 × the KL
  averaged over batch and latent dims), for side-by-side comparison. Not a proper ELBO.
- ``default``: the shipped model's recipe, each setting chosen by measurement (docs/model.md,
  "How the default was chosen"): σ = 0.05, kernels that let the encoder see and the decoder paint
  all 28×28 pixels, a residual encoder head of two 512-wide ReLU layers, Adam at 5e-4 with
  cosine decay.
"""
from ..model import VAEConfig

PRESETS = {
    "paper": dict(likelihood="gaussian", beta=1.0, lr=1e-4, batch_size=256, epochs=50,
                  schedule="constant", latent_dim=128),
    "seed-code": dict(likelihood="seed-code", beta=1.0, lr=1e-4, batch_size=256, epochs=50,
                      schedule="constant", latent_dim=128),
    "default": dict(likelihood="gaussian", sigma=0.05, beta=1.0, lr=5e-4, batch_size=128, epochs=50,
                    schedule="cosine", latent_dim=128, encoder_kernels=(4, 3, 4, 2),
                    decoder_kernels=(2, 3, 4, 6), encoder_head=(512, 512)),
}
# The architecture a run records; anything a preset or the command line does not set is the paper's.
ARCHITECTURE_FLAGS = ("decoder_channels", "encoder_kernels", "decoder_kernels", "encoder_head")
# What a run on a folder of your own images records too (training/folder.py); a Fashion-MNIST run
# leaves them out, and so records what runs did before folders existed.
FOLDER_ARCHITECTURE = ("encoder_channels", "image_size", "channels")
# The architecture family scaled to the other sizes a folder's images may have: stride-2 layers whose
# kernels let the encoder see and the decoder paint every pixel, as the default's do at 28 (one more
# layer each at 64, half as wide at the image end). The encoder head and the latent stay the preset's.
SCALED = {
    32: dict(encoder_channels=(64, 128, 256, 512), encoder_kernels=(6, 4, 4, 2),
             decoder_channels=(256, 128, 64), decoder_kernels=(2, 4, 4, 6)),
    64: dict(encoder_channels=(32, 64, 128, 256, 512), encoder_kernels=(6, 4, 4, 4, 2),
             decoder_channels=(256, 128, 64, 32), decoder_kernels=(2, 4, 4, 4, 6)),
}
# A folder trained without --epochs gets at least this many optimiser steps: the preset's 50 epochs are
# 600 steps on 1,540 digits, and the same run for 5,070 steps more than halved the test reconstruction
# error (reports/notes.md, step 39). A folder of Fashion-MNIST's size already has more.
FOLDER_MIN_STEPS = 5000
COMMON_DEFAULTS = dict(seed=0, sigma=None, limit=None, eval_limit=None, precision="auto",
                       **{name: getattr(VAEConfig, name) for name in ARCHITECTURE_FLAGS})
