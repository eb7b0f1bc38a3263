"""Argument types and flags that several commands share, so each reads and checks them the same way.

Every type raises ``argparse.ArgumentTypeError`` with a message that names the value and what was
expected; the parser (``cli.Parser``) turns it into one line and exit code 2.
"""
from __future__ import annotations

import argparse

from ..device import DEVICES
from ..precision import PRECISIONS


def _number(kind, strict: bool):
    """An argparse type: a finite ``kind`` (int or float) > 0 (``strict``) or ≥ 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (value > 0 if strict else value >= 0) or value == float("inf"):  # NaN fails both comparisons
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {'>' if strict else '≥'} 0")
        return value
    parse.__name__ = f"{'positive' if strict else 'non-negative'} {kind.__name__}"
    return parse


positive_int, positive_float = _number(int, strict=True), _number(float, strict=True)
non_negative_int, non_negative_float = _number(int, strict=False), _number(float, strict=False)


def _positive_ints(text: str) -> list[int] | None:
    """The positive integers of "a,b,c", or None when the text is anything else."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        return None
    return values if min(values) >= 1 else None


def int_list(count: int, example: str):
    """An argparse type: exactly ``count`` positive integers separated by commas."""
    def parse(text):
        values = _positive_ints(text)
        if values is None or len(values) != count:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {count} positive integers like {example}")
        return values
    return parse


def widths(text: str) -> list[int]:
    """An argparse type: one or more positive integers separated by commas, or "none" (no layers)."""
    if text.strip().lower() == "none":
        return []
    values = _positive_ints(text)
    if values is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive integers like 512 or 512,512, or none")
    return values


def probability(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a probability between 0 and 1")
    return value


def strength(text: str) -> float:
    """An argparse type: a concept strength, a finite number between -MAX_STRENGTH and MAX_STRENGTH."""
    from ..synthesis.concepts import MAX_STRENGTH
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not -MAX_STRENGTH <= value <= MAX_STRENGTH:   # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number from -{MAX_STRENGTH} to "
                                         f"{MAX_STRENGTH}")
    return value


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST IDX .gz files (else "
                        "$FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, or a download into the user "
                        "cache)")


FOLDER_FLAGS = ("image_size", "channels", "skip_bad", "split_seed")


def add_folder(parser: argparse.ArgumentParser, data_help: str, defaults: dict[str, str],
               title: str = "your own images") -> None:
    """--data DIR and the flags that only go with it (``FOLDER_FLAGS``; each None when not given)."""
    from ..folder import IMAGE_SIZES
    folder = parser.add_argument_group(title)
    folder.add_argument("--data", metavar="DIR", help=data_help)
    folder.add_argument("--image-size", type=int, choices=IMAGE_SIZES,
                        help=f"with --data: the side the images are read at ({defaults['image_size']})")
    folder.add_argument("--channels", type=int, choices=(1, 3),
                        help=f"with --data: 1 grey or 3 RGB ({defaults['channels']})")
    folder.add_argument("--skip-bad", action="store_true", default=None,
                        help="with --data: leave unreadable images out")
    folder.add_argument("--split-seed", type=non_negative_int,
                        help=f"with --data and no train/ and test/ folders: the split's seed "
                             f"({defaults['split_seed']})")


def refuse_folder_flags(ns: argparse.Namespace, error: type[Exception]) -> None:
    """A folder flag without --data is refused in one line, not ignored."""
    given = [f"--{name.replace('_', '-')}" for name in FOLDER_FLAGS if getattr(ns, name) is not None]
    if given and not ns.data:
        raise error(f"{' '.join(given)}: only with --data DIR (a folder of your own images)")


def add_limits(parser: argparse.ArgumentParser) -> None:
    """--limit and --eval-limit: train on the first N training images, measure on the first N test images."""
    parser.add_argument("--limit", type=positive_int, help="train on the first N training images only")
    parser.add_argument("--eval-limit", type=positive_int, help="measure on the first N test images only")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where the model runs: auto = CUDA, else MPS, else CPU (default: %(default)s)")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int, help="torch threads (default: all cores)")


def add_compile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compile", action="store_true",
                        help="compile the training step with torch.compile (a minute of compiling first; "
                             "pays off on a GPU)")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_precision(parser: argparse.ArgumentParser, default: str | None = None,
                  what: str = "training") -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default=default,
                        help=f"{what} arithmetic; auto = bfloat16 autocast on a CPU with AMX or a CUDA GPU "
                             "with bfloat16 (default: auto)")


def refuse_changes_on_resume(ns: argparse.Namespace, flags: tuple[str, ...], error) -> None:
    """A resumed run keeps its own arguments: any of ``flags`` given besides --epochs raises ``error``."""
    given = [f"--{n.replace('_', '-')}" for n in flags if n != "epochs" and getattr(ns, n) is not None]
    if given:
        raise error(f"{' '.join(given)}: a resumed run keeps its own arguments; only --epochs may change")
