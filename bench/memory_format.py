"""Channels-last vs contiguous (NCHW) convolutions on this CPU, for the evaluation's heavy stages.

`evaluate` decodes a million latents for the IWAE bound, judges images with the classifier and
trains CAS/augmentation classifiers; training the VAE in float32 (CPUs without AMX) is
convolution too. This times each workload both ways in one process, alternating the two so
machine noise hits both, and prints the median times, their ratio and the largest difference
between the two outputs (float rounding only).

    .venv/bin/python bench/memory_format.py [--threads 2] [--repeats 5]
"""
import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import load_model  # noqa: E402
from training.evaluation.classifier import FashionClassifier  # noqa: E402
from training.losses import vae_loss  # noqa: E402
from training.model import VAE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def alternate(work, formats, repeats: int) -> dict:
    """Median time and last output of ``work(fmt)`` per format, the formats taking turns."""
    times, outs = {f: [] for f in formats}, {}
    for f in formats:
        outs[f] = work(f)  # warm-up: oneDNN picks and caches its kernels
    for _ in range(repeats):
        for f in formats:
            t = time.perf_counter()
            outs[f] = work(f)
            times[f].append(time.perf_counter() - t)
    return {f: (statistics.median(times[f]), outs[f]) for f in formats}


def classifier_steps(fmt, x, y, steps: int = 5):
    """A few AdamW training steps from a fixed initialisation; returns the final logits."""
    torch.manual_seed(0)
    model = FashionClassifier().to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model.eval()(x)


def vae_steps(fmt, x, steps: int = 5):
    """A few Adam steps of the shipped VAE recipe's loss (σ = 0.1) from a fixed initialisation."""
    torch.manual_seed(0)
    model = VAE().to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, g = x.contiguous(memory_format=fmt), torch.Generator().manual_seed(0)
    for _ in range(steps):
        logits, mu, logvar = model(x, generator=g)
        loss = vae_loss(x, logits, mu, logvar, "gaussian", 1.0, math.log(0.1)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model.eval().encode(x)[0]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    vae = {fmt: load_model(ROOT / "assets").eval().to(memory_format=fmt)
           for fmt in (torch.contiguous_format, torch.channels_last)}
    judge = {fmt: FashionClassifier().eval().to(memory_format=fmt) for fmt in vae}
    judge[torch.channels_last].load_state_dict(judge[torch.contiguous_format].state_dict())
    g = torch.Generator().manual_seed(0)
    z, images = torch.randn(4000, 128, generator=g), torch.rand(4000, 1, 28, 28, generator=g)
    batch, labels = torch.rand(128, 1, 28, 28, generator=g), torch.randint(0, 10, (128,), generator=g)
    workloads = {
        "VAE decode, 4000 latents (IWAE)": lambda fmt: vae[fmt].decode_logits(z),
        "VAE encode, 4000 images": lambda fmt: vae[fmt].encode(images)[0],
        "classifier features, 4000 images": lambda fmt: judge[fmt].features(images),
        "classifier, 5 training steps of 128 (CAS)": lambda fmt: classifier_steps(fmt, batch, labels),
        "VAE, 5 training steps of 128 (float32)": lambda fmt: vae_steps(fmt, batch),
    }
    print(f"{a.threads} threads, median of {a.repeats}; ratio = contiguous / channels-last time")
    for name, work in workloads.items():
        with torch.inference_mode(mode="training" not in name):
            results = alternate(work, list(vae), a.repeats)
        (t_c, out_c), (t_cl, out_cl) = results[torch.contiguous_format], results[torch.channels_last]
        diff = (out_c.float() - out_cl.float()).abs().max().item()
        print(f"{name:44s} contiguous {t_c * 1e3:7.0f} ms  channels-last {t_cl * 1e3:7.0f} ms  "
              f"ratio {t_c / t_cl:4.2f}  max |Δ| {diff:.1e}")


if __name__ == "__main__":
    main()
