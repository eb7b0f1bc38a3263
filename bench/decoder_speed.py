"""The decoder's inference paths (``GemmConvTranspose2d.fast_inference``) against oneDNN's transposed
convolutions for every layer, in one process, the two taking turns so machine noise hits both.

`evaluate` decodes a million latents for the IWAE bound; the explorer, `embed` and `generate`
decode too. Prints the median time to decode a batch, per layer and whole, the ratio, and the
largest difference between the outputs (float rounding only).

    .venv/bin/python bench/decoder_speed.py [--threads 2] [--batch 4000] [--repeats 5]
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from memory_format import alternate  # noqa: E402  (bench/ is on sys.path when run as a script)

from training import load_model  # noqa: E402
from training.model import GemmConvTranspose2d  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def compare(fn, repeats: int) -> tuple[float, float, float]:
    """Median seconds of the oneDNN and the fast path, and the largest output difference."""
    def work(fast: bool):
        GemmConvTranspose2d.fast_inference = fast
        return fn()
    try:
        (plain, out_plain), (fast, out_fast) = alternate(work, (False, True), repeats).values()
    finally:
        GemmConvTranspose2d.fast_inference = True
    return plain, fast, float((out_plain - out_fast).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--checkpoint", default=str(ROOT / "assets"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.checkpoint).eval().to(memory_format=torch.channels_last)  # as evaluate uses it
    z = torch.randn(a.batch, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    print(f"{torch.backends.cpu.get_cpu_capability()}, {a.threads} threads, batch {a.batch}, median of "
          f"{a.repeats}")
    print(f"{'layer':34s} {'oneDNN ms':>10s} {'fast ms':>9s} {'ratio':>6s} {'max |Δ|':>9s}")
    with torch.no_grad():
        h = model.decoder_input(z)
        for layer in model.decoder:
            if isinstance(layer, GemmConvTranspose2d):
                x = h.contiguous(memory_format=torch.channels_last)
                plain, fast, diff = compare(lambda layer=layer, x=x: layer(x), a.repeats)
                size, k = x.shape[-1], layer.kernel_size[0]
                shape = f"{layer.in_channels}→{layer.out_channels}, {size}×{size}, k{k}"
                print(f"{shape:34s} {plain * 1e3:10.0f} {fast * 1e3:9.0f} {plain / fast:5.2f}× {diff:9.1e}")
            h = layer(h)
        plain, fast, diff = compare(lambda: model.decode(z), a.repeats)
        print(f"{'whole decoder (with sigmoid)':34s} {plain * 1e3:10.0f} {fast * 1e3:9.0f} "
              f"{plain / fast:5.2f}× {diff:9.1e}")


if __name__ == "__main__":
    main()
