"""Training throughput of the paper architecture on this machine, in one process.

Compares the project's loop (whole dataset in memory, index-slice batches, optional bfloat16
autocast on AMX) with a seed-style loop (per-item Dataset converting PIL images to tensors, a
DataLoader with batch 256), same architecture and loss. Also prints the achieved GFLOP/s of a
training step against the float32 (and bfloat16) matrix-multiply peak measured here. Then the
``--config default`` architecture at the sizes a folder of your own images may have (28 grey, 32 and
64 RGB: ``fit/presets.py``'s ``SCALED``), float32 and with the precision ``auto`` picks.

    .venv/bin/python bench/train_throughput.py [--steps 40] [--batch-size 256] [--sizes 28:1,32:3,64:3]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import data as fmnist  # noqa: E402
from training.fit.presets import PRESETS, SCALED  # noqa: E402
from training.fit.train import fixed_log_sigma, train_step  # noqa: E402
from training.model import VAE, VAEConfig  # noqa: E402
from training.precision import use_bfloat16  # noqa: E402

ARGS = dict(likelihood="gaussian", beta=1.0, sigma=None)  # the paper's loss


def matmul_peak(dtype, n=2048, reps=10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def flops_per_image(batch_size: int, model: VAE | None = None) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    model = model or VAE()
    opt = torch.optim.Adam(model.parameters())
    side, channels = model.config.image_size, model.config.channels
    x = torch.rand(batch_size, channels, side, side)
    with FlopCounterMode(display=False) as counter:
        train_step(model, opt, x, ARGS, fixed_log_sigma(ARGS), bf16=False)
    return counter.get_total_flops() / batch_size


def default_at(size: int, channels: int) -> VAEConfig:
    """``--config default``'s architecture at ``size`` pixels and ``channels``, as train --data builds it."""
    preset = PRESETS["default"]
    arch = dict(encoder_kernels=preset["encoder_kernels"], decoder_kernels=preset["decoder_kernels"])
    arch.update(SCALED.get(size, {}))
    return VAEConfig(latent_dim=preset["latent_dim"], encoder_head=preset["encoder_head"], image_size=size,
                     channels=channels, **arch)


def project_loop(x_train, steps, bs, bf16, config: VAEConfig | None = None) -> float:
    torch.manual_seed(0)
    model = VAE(config)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as training.train
    log_sigma = fixed_log_sigma(ARGS)
    perm = torch.randperm(len(x_train))
    def step(i):
        train_step(model, opt, x_train[perm[i * bs:(i + 1) * bs]], ARGS, log_sigma, bf16)
    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(steps):
        step(i % (len(x_train) // bs))
    return steps * bs / (time.perf_counter() - t)


class SeedStyleDataset(torch.utils.data.Dataset):
    """What the published code does: one item at a time, uint8 → PIL → float tensor."""
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)  # ToTensor()
        return x, int(self.labels[i])


def seed_style_loop(images, labels, steps, bs) -> float:
    torch.manual_seed(0)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    log_sigma = fixed_log_sigma(ARGS)
    loader = torch.utils.data.DataLoader(SeedStyleDataset(images, labels), batch_size=bs, shuffle=True)
    it = iter(loader)
    def step():
        nonlocal it
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        train_step(model, opt, x, ARGS, log_sigma, bf16=False)
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * bs / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--sizes", default="28:1,32:3,64:3",
                   help="SIZE:CHANNELS, comma-separated, for the default architecture (default: %(default)s)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = fmnist.load(allow_download=False)
    x_train = fmnist.to_tensor(data.train_images)
    bs = a.batch_size

    fp32_peak, bf16_peak = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    flops = flops_per_image(bs)
    seed = seed_style_loop(data.train_images, data.train_labels, a.steps, bs)
    ours32 = project_loop(x_train, a.steps, bs, bf16=False)
    ours16 = project_loop(x_train, a.steps, bs, bf16=True)
    print(f"threads {a.threads}, batch {bs}, {a.steps} timed steps per loop")
    print(f"matmul peak (2048², measured now): float32 {fp32_peak:.0f} GFLOP/s, bfloat16 {bf16_peak:.0f} "
          "GFLOP/s")
    print(f"training step: {flops / 1e6:.1f} MFLOP per image (forward + backward)")
    print(f"{'loop':38s} {'images/s':>9s} {'vs seed':>8s} {'GFLOP/s':>8s} {'% f32 peak':>10s}")
    for name, ips in [("seed-style Dataset + DataLoader, fp32", seed),
                      ("project loop, float32", ours32),
                      ("project loop, bfloat16 autocast (default)", ours16)]:
        gf = ips * flops / 1e9
        print(f"{name:38s} {ips:9.0f} {ips / seed:7.2f}× {gf:8.0f} {100 * gf / fp32_peak:9.0f}%")
    print(f"60k-image epoch with the default loop: {60000 / ours16:.0f} s")
    auto = use_bfloat16("auto", torch.device("cpu"))
    print(f"\n--config default at a folder's sizes (random pixels; precision auto = "
          f"{'bfloat16' if auto else 'float32'} here)")
    print(f"{'size':12s} {'MFLOP/image':>11s} {'float32 images/s':>17s} {'auto images/s':>14s} "
          f"{'60k-image epoch':>16s}")
    for size, channels in (tuple(map(int, item.split(":"))) for item in a.sizes.split(",")):
        config = default_at(size, channels)
        x = torch.rand(max(bs * 4, 1024), channels, size, size)
        f32 = project_loop(x, a.steps, bs, False, config)
        best = project_loop(x, a.steps, bs, True, config) if auto else f32
        print(f"{size}×{size}×{channels:<6d} {flops_per_image(bs, VAE(config)) / 1e6:11.1f} {f32:17.0f} "
              f"{best:14.0f} {60000 / best:14.0f} s")


if __name__ == "__main__":
    main()
