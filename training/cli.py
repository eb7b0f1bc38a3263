"""``python -m training <command>``: train, finetune-decoder, embed, figure, classifier, evaluate,
report, generate, encode. Bad arguments end with one line and exit code 2; a failure while
working (a bad file, a missing model) ends with one line and exit code 1."""
from __future__ import annotations

import argparse
import shlex
import sys

from .losses import LIKELIHOODS
from .precision import PRECISIONS
from .presets import COMMON_DEFAULTS, PRESETS
from .sampling import MIXTURE_COMPONENTS, SAMPLERS

EXIT_FAILURE, EXIT_USAGE = 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind, strict: bool):
    """An argparse type: a finite ``kind`` (int or float) > 0 (``strict``) or ≥ 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not (value > 0 if strict else value >= 0) or value == float("inf"):  # NaN fails both comparisons
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {'>' if strict else '≥'} 0")
        return value
    parse.__name__ = f"{'positive' if strict else 'non-negative'} {kind.__name__}"
    return parse


def _positive(kind):
    return _number(kind, strict=True)


_non_negative_float, _non_negative_int = _number(float, strict=False), _number(int, strict=False)


def _decay(text: str) -> float:
    """argparse type: a moving average's decay, a number in [0, 1)."""
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be below 1 (e.g. 0.999; 0 = no average)")
    return value


def _positive_ints(text: str) -> list[int] | None:
    """The positive integers of "a,b,c", or None when the text is anything else."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        return None
    return values if min(values) >= 1 else None


def _int_list(count: int, example: str):
    """argparse type: exactly ``count`` positive integers separated by commas."""
    def parse(text):
        values = _positive_ints(text)
        if values is None or len(values) != count:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {count} positive integers like {example}")
        return values
    return parse


def _widths(text):
    """argparse type: one or more positive integers separated by commas, or "none" (no layers)."""
    if text.strip().lower() == "none":
        return []
    values = _positive_ints(text)
    if values is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive integers like 512 or 512,512, or none")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m training",
                    description="Train, resume and embed the Fashion-MNIST convolutional VAE.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a model (or --resume one) into a run directory",
                       description="Train the paper's conv VAE. Every epoch writes model.safetensors, "
                                   "model.json, resume.pt and metrics.jsonl into --out, atomically.")
    t.add_argument("--config", choices=sorted(PRESETS), default="default",
                   help="preset of likelihood, β and optimiser settings (default: %(default)s)")
    t.add_argument("--out", required=True, help="run directory to write")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch with its own arguments; "
                        "--epochs may raise the total (a cosine schedule then stretches to the new total)")
    t.add_argument("--epochs", type=_positive(int))
    t.add_argument("--batch-size", type=_positive(int))
    t.add_argument("--lr", type=_positive(float))
    t.add_argument("--schedule", choices=("constant", "cosine"))
    t.add_argument("--latent-dim", type=_positive(int))
    t.add_argument("--decoder-channels", type=_int_list(3, "256,128,64"), metavar="C1,C2,C3",
                   help="widths of the decoder's three hidden transposed convs (default 256,128,64)")
    t.add_argument("--encoder-kernels", type=_int_list(4, "4,3,4,2"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the encoder's four stride-2 convs (--config default: 4,3,4,2, which "
                        "see all 28×28 pixels; paper, seed-code: 3,3,3,2, which never see rows and columns 23-27)")
    t.add_argument("--decoder-kernels", type=_int_list(4, "2,3,4,6"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the decoder's four stride-2 transposed convs (--config default: 2,3,4,6, "
                        "which paint all 28×28; paper, seed-code: 2,3,4,5, whose last row and column are one constant)")
    t.add_argument("--decoder-refine", type=_non_negative_int, metavar="C",
                   help="C > 0: the decoder ends with C channels at 28×28 and a 3×3 conv (default 0, the paper's)")
    t.add_argument("--encoder-head", type=_widths, metavar="W1[,W2…]|none",
                   help="widths of fully connected ReLU layers between the encoder's conv features and the "
                        "μ, log σ² heads (--config default: 512,512; paper, seed-code: none, the paper's linear heads)")
    t.add_argument("--encoder-head-residual", action=argparse.BooleanOptionalAction,
                   help="keep the linear heads on the conv features and add the --encoder-head layers' output "
                        "through maps that start at zero, so training starts from the paper's encoder "
                        "(--config default: on)")
    t.add_argument("--decoder-head", type=_widths, metavar="W1[,W2…]|none",
                   help="widths of fully connected ReLU layers on z whose output is added to the decoder's "
                        "first features through a map that starts at zero (default: none, the paper's decoder)")
    t.add_argument("--weight-decay", type=_non_negative_float, metavar="W",
                   help="W > 0: AdamW with decoupled weight decay W (default 0, plain Adam)")
    t.add_argument("--hflip", action="store_const", const=True,
                   help="mirror each training image left-right with probability ½ (test images never)")
    t.add_argument("--ema-decay", type=_decay, metavar="D",
                   help="0 < D < 1: test metrics and model.safetensors use an exponential moving average of "
                        "the weights, updated each step with decay D, e.g. 0.999 (default 0, the last weights)")
    t.add_argument("--likelihood", choices=LIKELIHOODS)
    t.add_argument("--beta", type=_non_negative_float, help="weight of the KL term (1 = the ELBO)")
    t.add_argument("--kl-warmup", type=_non_negative_int, metavar="E",
                   help="E > 0: the KL weight rises linearly from 0 to --beta over the first E epochs (default 0)")
    t.add_argument("--free-bits", type=_non_negative_float, metavar="NATS",
                   help="NATS > 0: the optimised KL counts at least NATS per latent dimension, averaged over "
                        "the batch (free bits); the logged −ELBO stays the true one (default 0)")
    t.add_argument("--sigma", type=_positive(float), help="σ of the fixed 'gaussian' likelihood (default √½)")
    t.add_argument("--seed", type=int)
    t.add_argument("--limit", type=_positive(int), help="train on the first N training images only")
    t.add_argument("--eval-limit", type=_positive(int), help="evaluate on the first N test images only")
    t.add_argument("--precision", choices=PRECISIONS,
                   help="training arithmetic; auto = bfloat16 autocast where the CPU has AMX")
    t.add_argument("--threads", type=_positive(int), help="torch threads (default: all cores)")
    t.add_argument("--data-dir", help="directory with the four IDX .gz files (else $FASHION_MNIST_DIR, "
                                      "/usr/share/datasets/fashion-mnist, or a download into the user cache)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")

    d = sub.add_parser("finetune-decoder", help="sharpen a trained model's decoder against a discriminator",
                       description="Train only the decoder of --checkpoint further, on its likelihood plus an "
                                   "adversarial term from a patch discriminator; the encoder, and so every latent "
                                   "code and map, stays as it was. Writes a model directory like train's, "
                                   "atomically each epoch; --resume continues it.")
    d.add_argument("--checkpoint", help="the trained model directory to start from (not needed with --resume)")
    d.add_argument("--out", required=True, help="run directory to write (not the --checkpoint directory)")
    d.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch; only --epochs may change")
    d.add_argument("--epochs", type=_positive(int), help="default 2 (the shipped model's; a third lowered agreement)")
    d.add_argument("--adversarial-weight", type=_non_negative_float, metavar="W",
                   help="the adversarial gradient at the decoder's last layer is W times the likelihood's "
                        "(default 2; 0 = fine-tune on the likelihood alone)")
    d.add_argument("--lr", type=_positive(float), help="decoder learning rate, Adam (default 1e-4)")
    d.add_argument("--disc-lr", type=_positive(float), help="discriminator learning rate, Adam (default 2e-4)")
    d.add_argument("--batch-size", type=_positive(int), help="default 128")
    d.add_argument("--seed", type=int)
    d.add_argument("--limit", type=_positive(int), help="train on the first N training images only")
    d.add_argument("--eval-limit", type=_positive(int), help="evaluate on the first N test images only")
    d.add_argument("--threads", type=_positive(int), help="torch threads (default: all cores)")
    d.add_argument("--data-dir")
    d.add_argument("--quiet", action="store_true", help="no progress bars")

    e = sub.add_parser("embed", help="latents, category statistics and 2-D maps for the explorer",
                       description="Encode the test images (or all 70k) and write latents, per-category "
                                   "statistics and t-SNE / UMAP / PCA maps into --out.")
    e.add_argument("--checkpoint", required=True, help="model directory (model.safetensors + model.json)")
    e.add_argument("--out", required=True, help="directory for embeddings.npz and embeddings.json")
    e.add_argument("--split", choices=("test", "all"), default="test",
                   help="map the 10k test images, or all 70k (default: %(default)s)")
    e.add_argument("--maps", default="tsne,umap,pca,pixel-tsne",
                   help="comma-separated maps to compute (default: %(default)s)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--limit", type=_positive(int), help="first N images of each split only (quick runs)")
    e.add_argument("--mixture-components", type=_positive(int), default=MIXTURE_COMPONENTS, metavar="K",
                   help="Gaussians per category for the 'mixture' sampler (default: %(default)s)")
    e.add_argument("--data-dir")
    e.add_argument("--threads", type=_positive(int))
    f = sub.add_parser("figure", help="draw a sheet of reconstructions and samples as PNG",
                       description="Originals, reconstructions, prior samples, category means and samples "
                                   "around them, for one model directory.")
    f.add_argument("--checkpoint", required=True)
    f.add_argument("--out", required=True, help="PNG file to write")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--data-dir")
    c = sub.add_parser("classifier", help="train the CNN classifier that judges generated images",
                       description="Train a Fashion-MNIST CNN (used by the evaluation for sample quality) and "
                                   "write classifier.safetensors + classifier.json into --out.")
    c.add_argument("--out", required=True, help="directory (e.g. assets)")
    c.add_argument("--epochs", type=_positive(int), default=10)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--limit", type=_positive(int), help="first N training images only (quick runs)")
    c.add_argument("--data-dir")
    c.add_argument("--threads", type=_positive(int))
    c.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="training arithmetic; auto = bfloat16 autocast where the CPU has AMX (default)")
    c.add_argument("--quiet", action="store_true")
    v = sub.add_parser("evaluate", help="measure a model: likelihood bounds, latent probes, sample quality, maps",
                       description="Evaluate a model directory on the test set and write every metric as JSON "
                                   "(default <checkpoint>/metrics.json, which the explorer's model card shows).")
    v.add_argument("--checkpoint", required=True, help="model directory (model.safetensors + model.json)")
    v.add_argument("--out", help="JSON file to write (default: <checkpoint>/metrics.json)")
    v.add_argument("--quick", action="store_true", help="small fixed subsets: seconds, not minutes; noisy numbers")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--parts", metavar="LIST",
                   help="optional stages to run, comma-separated, from iwae,probes,samples,cas,augmentation,maps "
                        "(default: all; the ELBO and latent statistics are always measured)")
    v.add_argument("--classifier", help="directory with classifier.safetensors (default: the checkpoint's, else assets/)")
    v.add_argument("--data-dir")
    v.add_argument("--threads", type=_positive(int))
    v.add_argument("--reference-cache", metavar="FILE",
                   help="where model-independent references (raw-pixel probes, the real-only augmentation arm) "
                        "are kept between evaluations (default: $XDG_CACHE_HOME/fashion-vae/reference-metrics.json)")
    v.add_argument("--recompute-references", action="store_true",
                   help="compute those references afresh instead of reusing cached ones")
    v.add_argument("--classifier-precision", choices=PRECISIONS, default="auto",
                   help="arithmetic of the classifiers the CAS and augmentation train: auto = bfloat16 where the "
                        "CPU has AMX (faster); fp32 keeps their figures comparable with machines without AMX")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    r = sub.add_parser("report", help="side-by-side benchmark report of evaluated models",
                       description="Write a Markdown report (and benchmark.json) comparing model directories that "
                                   "`evaluate` has measured, with a sample sheet for each.")
    r.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                   help="a model to include, e.g. default=assets (repeat; the order is the column order)")
    r.add_argument("--out", default="reports/benchmark.md", help="Markdown file (default: %(default)s)")
    r.add_argument("--notes", help="Markdown file with the written conclusions, included verbatim")
    r.add_argument("--keep", action="append", default=[], metavar="NAME",
                   help="keep model NAME's metrics and sample sheet from the earlier report next to --out "
                        "(for redrawing a report without every run directory)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--data-dir")
    g = sub.add_parser("generate", help="write synthetic images with their intended labels (.npz or IDX)",
                       description="Generate images around category means (or from the prior) and write them with "
                                   "their intended labels as .npz, or as gzipped IDX files any Fashion-MNIST "
                                   "reader loads. The same seed writes the same bytes.")
    g.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--category", help="one category, e.g. Sneaker or 'Ankle boot'")
    which.add_argument("--all", action="store_true", help="every category")
    g.add_argument("--n", type=_positive(int), required=True, help="images per category")
    g.add_argument("--noise", type=_non_negative_float, default=None,
                   help="noise scale (default: the app's 0.5; 1.0 for --sampler prior)")
    g.add_argument("--sampler", choices=SAMPLERS, default="covariance",
                   help="covariance: the category's fitted Gaussian; mixture: its fitted mixture (samples stay "
                        "near its clusters); isotropic: N(0, I) around the mean; "
                        "prior: N(0, I), labelled by the classifier (default: %(default)s)")
    g.add_argument("--cluster", type=_positive(int), metavar="R",
                   help="with --sampler mixture: only each category's R-th heaviest cluster (1 = the heaviest), "
                        "one style, numbered as in the app")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="a .npz file, or with --format idx a directory or DIR/PREFIX")
    g.add_argument("--format", choices=("npz", "idx"), default="npz")
    g.add_argument("--min-confidence", type=float, metavar="P",
                   help="keep only samples the classifier assigns to the intended category with probability ≥ P")
    g.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    g.add_argument("--data-dir")
    n = sub.add_parser("encode", help="put your own pictures into the latent space",
                       description="Prepare each image as a Fashion-MNIST input (greyscale, dark background, "
                                   "cropped, 28×28), encode and decode it, print its nearest categories and "
                                   "write IMAGE.recon.png (prepared input | reconstruction).")
    n.add_argument("images", nargs="+", metavar="IMAGE")
    n.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    n.add_argument("--out", help="directory for the reconstructions (default: next to each image)")
    n.add_argument("--classifier")
    return parser


TRAIN_FLAGS = ("epochs", "batch_size", "lr", "schedule", "latent_dim", "likelihood", "beta", "sigma",
               "seed", "limit", "eval_limit", "precision", "decoder_channels", "decoder_refine",
               "encoder_kernels", "decoder_kernels", "encoder_head", "encoder_head_residual", "decoder_head",
               "weight_decay", "hflip", "kl_warmup", "free_bits", "ema_decay")


FINETUNE_FLAGS = ("checkpoint", "epochs", "adversarial_weight", "lr", "disc_lr", "batch_size", "seed", "limit",
                  "eval_limit")


def _refuse_changes_on_resume(ns: argparse.Namespace, flags: tuple) -> None:
    from .train import TrainingError
    given = [f"--{n.replace('_', '-')}" for n in flags if n != "epochs" and getattr(ns, n) is not None]
    if given:
        raise TrainingError(f"{' '.join(given)}: a resumed run keeps its own arguments; only --epochs may change")


def training_args(ns: argparse.Namespace) -> dict:
    """Preset values, overridden by the flags given on the command line."""
    args = {"config": ns.config, **COMMON_DEFAULTS, **PRESETS[ns.config]}
    for name in TRAIN_FLAGS:
        if getattr(ns, name) is not None:
            args[name] = getattr(ns, name)
    if not args["encoder_head"] and ns.encoder_head_residual is None:
        args["encoder_head_residual"] = False  # --encoder-head none: the paper's heads, whatever the preset
    args["threads"] = ns.threads
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ns = build_parser().parse_args(argv)
    prog = f"python -m training {ns.command}"
    from .data import DataError
    from .model import ModelLoadError
    from .train import TrainingError
    try:
        if ns.command == "train":
            from .train import run
            args = training_args(ns)
            if ns.resume:
                _refuse_changes_on_resume(ns, TRAIN_FLAGS)
                args["epochs"] = ns.epochs  # None: keep the run's own
            command = "python -m training " + " ".join(map(shlex.quote, argv))
            run(args, ns.out, resume=ns.resume, data_dir=ns.data_dir, command=command, progress=not ns.quiet)
        elif ns.command == "finetune-decoder":
            from .finetune import run as finetune
            args = {name: getattr(ns, name) for name in FINETUNE_FLAGS}
            if ns.resume:
                _refuse_changes_on_resume(ns, FINETUNE_FLAGS)
            elif ns.checkpoint is None:
                raise TrainingError("--checkpoint: expected the trained model directory to start from")
            finetune({**args, "threads": ns.threads}, ns.out, resume=ns.resume, data_dir=ns.data_dir,
                     command="python -m training " + " ".join(map(shlex.quote, argv)), progress=not ns.quiet)
        elif ns.command == "embed":
            from .embed import run_embed
            run_embed(ns.checkpoint, ns.out, split=ns.split, maps=ns.maps, seed=ns.seed, limit=ns.limit,
                      data_dir=ns.data_dir, threads=ns.threads, mixture_components=ns.mixture_components,
                      command="python -m training " + " ".join(map(shlex.quote, argv)))
        elif ns.command == "evaluate":
            from .evaluate import evaluate
            evaluate(ns.checkpoint, ns.out, quick=ns.quick, seed=ns.seed, classifier_dir=ns.classifier,
                     data_dir=ns.data_dir, threads=ns.threads, progress=not ns.quiet,
                     reference_cache=ns.reference_cache, recompute_references=ns.recompute_references,
                     classifier_precision=ns.classifier_precision, command="python -m training " + " ".join(map(shlex.quote, argv)),
                     **({"parts": [p for p in ns.parts.split(",") if p]} if ns.parts is not None else {}))
        elif ns.command == "report":
            from .report import parse_models, write_report
            write_report(parse_models(ns.model), ns.out, notes=ns.notes, data_dir=ns.data_dir, seed=ns.seed, keep=ns.keep,
                         command="python -m training " + " ".join(map(shlex.quote, argv)))
        elif ns.command == "generate":
            from .generate import category_name_to_index, generate
            from .data import CATEGORIES
            cats = list(range(len(CATEGORIES))) if ns.all else [category_name_to_index(ns.category)]
            noise = ns.noise if ns.noise is not None else (1.0 if ns.sampler == "prior" else 0.5)
            summary = generate(ns.checkpoint, ns.out, cats, ns.n, noise, ns.sampler, ns.seed, ns.format,
                               ns.min_confidence, ns.classifier, ns.data_dir, ns.cluster)
            if "min_confidence" in summary:
                print(f"kept {summary['kept']} of {summary['drawn']} samples with classifier confidence ≥ "
                      f"{summary['min_confidence']} (" + ", ".join(f"{c} {n}" for c, n in
                                                              summary["kept_per_category"].items()) + ")")
            print("wrote " + " and ".join(summary["files"]) + f" ({summary['kept']} images)")
        elif ns.command == "encode":
            from .encode_images import encode_files
            lines, failed = encode_files(ns.images, ns.checkpoint, ns.out, ns.classifier)
            for line in lines:
                print(line, file=sys.stderr if line.startswith("error:") else sys.stdout)
            if failed:
                return EXIT_FAILURE
        elif ns.command == "classifier":
            from .classifier import train_classifier
            train_classifier(ns.out, epochs=ns.epochs, seed=ns.seed, limit=ns.limit, data_dir=ns.data_dir,
                             threads=ns.threads, precision=ns.precision, progress=not ns.quiet,
                             command="python -m training " + " ".join(map(shlex.quote, argv)))
        elif ns.command == "figure":
            from .data import load
            from .figures import sample_sheet
            from .model import load_model
            if not ns.out.lower().endswith(".png"):
                raise ValueError(f"--out {ns.out}: expected a .png file name")
            from .embed import stored_category_mixtures
            model = load_model(ns.checkpoint)
            sample_sheet(model, load(ns.data_dir), seed=ns.seed,
                         mixtures=stored_category_mixtures(ns.checkpoint, model)).save(ns.out)
            print(f"wrote {ns.out}")
    except (DataError, ModelLoadError, TrainingError, FileNotFoundError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; completed epochs are saved (continue with --resume)", file=sys.stderr)
        return 130
    return 0
