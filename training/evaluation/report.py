"""The side-by-side benchmark (what ``python -m training report`` writes): reads each model directory's
``metrics.json`` (written by ``evaluate``), draws one sample sheet per model, and writes a Markdown
report plus ``benchmark.json`` with every model's metrics (the app's model card reads the reference
column from it). What the numbers show is written by a person in the lab notebook (``--notes``),
which the report links to, so regenerating the report never loses it."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .. import category_latents
from .. import data as fmnist
from ..checkpoint import atomic_write_bytes, atomic_write_text
from ..errors import ProjectError
from ..latent_prior import stored_learned_prior
from ..model import VAEConfig, load_model
from ..synthesis.sample_sheets import sample_sheet
from . import catalogue as L

LONG_LISTS = ("kl_per_dim", "mu_variance_per_dim")


def read_metrics(directory: Path) -> dict:
    path = directory / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"{path}: no evaluation; run `python -m training evaluate --checkpoint "
                                f"{directory}` first") from None
    except json.JSONDecodeError as e:
        raise ProjectError(f"{path}: not valid JSON ({e})") from None
    return metrics


def _png_bytes(image) -> bytes:
    import io
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


SHIPPED_NAME, REFERENCE_NAME = "default", "seed-code"


def metrics_table(metrics: dict[str, dict]) -> list[str]:
    """One table per group: every model's value, which direction is better, and the target set for the
    shipped model, judged for the model named ``default`` (against ``seed-code`` where it beats a
    reference)."""
    names = list(metrics)
    shipped, reference = metrics.get(SHIPPED_NAME), metrics.get(REFERENCE_NAME)
    lines = []
    for title, group in L.GROUPS:
        lines += [f"**{title}**", "", "| metric | " + " | ".join(names) + " | better | target |",
                  L.table_separator(len(names), words=2)]
        for metric in group:
            values = [L.lookup(metrics[n], metric.key) for n in names]
            numeric = [v for v in values if isinstance(v, (int, float))]
            best = None
            if metric.better and len(numeric) > 1:
                best = min(numeric) if metric.better == "lower" else max(numeric)
            cells = [f"**{L.formatted(metrics[n], metric)}**" if v is not None and v == best
                     else L.formatted(metrics[n], metric) for n, v in zip(names, values, strict=True)]
            if shipped:
                target = L.target_cell(shipped, reference, metric, REFERENCE_NAME)
            else:
                target = L.target_text(metric)
            row = " | ".join([metric.label, *cells, metric.better or "—", target])
            lines.append(f"| {row} |")
        lines.append("")
    return lines


def epoch_budget(infos: dict[str, dict]) -> str:
    epochs = {n: i.get("epoch") for n, i in infos.items()}
    if len(set(epochs.values())) == 1:
        return f"the same epoch budget ({next(iter(epochs.values()))} epochs)"
    return "different epoch budgets (" + ", ".join(f"{n} {e}" for n, e in epochs.items()) + ")"


def evaluation_cell(m: dict) -> str:
    """How long the evaluation took, with the one-off computation of cached references shown apart
    (a second evaluation on the same machine reuses them)."""
    if m.get("quick"):
        return "**--quick (small subsets, noisy)**"
    return f"full, {L.evaluation_time(m)}"


def _training_seconds(info: dict) -> float:
    """The VAE's training plus any decoder fine-tuning."""
    return (info.get("train_seconds") or 0) + L.finetune_seconds(info)


def model_table(metrics: dict[str, dict], infos: dict[str, dict]) -> list[str]:
    names = list(metrics)

    def row(label, f) -> str:
        return f"| {label} | " + " | ".join(str(f(n)) for n in names) + " |"

    def t(n) -> dict:
        return infos[n].get("training", {})

    arch = {n: VAEConfig.from_dict(infos[n].get("architecture") or {}) for n in names}
    return ["| | " + " | ".join(names) + " |", L.table_separator(0, words=len(names)),
            row("encoder head", lambda n: arch[n].encoder_summary()),
            row("decoder", lambda n: arch[n].decoder_summary()),
            row("field of view", lambda n: arch[n].view_summary()),
            row("likelihood", lambda n: infos[n].get("likelihood")),
            row("σ of a Gaussian likelihood", lambda n: "—" if infos[n].get("log_sigma") is None
                else f"{2.718281828459045 ** infos[n]['log_sigma']:.3f}"),
            row("β", lambda n: infos[n].get("beta")),
            row("learning rate, schedule", lambda n: f"{t(n).get('lr')}, {t(n).get('schedule')}"),
            row("batch size", lambda n: t(n).get("batch_size")),
            row("epochs", lambda n: infos[n].get("epoch")),
            row("decoder fine-tuning", lambda n: L.finetune_summary(infos[n])),
            row("training time (min)", lambda n: f"{_training_seconds(infos[n]) / 60:.1f}"),
            row("evaluation", lambda n: evaluation_cell(metrics[n])),
            row("trained with", lambda n: " then ".join(f"`{c}`" for c in L.training_commands(infos[n]))),
            ""]


def agreement_table(metrics: dict[str, dict]) -> list[str]:
    """Per category: samples around the mean (category_agreement), reconstructions of real test
    images, and the classifier on the real images themselves (the same for every model)."""
    names = [n for n in metrics if metrics[n].get("category_agreement_per_category")]
    if not names:
        return []
    first = metrics[names[0]]
    cats = list(first["category_agreement_per_category"])
    has_recon = all(metrics[n].get("reconstruction_agreement_per_category") for n in names)
    header = [f"{n}: samples" for n in names]
    header += [f"{n}: reconstructions" for n in names] if has_recon else []
    real = first.get("classifier_recall_per_category")
    header += ["real test images"] if real else []
    misread = [n for n in names if metrics[n].get("category_misread_as")]  # evaluations before it lack it
    header += [f"{n}: samples most often misread as" for n in misread]
    lines = ["| category | " + " | ".join(header) + " |",
             L.table_separator(len(header) - len(misread), words=len(misread))]
    for c in cats:
        cells = [metrics[n]["category_agreement_per_category"][c] for n in names]
        if has_recon:
            cells += [metrics[n]["reconstruction_agreement_per_category"][c] for n in names]
        if real:
            cells.append(real[c])
        words = [L.misreading(metrics[n]["category_misread_as"].get(c)) for n in misread]
        lines.append(f"| {c} | " + " | ".join([f"{v:.3f}" for v in cells] + words) + " |")
    return lines + [""]


def augmentation_table(metrics: dict[str, dict]) -> list[str]:
    lines = ["| model | real only (per seed) | with generated (per seed) | mean gain ± sd |",
             "|---|---|---|---|"]
    for name, m in metrics.items():
        a = m.get("augmentation") or {}
        if not a:
            continue
        gains = [w - r for r, w in zip(a["real_only_acc"], a["with_synthetic_acc"], strict=True)]
        sd = (sum((g - a["gain_mean"]) ** 2 for g in gains) / max(1, len(gains) - 1)) ** 0.5
        lines.append(f"| {name} | {', '.join(f'{v:.4f}' for v in a['real_only_acc'])} | "
                     f"{', '.join(f'{v:.4f}' for v in a['with_synthetic_acc'])} | {a['gain_mean']:+.4f} ± "
                     f"{sd:.4f} |")
    return lines + [""]


def settings_warning(metrics: dict[str, dict]) -> list[str]:
    """A loud line when the models were not evaluated with the same settings (e.g. a model kept from
    an older report), since their numbers then do not compare. A setting one model's evaluation
    predates is not a difference: it governs rows that model does not have."""
    settings = [m.get("settings") or {} for m in metrics.values()]
    differing = sorted({k for s in settings for k, v in s.items()
                        if any(k in o and o[k] != v for o in settings)})
    if not differing:
        return []
    return [f"**Warning: the models were evaluated with different settings ({', '.join(differing)}); "
            "rows that depend on them do not compare.**", ""]


INFO_KEYS = ("architecture", "likelihood", "log_sigma", "beta", "epoch", "train_seconds", "training",
             "command", "weights_sha256", "decoder_finetune")


def kept_entries(summary_path: Path, names: list[str]) -> tuple[dict, dict, dict]:
    """Metrics, model info and directory of models kept from an earlier report's benchmark.json
    (``--keep NAME``): a report can be redrawn for one retrained model without the others' runs."""
    try:
        previous = json.loads(summary_path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"{summary_path}: no earlier report to --keep models from") from None
    except json.JSONDecodeError as e:
        raise ProjectError(f"{summary_path}: not valid JSON ({e})") from None
    metrics, infos, dirs = {}, {}, {}
    for name in names:
        if name not in previous.get("models", {}):
            raise ProjectError(f"--keep {name}: not in {summary_path} (it has "
                             f"{', '.join(previous.get('models', {}))})")
        if name not in previous.get("infos", {}):
            raise ProjectError(f"--keep {name}: {summary_path} has no model information for it")
        if not (summary_path.parent / "grids" / f"{name}.png").is_file():
            raise ProjectError(f"--keep {name}: its sample sheet "
                                    f"{summary_path.parent / 'grids' / name}.png is gone")
        metrics[name], infos[name] = previous["models"][name], previous["infos"][name]
        dirs[name] = Path(previous.get("directories", {}).get(name, "?"))
    return metrics, infos, dirs


def regenerate_command(directories: dict[str, str], notes, out: Path) -> str:
    """The report command from scratch, every model by its directory, even where this report kept
    some (``--keep``) because their runs were not on the machine that drew it."""
    models = " ".join(f"--model {name}={d}" for name, d in directories.items())
    return f"python -m training report {models}" + (f" --notes {notes}" if notes else "") + f" --out {out}"


def draw_sheets(loaded: dict, models: dict[str, Path], grid_dir: Path, data_dir, seed: int) -> None:
    """One sample sheet per model, from its own maps' statistics and mixtures where they fit it."""
    data = fmnist.load(data_dir)
    grid_dir.mkdir(parents=True, exist_ok=True)
    for name, model in loaded.items():
        png = grid_dir / f"{name}.png"
        stats = category_latents.for_model(model, models[name], data_dir)[:2]
        mixtures = category_latents.stored_category_mixtures(models[name], model)
        sheet = sample_sheet(model, data, seed=seed, stats=stats, mixtures=mixtures,
                             learned_prior=stored_learned_prior(models[name], model))
        atomic_write_bytes(png, _png_bytes(sheet))
        print(f"drew {png}", flush=True)


def report_lines(metrics: dict, infos: dict, directories: dict, images: list, notes, out: Path) -> list[str]:
    first = next(iter(metrics.values()))
    augmentation = first["augmentation"]
    lines = [
        "# Benchmark: the shipped model beside the paper's published configurations", "",
        "Regenerate (each model trained and evaluated the same way first; the commands are in the table "
        "below):", "",
        "```bash",
        *[f"python -m training evaluate --checkpoint {d}" for d in directories.values()],
        regenerate_command(directories, notes, out),
        "```", "",
        f"Every model: the same {first.get('probe_train_images', 60000):,} training images, "
        f"{epoch_budget(infos)}, evaluated on {first.get('test_images', 10000):,} test images. IWAE with K = "
        f"{first.get('iwae_k')} on {first.get('iwae_subset')}; sample quality judged by the project's "
        f"classifier ({first.get('classifier_test_acc', 0):.2%} test accuracy, `python -m training "
        "classifier`); category agreement is measured for the default sampler (the categories' clusters) and "
        "the paper's (around each category's mean, its fitted Gaussian), at noise "
        f"{first.get('category_sampler', {}).get('noise')}; the FID of category samples uses the paper's. "
        "The classification accuracy score trains one "
        f"classifier for {L.plural(first.get('cas_epochs'), 'pass')} over {first.get('cas_images', 0):,} "
        f"generated images (noise {first.get('cas_noise')}); its reference row trains the same classifier on "
        "real training images. Best value per row in bold. Targets are the bars set for the shipped model, "
        f"judged for `{SHIPPED_NAME}`.",
        "",
        *settings_warning(metrics),
        "## Models", "", *model_table(metrics, infos),
        "## Metrics", "", *metrics_table(metrics),
        "## Category agreement per category", "", *agreement_table(metrics),
        "## Synthetic data with 1% of the labels", "",
        f"A classifier trained on {augmentation['labelled_images']} labelled training images (stratified), "
        f"with and without {augmentation['synthetic_images']} images generated from the category statistics "
        f"of those images only (noise {augmentation['noise']}), {augmentation['training_batches']} batches "
        "of 64 each, tested on the 10k test images.", "",
        *augmentation_table(metrics),
        "## Samples", "",
        "Rows: one test image per category, reconstructions from μ, prior samples, decoded category means, "
        "samples around the means (app defaults), for a model whose embeddings hold them samples from each "
        "category's clusters (the app's second sampler), and a latent interpolation.", "",
        *[f"**{name}**\n\n![{name}]({path.as_posix()})\n" for name, path in images],
    ]
    if notes:
        link = Path(os.path.relpath(Path(notes).resolve(), out.resolve().parent)).as_posix()
        lines += ["## What the numbers show", "",
                  f"The lab notebook, [{link}]({link}), has what these numbers show and every measured step "
                  "that led to the shipped model: one section per step, each with the commands that "
                  "reproduce it.", ""]
    return lines


def write_report(models: dict[str, Path], out: Path, notes: Path | None = None, data_dir=None, seed: int = 0,
                 command: str = "", keep: list[str] | None = None) -> Path:
    """The Markdown report and benchmark.json of ``models`` (and of models kept from the last report)."""
    out = Path(out)
    if out.suffix != ".md":
        raise ProjectError(f"--out {out}: expected a .md file name")
    clash = set(keep or []) & set(models)
    if clash:
        raise ProjectError(f"--keep {', '.join(sorted(clash))}: also given with --model; choose one")
    if notes and not Path(notes).is_file():
        raise ProjectError(f"--notes {notes}: not found")
    metrics = {name: read_metrics(d) for name, d in models.items()}
    loaded = {name: load_model(d) for name, d in models.items()}
    infos = {name: {k: m.info.get(k) for k in INFO_KEYS} for name, m in loaded.items()}
    kept_metrics, kept_infos, kept_dirs = {}, {}, {}
    if keep:
        kept_metrics, kept_infos, kept_dirs = kept_entries(out.with_suffix(".json"), keep)
    metrics.update(kept_metrics)
    infos.update(kept_infos)
    draw_sheets(loaded, models, out.parent / "grids", data_dir, seed)
    images = [(name, Path("grids") / f"{name}.png") for name in metrics]
    directories = {**{n: str(d) for n, d in models.items()}, **{n: str(d) for n, d in kept_dirs.items()}}
    atomic_write_text(out, "\n".join(report_lines(metrics, infos, directories, images, notes, out)) + "\n")
    summary = {"command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "models": {name: {k: v for k, v in m.items() if k not in LONG_LISTS}
                          for name, m in metrics.items()},
               "infos": infos, "directories": directories}
    atomic_write_text(out.with_suffix(".json"), json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json')}", flush=True)
    return out
