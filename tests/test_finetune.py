"""Decoder fine-tuning against a discriminator: the loss pieces against closed forms, and runs on
real data that change only the decoder, checkpoint, resume exactly and refuse bad arguments."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli
from training import load_model
from training.evaluation import catalogue, report
from training.fit import finetune as ft
from training.fit import train as train_mod
from training.fit.presets import COMMON_DEFAULTS, PRESETS

QUICK = ["--limit", "256", "--eval-limit", "128", "--batch-size", "64", "--threads", "1", "--seed", "1",
         "--quiet"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A small model of the default recipe, trained for two epochs on 1,024 real images."""
    args = {"config": "default", **COMMON_DEFAULTS, **PRESETS["default"], "threads": 1,
            "limit": 1024, "eval_limit": 128, "batch_size": 64, "precision": "fp32", "epochs": 2}
    return train_mod.run(args, tmp_path_factory.mktemp("source") / "run", progress=False, command="test")


def test_hinge_loss_closed_forms():
    ones = torch.ones(4, 1, 7, 7)
    assert ft.hinge_discriminator_loss(ones, -ones).item() == 0.0           # both margins met
    assert ft.hinge_discriminator_loss(0 * ones, 0 * ones).item() == 2.0    # undecided: 1 + 1
    assert ft.hinge_discriminator_loss(-ones, ones).item() == 4.0           # wrong way round: 2 + 2
    assert ft.hinge_discriminator_loss(3 * ones, -3 * ones).item() == 0.0   # no reward past the margin
    assert ft.generator_loss(torch.tensor([[1.0, 3.0]])).item() == -2.0


def test_adaptive_weight_balances_the_gradients():
    recon, adv = torch.full((10,), 3.0), torch.full((10,), 0.5)
    lam = ft.adaptive_weight(recon, adv, factor=2.0)
    assert lam == pytest.approx(2.0 * 3.0 * 10 ** 0.5 / (0.5 * 10 ** 0.5 + 1e-4), rel=1e-6)
    # scaled so that λ·‖∇adv‖ = factor·‖∇recon‖
    assert lam * adv.norm().item() == pytest.approx(2.0 * recon.norm().item(), rel=1e-3)
    assert ft.adaptive_weight(recon, torch.zeros(10), 1.0) == ft.MAX_ADAPTIVE_WEIGHT  # capped, not infinite
    assert ft.adaptive_weight(recon, adv, 0.0) == 0.0


def test_perceptual_distance_against_its_closed_form():
    from training.evaluation.classifier import FashionClassifier, ResidualClassifier
    from training.fit.perceptual import PerceptualDistance, feature_blocks
    torch.manual_seed(0)
    judge = FashionClassifier()
    blocks = feature_blocks(judge)
    x = torch.rand(4, 1, 28, 28)
    shapes = []
    h = x
    for b in blocks:
        h = b(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]   # split after each pooling, before flattening
    judge.train()
    dist = PerceptualDistance(judge).train()   # stays in eval mode: batch norm uses its running statistics
    assert not dist.training and all(not m.training for m in dist.modules())
    y = torch.rand(4, 1, 28, 28, requires_grad=True)
    d = dist(y, x)
    expected, fy, fx = torch.zeros(4), y, x
    with torch.no_grad():
        for b in blocks:
            b.eval()
            fy, fx = b(fy), b(fx)
            expected += ((fy - fx) ** 2).mean(dim=(1, 2, 3)) / (fx ** 2).mean()
    assert d.shape == (4,) and torch.allclose(d, expected, rtol=1e-5)
    assert torch.equal(dist(x, x), torch.zeros(4))                   # no distance from itself
    d.sum().backward()
    assert y.grad.abs().sum() > 0                                    # the image gets a gradient …
    assert all(p.grad is None for p in judge.parameters())           # … the frozen classifier none
    with pytest.raises(TypeError, match="ResidualClassifier"):
        PerceptualDistance(ResidualClassifier())


def test_finetune_step_adds_the_perceptual_term_with_its_own_weight():
    from training.evaluation.classifier import FashionClassifier
    from training.fit.perceptual import PerceptualDistance
    from training.model import VAE, VAEConfig
    torch.manual_seed(0)
    model, disc = VAE(VAEConfig()), ft.PatchDiscriminator()
    params = ft.decoder_parameters(model)
    opt_g, opt_d = torch.optim.Adam(params, 1e-4), torch.optim.Adam(disc.parameters(), 1e-4)
    x = torch.rand(8, 1, 28, 28)
    mu, logvar = torch.zeros(8, 128), torch.zeros(8, 128)
    args = (model, disc, opt_g, opt_d, x, mu, logvar, "gaussian", -3.0, 2.0)
    plain = ft.finetune_step(*args, torch.Generator().manual_seed(0))
    assert "perceptual" not in plain
    dist = PerceptualDistance(FashionClassifier())
    with_term = ft.finetune_step(*args, torch.Generator().manual_seed(0), dist, 1.0)
    assert with_term["perceptual"] > 0 and with_term["perceptual_lambda"] > 0
    off = ft.finetune_step(*args, torch.Generator().manual_seed(0), dist, 0.0)
    assert off["perceptual_lambda"] == 0.0


def test_stages_of_fine_tuning_are_summarised_oldest_first():
    first = {"args": {"adversarial_weight": 2.0}, "epochs": 2, "seconds": 600, "command": "ft1",
             "source": {"weights_sha256": "a"}}
    second = {"args": {"adversarial_weight": 2.0, "perceptual_weight": 1.0,
                       "perceptual_classifier": "assets"},
              "epochs": 1, "seconds": 300, "command": "ft2", "source": {"decoder_finetune": first}}
    info = {"command": "train", "decoder_finetune": second}
    assert catalogue.finetune_stages(info) == [first, second]
    assert catalogue.finetune_summary(info) == (
        "2 epochs against a patch discriminator (adversarial weight 2) then 1 epoch against a patch "
        "discriminator (adversarial weight 2, perceptual weight 1 in the features of the classifier in "
        "assets), encoder frozen")
    assert catalogue.training_commands(info) == ["train", "ft1", "ft2"]
    assert (catalogue.finetune_seconds(info), catalogue.finetune_epochs(info)) == (900, 3)
    assert catalogue.perceptual_classifier(info) == "assets"
    assert catalogue.perceptual_classifier({"decoder_finetune": first}) is None
    assert catalogue.finetune_stages({}) == [] and catalogue.finetune_summary({}) == "none"


def test_discriminator_scores_one_logit_per_patch():
    d = ft.PatchDiscriminator()
    assert d(torch.rand(3, 1, 28, 28)).shape == (3, 1, 7, 7)


@pytest.mark.slow
def test_finetuning_changes_only_the_decoder_and_writes_a_model(source, tmp_path):
    out = tmp_path / "ft"
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", out, "--epochs", "1", *QUICK)
    assert r.returncode == 0, r.stderr
    before, after = load_file(str(source / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    decoder = {k for k in before if k.startswith(("from_latent.", "decoder."))}
    assert decoder and len(decoder) < len(before)
    for k in before:
        assert torch.equal(before[k], after[k]) == (k not in decoder), k
    meta = json.loads((out / "model.json").read_text())
    src = json.loads((source / "model.json").read_text())
    assert meta["architecture"] == src["architecture"] and meta["log_sigma"] == src["log_sigma"]
    assert meta["decoder_finetune"]["epochs"] == 1
    assert meta["decoder_finetune"]["source"]["weights_sha256"] == src["weights_sha256"]
    assert meta["decoder_finetune"]["command"].startswith("python -m training finetune-decoder")
    assert meta["decoder_finetune"]["args"]["adversarial_weight"] == ft.DEFAULTS["adversarial_weight"]
    assert (out / "metrics.jsonl").read_bytes() == (source / "metrics.jsonl").read_bytes()  # the VAE's log
    assert catalogue.finetune_summary(meta) == ("1 epoch against a patch discriminator (adversarial "
                                                    "weight 2), "
                                                     "encoder frozen")
    assert catalogue.finetune_summary(src) == "none"
    table = "\n".join(report.model_table({"ft": {}, "src": {}}, {"ft": meta, "src": src}))
    assert "| decoder fine-tuning | 1 epoch against a patch discriminator" in table
    assert "`test` then `python -m training finetune-decoder --checkpoint" in table  # both commands, in order
    history = [json.loads(line) for line in (out / ft.LOG_FILE).read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1] and meta["metrics"] == history[0]["test"]
    assert history[0]["train"]["lambda"] > 0
    model = load_model(out)  # loads like any model, and its μ is the source's
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.encode(x)[0], load_model(source).encode(x)[0])
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_perceptual_finetuning_records_its_classifier_and_refuses_a_missing_one(source, tmp_path):
    out = tmp_path / "perc"
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", out, "--epochs", "1",
                "--perceptual-weight", "1", *QUICK)
    assert r.returncode == 0, r.stderr
    args = json.loads((out / "model.json").read_text())["decoder_finetune"]["args"]
    shipped = json.loads((ROOT / "assets" / "classifier.json").read_text())
    # a model directory without its own classifier is shaped by the shipped one, and says so
    assert Path(args["perceptual_classifier"]).resolve() == (ROOT / "assets").resolve()
    assert args["perceptual_classifier_sha256"] == shipped["weights_sha256"]
    history = [json.loads(line) for line in (out / ft.LOG_FILE).read_text().splitlines()]
    assert history[0]["train"]["perceptual"] > 0 and history[0]["train"]["perceptual_lambda"] > 0
    # a fine-tuning of this fine-tuned model: a second stage, its log and record following the first
    again = tmp_path / "again"
    assert run_cli("finetune-decoder", "--checkpoint", out, "--out", again, "--epochs", "1",
                   *QUICK).returncode == 0
    log = [json.loads(line) for line in (again / ft.LOG_FILE).read_text().splitlines()]
    assert [(h["epoch"], h["stage"]) for h in log] == [(1, 1), (2, 2)] and log[0] == history[0] | {"stage": 1}
    meta = json.loads((again / "model.json").read_text())
    assert [s["args"].get("perceptual_weight") for s in catalogue.finetune_stages(meta)] == [1.0, 0.0]
    assert len(catalogue.training_commands(meta)) == 3
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", tmp_path / "none", "--epochs", "1",
                "--perceptual-weight", "1", "--perceptual-classifier", tmp_path / "nowhere", *QUICK)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "no classifier" in r.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_resumed_finetuning_equals_uninterrupted(source, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    assert run_cli("finetune-decoder", "--checkpoint", source, "--out", full, "--epochs", "2",
                   *QUICK).returncode == 0
    assert run_cli("finetune-decoder", "--checkpoint", source, "--out", split, "--epochs", "1",
                   *QUICK).returncode == 0
    r = run_cli("finetune-decoder", "--out", split, "--resume", "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = load_file(str(full / "model.safetensors")), load_file(str(split / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((split / "model.json").read_text())["decoder_finetune"]
    assert meta["epochs"] == 2 and "--resume" in meta["resumed_with"][0]


@pytest.mark.slow
def test_bad_arguments_end_with_one_line(source, tmp_path):
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", source, "--epochs", "1", *QUICK)
    assert r.returncode == 1 and "is the source model's directory" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = run_cli("finetune-decoder", "--checkpoint", tmp_path / "missing", "--out", tmp_path / "o", *QUICK)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "missing" in r.stderr
    assert not (tmp_path / "o").exists()  # nothing written for a source that does not load
    r = run_cli("finetune-decoder", "--out", tmp_path / "o2", *QUICK)
    assert r.returncode == 1 and "--checkpoint" in r.stderr
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", tmp_path / "o3", "--adversarial-weight",
                "-1")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    done = tmp_path / "done"
    assert run_cli("finetune-decoder", "--checkpoint", source, "--out", done, "--epochs", "1",
                   *QUICK).returncode == 0
    r = run_cli("finetune-decoder", "--checkpoint", source, "--out", done, "--epochs", "1", *QUICK)
    assert r.returncode == 1 and "--resume" in r.stderr
    r = run_cli("finetune-decoder", "--out", done, "--resume", "--lr", "1e-3")
    assert r.returncode == 1 and "only --epochs may change" in r.stderr
