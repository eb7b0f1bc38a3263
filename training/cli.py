"""``python -m training <command>``: the command line.

Each command is a module of ``training/commands`` that declares its arguments
(``add_arguments(parser)``) and calls the library that does the work (``run(namespace)``). This
module lists the commands, imports only the one asked for (so ``--help`` answers at once), records
the command line (every file a command writes names the command that wrote it) and turns the
project's expected failures (``ProjectError``, and the file system's ``OSError``) into one line
and an exit code: 2 for bad arguments, 1 for a failure while working (a bad file, a missing model),
130 when interrupted. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from typing import NamedTuple

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class Command(NamedTuple):
    name: str
    module: str   # in training.commands: add_arguments(parser) and run(namespace)
    help: str
    description: str


COMMANDS = (
    Command("data", "data", "check a folder of your own images and cache it",
            "Report what DIR holds (images per category, sizes, modes, the split) and decode its images once "
            "into a cache that later commands read; refuse, in one line, an empty folder, an unreadable "
            "image (--skip-bad leaves such files out), a category with fewer than two images."),
    Command("train", "train", "train a model (or --resume one) into a run directory",
            "Train the paper's conv VAE. Every epoch writes model.safetensors, model.json, resume.pt and "
            "metrics.jsonl into --out, atomically; a killed run resumes where it stopped."),
    Command("finetune-decoder", "finetune_decoder",
            "sharpen a trained model's decoder against a discriminator",
            "Train only the decoder of --checkpoint further, on its likelihood plus an adversarial term from "
            "a patch discriminator; the encoder, and so every latent code and map, stays as it was. Writes a "
            "model directory like train's, atomically each epoch; --resume continues it."),
    Command("embed", "embed", "latents, category statistics and 2-D maps for the explorer",
            "Encode the test images (or all 70k) and write latents, per-category statistics and mixtures, "
            "and t-SNE / UMAP / PCA maps into --out."),
    Command("evaluate", "evaluate", "measure a model: likelihood, latent probes, sample quality, maps",
            "Evaluate a model directory on the test set and write every metric as JSON (default "
            "<checkpoint>/metrics.json, which the explorer's model card shows)."),
    Command("generate", "generate", "write synthetic images with their intended labels (.npz or IDX)",
            "Generate images from each category's fitted Gaussian or clusters (or from the prior) and write "
            "them with their intended labels as .npz, or as gzipped IDX files any Fashion-MNIST reader "
            "loads. The same seed writes the same bytes."),
    Command("augment", "augment", "write label-preserving variants of a labelled set",
            "Encode each labelled image, decode K variants from its posterior (widened by --temperature) "
            "and write them with their source's label and index (.npz or IDX). The same seed writes the "
            "same bytes."),
    Command("encode", "encode", "put your own pictures into the latent space",
            "Prepare each image as a Fashion-MNIST input (greyscale, dark background, cropped, 28×28), "
            "encode and decode it, print its nearest categories and write IMAGE.recon.png (prepared input | "
            "reconstruction)."),
    Command("figure", "figure", "draw a sheet of reconstructions and samples as PNG",
            "Originals, reconstructions, prior samples, category means and samples around them, and samples "
            "from the categories' clusters, for one model directory."),
    Command("export", "export", "copy a model directory with its weights in float16 (half the size)",
            "Write --checkpoint's weights in half precision (float16 by default) with its config and "
            "training curves into --out; loading checks the stored type. Embed and evaluate the copy "
            "before shipping it."),
    Command("classifier", "classifier", "train the CNN classifier that judges generated images",
            "Train a Fashion-MNIST CNN (the evaluation's judge of sample quality) and write "
            "classifier.safetensors + classifier.json into --out."),
    Command("report", "report", "side-by-side benchmark report of evaluated models",
            "Write a Markdown report (and benchmark.json) comparing model directories that `evaluate` has "
            "measured, with a sample sheet for each."),
)
NAMES = {c.name: c for c in COMMANDS}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed. Each command's arguments are added by importing its
    module: with ``only``, that command's alone (the others are listed by name and help), else all."""
    parser = Parser(prog="python -m training",
                    description="Train, fine-tune, embed, evaluate and sample the Fashion-MNIST "
                                "convolutional VAE.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description)
        if only is None or command.name == only:
            module = importlib.import_module(f"training.commands.{command.module}")
            module.add_arguments(p)
            p.set_defaults(func=module.run)
    return parser


def chosen(argv: list[str]) -> str | None:
    """The command named on the command line (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def command_line(argv: list[str]) -> str:
    """The command as a user would type it again: recorded in model.json, metrics.json and the rest."""
    return "python -m training " + shlex.join(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    name = chosen(argv)
    ns = build_parser(only=name if name in NAMES else "").parse_args(argv)
    ns.command_line = command_line(argv)
    prog = f"python -m training {ns.command}"
    from .errors import ProjectError
    try:
        return ns.func(ns) or 0
    except (ProjectError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; completed epochs are saved (continue with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
