"""The explorer's cached loaders and figures, shared by every session of a server process, and the
thread limit of the server's torch and BLAS calls.

They live in an imported module, not in ``streamlit_app.py``, because Streamlit builds a cache
wrapper each time its decorator runs, and building one reads the function's source
(``inspect.getsource``): at the script's top level that happened on every rerun of every session.
"""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st
import threadpoolctl
import torch

from explorer import latent as lat
from explorer import plots
from explorer.assets import load_bundle
from training.data import try_load_test_images
from training.errors import ProjectError
from training.evaluation.classifier import load_judge
from training.model import ModelLoadError
from training.model_data import of_model
from training.synthesis import concepts

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_FILE = ROOT / "reports" / "benchmark.json"
REFERENCE_MODEL = "seed-code"
THREADS_VARIABLE = "EXPLORER_THREADS"


def serving_threads(environ=os.environ) -> int:
    """Threads one torch or BLAS call may use in this server: EXPLORER_THREADS, 1 by default. A
    server's parallelism comes from its sessions, each script run in a thread of its own; threads
    inside every call on top of those oversubscribe the cores (20 sessions on 2 cores served 17–25 %
    more actions with 1, docs/speed.md "Many users at once")."""
    value = environ.get(THREADS_VARIABLE, "1")
    if value.isdigit() and 1 <= int(value) <= 256:
        return int(value)
    print(f"{THREADS_VARIABLE}={value!r}: expected a whole number of threads from 1 to 256; using 1",
          file=sys.stderr)
    return 1


def limit_threads(n: int) -> None:
    torch.set_num_threads(n)
    threadpoolctl.threadpool_limits(n, user_api="blas")   # numpy's OpenBLAS (the samplers' algebra)


limit_threads(serving_threads())   # once per server process: this module is imported once


def directory_stamp(directory: str) -> tuple:
    """Changes when the directory's files change, so a retrained model is picked up."""
    d = Path(directory)
    if not d.is_dir():
        return ()
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(d.glob("*")) if p.is_file())


@st.cache_resource(show_spinner="Loading the model and its maps…", max_entries=4)
def get_bundle(directory: str, stamp: tuple):
    return load_bundle(directory)


def classifier(b):
    """The classifier that judges this model's pictures (its directory's own, else for a
    Fashion-MNIST model the shipped one), or None: a folder model without ``classifier --data``."""
    return _classifier(str(b.directory), b.key, b.meta)


@st.cache_resource(show_spinner=False, max_entries=4)
def _classifier(directory: str, key: str, _meta: dict):
    try:
        return load_judge(directory, _meta)
    except ModelLoadError:
        return None


def test_images(b):
    """The model's real test images and labels (Fashion-MNIST's when installed, never downloaded by
    the app; a folder model's from its folder, through the folder's cache), or None without them."""
    folder = b.folder
    return _folder_test_images(b.key, b.meta) if folder else _fashion_mnist_test_images()


@st.cache_resource(show_spinner=False)
def _fashion_mnist_test_images():
    return try_load_test_images()


@st.cache_resource(show_spinner="Reading the model's images…", max_entries=2)
def _folder_test_images(key: str, _meta: dict):
    try:
        d = of_model(_meta, progress=False)
    except (ProjectError, OSError):   # the folder is gone or changed: pictures fall back to decoded means
        return None
    return d.test_images, d.test_labels


@st.cache_resource(show_spinner=False, max_entries=16)
def plain_map_figure(_bundle, key: str, projection: str, colour_by: str):
    """The map without a ring or extra markers (the usual state: a point clicked on this chart is
    highlighted by Plotly itself), built once and shared by every session. Building 10k points
    through Plotly's validators is most of a map rerun's time (~0.2 s), and with many users at
    once that time is the server's throughput. Shared, not copied: st.plotly_chart only reads it."""
    return plots.latent_map(_bundle.maps[projection], _bundle.labels, colour_by, _bundle.recon_mse,
                            shared=True, categories=_bundle.categories)


@st.cache_data(show_spinner=False, max_entries=8)
def map_download(_bundle, key: str, projection: str, fmt: str) -> bytes:
    b = _bundle
    xy = b.maps[projection]
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, index=b.index, label=b.labels, x=xy[:, 0], y=xy[:, 1], mu=b.mu)
        return buf.getvalue()
    names = {**dict(enumerate(b.categories)), -1: ""}
    header = "index,label,category,x,y," + ",".join(f"mu_{j}" for j in range(b.latent_dim))
    lines = [header] + [
        f"{b.index[i]},{b.labels[i]},{_csv_text(names[b.labels[i]])},{xy[i, 0]:.4f},{xy[i, 1]:.4f}," +
        ",".join(f"{v:.5f}" for v in b.mu[i]) for i in range(len(b.labels))]
    return ("\n".join(lines) + "\n").encode()


def _csv_text(text: str) -> str:
    """A field of the CSV: quoted where a folder's category name holds a comma or a quote."""
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


@st.cache_data(show_spinner=False)
def typical_map_spacing(_bundle, key: str, projection: str) -> float:
    """Median distance between a map point and its nearest other point: the scale against which
    an empty-space click's distances to its neighbours are judged."""
    return lat.median_nearest_distance(_bundle.maps[projection])


@st.cache_data(show_spinner=False)
def typical_nn_distance(_bundle, key: str) -> float:
    """Median latent distance from a real test item to its nearest other item: the yardstick for
    the novelty check (is a generated item as far from the data as real items are from each other?)."""
    return lat.median_nearest_distance(_bundle.mu)


@st.cache_data(show_spinner=False)
def load_reference():
    """The seed-code configuration's metrics from the benchmark report, when it is there."""
    try:
        models = json.loads(REFERENCE_FILE.read_text())["models"]
        return models[REFERENCE_MODEL], REFERENCE_MODEL
    except (OSError, ValueError, KeyError, TypeError):
        return None, REFERENCE_MODEL


@st.cache_resource(show_spinner=False, max_entries=16)
def concept_map_figure(_bundle, key: str, projection: str, with_rows: tuple, without_rows: tuple):
    """The Concepts view's map: a drag selects a box of points; the two groups ringed."""
    b, xy = _bundle, _bundle.maps[projection]
    rings = [{"x": xy[list(rows), 0], "y": xy[list(rows), 1], "name": f"{name} ({len(rows):,})",
              "symbol": "circle-open", "size": 8, "color": colour, "line": 1.5, "line_color": colour}
             for name, rows, colour in (("with", with_rows, "#1a9850"), ("without", without_rows, "#444"))
             if rows]
    return plots.latent_map(xy, b.labels, "category", b.recon_mse, extra=rings, for_groups=True, shared=True,
                            categories=b.categories)


@st.cache_resource(show_spinner="Measuring how well the groups separate…", max_entries=32)
def concept(_bundle, key: str, with_rows: tuple, without_rows: tuple, rule: str):
    """The concept of two groups of map rows and the groups' note (a ConceptError when they cannot
    make one); shared by every session, since measuring the separability takes up to a second."""
    b = _bundle
    return concepts.make("", b.mu, b.labels, b.index, with_rows, without_rows, rule, b.meta["weights_sha256"])


@st.cache_resource(show_spinner=False, max_entries=4)
def shipped_concepts(_bundle, key: str) -> dict:
    """The worked-example concept files in assets/concepts/ made on this model's weights, by name."""
    found = {}
    for path in sorted((ROOT / "assets" / "concepts").glob("*.json")):
        try:
            c = concepts.load(path, _bundle.meta.get("weights_sha256", ""), _bundle.latent_dim)
        except concepts.ConceptError:
            continue
        found[c.name] = (path, c)
    return found
