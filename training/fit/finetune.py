"""Decoder fine-tuning against a patch discriminator, with the encoder frozen.

A Gaussian decoder trained on the ELBO paints E[x | z]: where the latent leaves a detail
uncertain (a coat's opening, a shirt's collar) it paints the average, a blur. This stage keeps
the encoder, and so every latent code, map, probe and category statistic, exactly as they were,
and trains only the decoder further on

    loss = −log p(x | z) + λ · (−D(x̂)) + μ · P(x̂, x),   z ~ q(z | x),   x̂ = decoder(z)

where D is a patch discriminator trained to tell real images from decoded ones (hinge loss,
spectral normalisation; Miyato et al. 2018). λ is set each step so that the adversarial term's
gradient at the decoder's last layer is ``adversarial_weight`` times the reconstruction term's
(Esser et al. 2021, "Taming Transformers"), which makes the weight independent of the likelihood's
scale. Fine-tuning only the decoder, so that every latent stays valid, is also how Stable
Diffusion's VAE decoders were improved as drop-in replacements.

P is an optional perceptual distance in a classifier's conv features (``perceptual.py``), weighted the
same adaptive way (``perceptual_weight``, 0 = off). It asks the decoder to keep the edges and textures
a classifier tells categories apart by: on the shipped model it raised the independent judge's
agreement with reconstructions from 0.868 to 0.883 (reports/notes.md, step 43). The classifier it uses
is recorded, so that evaluation can say which judge never saw the model.

Each epoch's shuffling and noise come from a generator seeded by (seed, epoch), and the resume
state holds both networks and both optimisers, so a resumed run ends with the same weights as an
uninterrupted one.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .. import data as fmnist
from .. import device as D
from ..checkpoint import RESUME_FILE, atomic_write_bytes, save_resume_state
from ..evaluation.classifier import load_classifier, load_judge
from ..inference import encode_all
from ..losses import reconstruction_nll
from ..model import VAE, VAEConfig, load_model
from . import TrainingError
from .held_out import test_metrics
from .perceptual import PerceptualDistance
from .resume import METRICS_FILE, epoch_generator, non_finite_error, resumed_run, write_log

LOG_FILE = "finetune.jsonl"  # this stage's log; metrics.jsonl stays the source model's training log

DEFAULTS = {"epochs": 2, "lr": 1e-4, "disc_lr": 2e-4, "batch_size": 128, "adversarial_weight": 2.0,
            "perceptual_weight": 0.0, "perceptual_classifier": None, "seed": 0, "limit": None,
            "eval_limit": None}
MAX_ADAPTIVE_WEIGHT = 1e4  # λ's ceiling, reached only when the adversarial gradient vanishes


class PatchDiscriminator(nn.Module):
    """28×28 image → 7×7 logits, one per overlapping patch (22×22 pixels each): real > 0 > decoded.
    Spectral normalisation keeps each layer 1-Lipschitz, so D cannot win by growing its weights."""

    def __init__(self, widths: tuple = (64, 128, 256)):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        w1, w2, w3 = widths
        self.net = nn.Sequential(
            sn(nn.Conv2d(1, w1, 4, 2, 1)), nn.LeakyReLU(0.2),    # 14×14
            sn(nn.Conv2d(w1, w2, 4, 2, 1)), nn.LeakyReLU(0.2),   # 7×7
            sn(nn.Conv2d(w2, w3, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w3, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[max(0, 1 − D(x))] + E[max(0, 1 + D(x̂))]: zero once real patches score ≥ 1 and decoded ≤ −1."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """−E[D(x̂)]: the decoder is rewarded where D scores its images as real."""
    return -fake_logits.mean()


def adaptive_weight(recon_grad: torch.Tensor, adv_grad: torch.Tensor, factor: float) -> float:
    """λ = factor · ‖∇ recon‖ / ‖∇ adv‖ at one layer, so the adversarial term pulls ``factor`` times
    as hard as the reconstruction term, whatever the likelihood's units (nats per image here)."""
    ratio = recon_grad.norm() / (adv_grad.norm() + 1e-4)
    return float(factor * ratio.clamp(0.0, MAX_ADAPTIVE_WEIGHT))


def decoder_parameters(model: VAE) -> list[nn.Parameter]:
    """Everything that maps z to an image; the encoder's parameters are left out (and frozen)."""
    return [*model.from_latent.parameters(), *model.decoder.parameters()]


def finetune_step(model: VAE, disc: PatchDiscriminator, opt_g, opt_d, xb, mu, logvar, likelihood: str,
                  log_sigma, factor: float, generator: torch.Generator,
                  perceptual: PerceptualDistance | None = None,
                  perceptual_factor: float = 0.0) -> dict | None:
    """One discriminator step, then one decoder step, on a batch. Returns the batch's figures, or
    None if a loss is not finite (then the decoder has not been updated by the bad step)."""
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator).to(mu.device)
    logits = model.decode_logits(z)
    fake = torch.sigmoid(logits)
    d_loss = hinge_discriminator_loss(disc(xb), disc(fake.detach()))
    if not torch.isfinite(d_loss):
        return None
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    recon = reconstruction_nll(xb, logits, likelihood, log_sigma)[0].mean()
    disc.requires_grad_(False)  # the decoder's step must not leave gradients in D
    adv = generator_loss(disc(fake))  # judged by the D that has just been updated
    last = model.decoder[-1].weight
    recon_grad, = torch.autograd.grad(recon, last, retain_graph=True)
    adv_grad, = torch.autograd.grad(adv, last, retain_graph=True)
    lam = adaptive_weight(recon_grad, adv_grad, factor)
    loss = recon + lam * adv
    figures = {"d_loss": d_loss.item(), "recon_nll": recon.item(), "adversarial": adv.item(), "lambda": lam}
    if perceptual is not None:
        perc = perceptual(fake, xb).mean()
        perc_grad, = torch.autograd.grad(perc, last, retain_graph=True)
        perc_lam = adaptive_weight(recon_grad, perc_grad, perceptual_factor)
        loss = loss + perc_lam * perc
        figures.update(perceptual=perc.item(), perceptual_lambda=perc_lam)
    if not torch.isfinite(loss):
        disc.requires_grad_(True)
        return None
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    disc.requires_grad_(True)
    opt_g.step()
    return figures


def _info(source_info: dict, args: dict, epoch: int, history: list, commands: list, seconds: float) -> dict:
    """The source model's config (architecture, likelihood, its training run) plus this stage."""
    replaced = ("weights_sha256", "parameters", "created", "metrics")
    kept = {k: v for k, v in source_info.items() if k not in replaced}
    return {**kept, "metrics": history[-1]["test"], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "decoder_finetune": {"args": args, "epochs": epoch, "command": commands[0],
                                 "resumed_with": commands[1:], "seconds": round(seconds, 1),
                                 "source": {"checkpoint": args["checkpoint"],
                                            "weights_sha256": source_info.get("weights_sha256"),
                                            "metrics": source_info.get("metrics"),
                                            **({"decoder_finetune": source_info["decoder_finetune"]}
                                               if source_info.get("decoder_finetune") else {})}}}


def earlier_stages(checkpoint) -> list[dict]:
    """The source model's own fine-tuning log (its finetune.jsonl), each epoch with its stage (1 for a
    log from before stages were recorded); [] for a model whose decoder was never fine-tuned."""
    path = Path(checkpoint) / LOG_FILE
    if not path.is_file():
        return []
    return [{"stage": 1, **json.loads(line)} for line in path.read_text().splitlines() if line.strip()]


def stage_log(earlier: list[dict], history: list[dict]) -> list[dict]:
    """What finetune.jsonl holds: the earlier stages' epochs, then this run's, numbered on from them
    and marked as the next stage, so that the model card's curve shows every stage."""
    offset = earlier[-1]["epoch"] if earlier else 0
    stage = max((e["stage"] for e in earlier), default=0) + 1
    return earlier + [{**h, "epoch": offset + h["epoch"], "stage": stage} for h in history]


def start(out: Path, args: dict, resume: bool, command: str):
    """The run to go on with: its arguments, the model, the source model's config, and (resuming)
    the resume state, the epochs done, the history, the seconds spent and the commands so far."""
    if resume:
        state, args, start_epoch, history, seconds, commands = resumed_run(out, args, command)
        source_info = json.loads(state["source_info_json"])
        model = VAE(VAEConfig.from_dict(source_info["architecture"]))
        model.load_state_dict(state["model"])
        return args, model, source_info, state, start_epoch, history, seconds, commands
    args = {**DEFAULTS, **{k: v for k, v in args.items() if v is not None}}
    if out.resolve() == Path(args["checkpoint"]).resolve():
        raise TrainingError(f"--out {out}: is the source model's directory; expected another directory, "
                            "so the source model is kept")
    if (out / RESUME_FILE).exists():
        raise TrainingError(f"{out}: already holds a run; pass --resume to continue it or choose "
                            "another --out")
    model = load_model(args["checkpoint"])  # a bad source fails here, before anything is written
    if args["perceptual_weight"] > 0:  # so does a missing classifier; the one found is recorded
        judge = load_judge(args["checkpoint"], model.info, args["perceptual_classifier"])
        args["perceptual_classifier"] = str(judge.directory)
        args["perceptual_classifier_sha256"] = judge.info.get("weights_sha256")
    return args, model, model.info, None, 0, [], 0.0, [command]


def perceptual_distance(args: dict, device) -> PerceptualDistance | None:
    """The perceptual term's measure, from the classifier the run recorded (checked to be the same
    weights when a run resumes), or None when the run has no perceptual term."""
    if not args.get("perceptual_weight"):
        return None
    judge = load_classifier(args["perceptual_classifier"])
    if judge.info.get("weights_sha256") != args.get("perceptual_classifier_sha256"):
        raise TrainingError(f"{args['perceptual_classifier']}: the classifier changed since this run began "
                            f"(weights_sha256 {judge.info.get('weights_sha256')}, expected "
                            f"{args.get('perceptual_classifier_sha256')}); start a new run")
    return PerceptualDistance(judge.to(device=device, memory_format=torch.contiguous_format))


def optimisers(model: VAE, args: dict, state: dict | None):
    """The discriminator, seeded, on the model's device, and Adam for the decoder and for it; the
    encoder is frozen."""
    torch.manual_seed(args["seed"])
    disc = PatchDiscriminator().to(D.of(model))
    model.requires_grad_(False)
    params = decoder_parameters(model)
    for p in params:
        p.requires_grad_(True)
    opt_g = torch.optim.Adam(params, lr=args["lr"], betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args["disc_lr"], betas=(0.5, 0.9))
    if state is not None:
        disc.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["optimizer"])
        opt_d.load_state_dict(state["disc_optimizer"])
        torch.set_rng_state(state["torch_rng"])
    return disc, opt_g, opt_d


def finetune_epoch(model, disc, opt_g, opt_d, x_train, mu, logvar, args, epoch, likelihood, log_sigma,
                   progress: bool, on_non_finite, perceptual: PerceptualDistance | None = None) -> dict:
    """One pass over the training images in the epoch's seeded order: the mean of each figure."""
    n, bs = len(x_train), args["batch_size"]
    steps = math.ceil(n / bs)
    g = epoch_generator(args["seed"], epoch)
    perm = torch.randperm(n, generator=g).to(x_train.device)
    model.train()
    disc.train()
    totals = {"d_loss": 0.0, "recon_nll": 0.0, "adversarial": 0.0, "lambda": 0.0}
    if perceptual is not None:
        totals.update(perceptual=0.0, perceptual_lambda=0.0)
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{args['epochs']}", disable=not progress,
               mininterval=0.5 if sys.stderr.isatty() else 15, file=sys.stderr)
    for step in bar:
        idx = perm[step * bs:(step + 1) * bs]
        t = finetune_step(model, disc, opt_g, opt_d, x_train[idx], mu[idx], logvar[idx], likelihood,
                          log_sigma, args["adversarial_weight"], g, perceptual, args["perceptual_weight"])
        if t is None:
            raise on_non_finite(epoch, step)
        for k in totals:
            totals[k] += t[k]
        if step % 20 == 0:
            bar.set_postfix(recon=f"{totals['recon_nll'] / (step + 1):.1f}",
                            d=f"{totals['d_loss'] / (step + 1):.3f}", refresh=False)
    bar.close()
    return {k: v / steps for k, v in totals.items()}


def run(args: dict, out: str | os.PathLike, resume: bool = False, data_dir=None, command: str = "",
        progress: bool = True) -> Path:
    """Fine-tune the decoder of ``args["checkpoint"]`` into ``out`` (or resume the run in ``out``)."""
    out = Path(out)
    args, model, source_info, state, start_epoch, history, seconds, commands = start(out, args, resume,
                                                                                     command)
    likelihood, log_sigma = source_info.get("likelihood", "bernoulli"), source_info.get("log_sigma")
    if likelihood == "gaussian-learned" and log_sigma is None:
        raise TrainingError(f"{args['checkpoint']}: a learned-σ model without a recorded log_sigma; "
                            "cannot fine-tune")
    out.mkdir(parents=True, exist_ok=True)
    source_log = Path(args["checkpoint"]) / METRICS_FILE
    if state is None and source_log.is_file():  # the output is a complete model directory
        atomic_write_bytes(out / METRICS_FILE, source_log.read_bytes())
    args["threads"] = args.get("threads") or torch.get_num_threads()
    torch.set_num_threads(args["threads"])
    device = D.resolve(args.get("device"))
    model.to(device)

    data = fmnist.load(data_dir)
    x_train = fmnist.to_tensor(data.train_images[: args["limit"]]).to(device)
    x_test = fmnist.to_tensor(data.test_images[: args["eval_limit"]]).to(device)
    # q(z|x) of every image, computed once: the encoder does not change in this stage
    posteriors = encode_all(model, x_train, errors=False)
    mu, logvar = (torch.from_numpy(p).to(device) for p in posteriors[:2])
    disc, opt_g, opt_d = optimisers(model, args, state)
    earlier = (json.loads(state.get("earlier_log_json", "[]")) if state is not None
               else earlier_stages(args["checkpoint"]))
    perceptual = perceptual_distance(args, device)
    if start_epoch >= args["epochs"]:
        print(f"{out}: already fine-tuned for {start_epoch} epochs (--epochs {args['epochs']}); "
              "nothing to do")
        return out

    def stopped(epoch, step):
        return non_finite_error(out, history, epoch, step, "fine-tuning",
                                "Try a lower --lr, --adversarial-weight or --perceptual-weight.")

    for epoch in range(start_epoch, args["epochs"]):
        t0 = time.perf_counter()
        train = finetune_epoch(model, disc, opt_g, opt_d, x_train, mu, logvar, args, epoch, likelihood,
                               log_sigma, progress, stopped, perceptual)
        test = test_metrics(model, x_test, likelihood, log_sigma, seed=args["seed"])
        seconds += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "seconds": round(seconds, 1), "train": train, "test": test})
        model.save_pretrained(out, _info(source_info, args, epoch + 1, history, commands, seconds))
        save_resume_state(out, D.to_cpu({
            "model": model.state_dict(), "discriminator": disc.state_dict(), "optimizer": opt_g.state_dict(),
            "disc_optimizer": opt_d.state_dict(), "epoch": epoch + 1, "torch_rng": torch.get_rng_state(),
            "args_json": json.dumps(args), "history_json": json.dumps(history), "seconds": seconds,
            "commands_json": json.dumps(commands), "source_info_json": json.dumps(source_info),
            "earlier_log_json": json.dumps(earlier)}))
        write_log(out / LOG_FILE, stage_log(earlier, history))
        print(f"epoch {epoch + 1}: test recon MSE {test['recon_mse']:.5f}, neg-ELBO {test['neg_elbo']:.2f} "
              f"nats, discriminator loss {train['d_loss']:.3f}, {seconds:.0f} s", flush=True)
    return out
