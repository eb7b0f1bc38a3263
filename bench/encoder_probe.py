"""Where does the linear probe lose accuracy: in the encoder, or in the step to the latent?

Runs `evaluate`'s linear probe (logistic regression on standardised features, C = 1, 60k training
images → 10k test images) on the encoder's features h, the layer before μ = W·h + b, and on μ.
μ is a linear projection of h, so its linear probe cannot beat h's; the difference is what the
128-d latent leaves out (reports/notes.md, "Where the linear-probe gap is").

    .venv/bin/python bench/encoder_probe.py MODEL_DIR [MODEL_DIR …] [--threads N]

``--held-out`` asks instead whether the encoder's fit to its training images costs the probe: the
probe on μ (and on raw pixels, as the baseline) fitted on the first 50k training images, scored on
the last 10k training images (which the VAE trained on) and on the 10k test images. If the drop
from the one to the other is no larger for μ than for pixels, the test images are simply harder
and regularising the encoder will not raise the probe.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import data as fmnist  # noqa: E402
from training import load_model
from training.evaluation.metrics import linear_probe  # noqa: E402


@torch.no_grad()
def features(model, images: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The layer before the latent (the conv features h, and beside them the encoder head's output g
    where the model has one) and the latent mean μ, for uint8 images."""
    hs, mus = [], []
    for i in range(0, len(images), batch_size):
        x = fmnist.to_tensor(images[i:i + batch_size])
        h = model.encoder(x)
        if model.config.encoder_head:  # μ = W·h + V·g: the layer before μ is [h, g]
            h = torch.cat([h, model.encoder_head(h)], 1)
        hs.append(h)
        mus.append(model.encode(x)[0])
    return torch.cat(hs).numpy(), torch.cat(mus).numpy()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--held-out", action="store_true",
                   help="probe fitted on 50k training images, scored on the other 10k and on the test set")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    d = fmnist.load(allow_download=False)
    if a.held_out:
        return held_out(a.models, d)
    print(f"{'model':32s} {'h dims':>6s} {'probe on h':>10s} {'probe on μ':>10s}")
    for m in a.models:
        model = load_model(m).eval()
        h_train, mu_train = features(model, d.train_images)
        h_test, mu_test = features(model, d.test_images)
        on_h = linear_probe(h_train, d.train_labels, h_test, d.test_labels)
        on_mu = linear_probe(mu_train, d.train_labels, mu_test, d.test_labels)
        print(f"{m:32s} {h_train.shape[1]:6d} {on_h:10.4f} {on_mu:10.4f}", flush=True)


def held_out(models: list[str], d, fit: int = 50_000):
    def row(name, train_x, test_x):
        train_y = d.train_labels
        held = linear_probe(train_x[:fit], train_y[:fit], train_x[fit:], train_y[fit:])
        test = linear_probe(train_x[:fit], train_y[:fit], test_x, d.test_labels)
        print(f"{name:32s} {held:18.4f} {test:10.4f} {held - test:+8.4f}", flush=True)

    print(f"{'features':32s} {'held-out training':>18s} {'test':>10s} {'drop':>8s}")
    row("raw pixels", d.train_images.reshape(len(d.train_images), -1) / np.float32(255),
        d.test_images.reshape(len(d.test_images), -1) / np.float32(255))
    for m in models:
        model = load_model(m).eval()
        row(f"μ of {m}", features(model, d.train_images)[1], features(model, d.test_images)[1])


if __name__ == "__main__":
    main()
