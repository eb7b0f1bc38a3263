"""``python -m training report``: the side-by-side benchmark of evaluated models
(``evaluation/report.py``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ProjectError
from ..evaluation.report import write_report


def parse_models(specs: list[str]) -> dict[str, Path]:
    models = {}
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep or not name or not directory:
            raise ProjectError(f"--model {spec!r}: expected NAME=DIRECTORY, e.g. default=assets")
        models[name] = Path(directory)
    return models

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                   help="a model to include, e.g. default=assets (repeat; the order is the column order)")
    p.add_argument("--out", default="reports/benchmark.md", help="Markdown file (default: %(default)s)")
    p.add_argument("--notes",
                   help="the lab notebook (Markdown) that the report links to for what the numbers show")
    p.add_argument("--keep", action="append", default=[], metavar="NAME",
                   help="keep model NAME's metrics and sample sheet from the earlier report next to --out "
                        "(for redrawing a report without every run directory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")


def run(ns: argparse.Namespace) -> None:
    write_report(parse_models(ns.model), ns.out, notes=ns.notes, data_dir=ns.data_dir, seed=ns.seed,
                 keep=ns.keep, command=ns.command_line)
