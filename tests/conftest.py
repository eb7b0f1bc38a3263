import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import threadpoolctl  # noqa: E402
import torch  # noqa: E402

from training import data as fmnist  # noqa: E402

# The thread counts the suite runs with. Importing the app's cached loaders (AppTest) limits a server
# process to one thread per call (views.cached.serving_threads); each test starts from these again.
THREADS = torch.get_num_threads()
BLAS_THREADS = max((p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"),
                   default=None)


@pytest.fixture(autouse=True)
def suite_threads():
    torch.set_num_threads(THREADS)
    if BLAS_THREADS:
        threadpoolctl.threadpool_limits(BLAS_THREADS, user_api="blas")


@pytest.fixture(scope="session")
def dataset():
    """The real Fashion-MNIST, from wherever the loader finds it (CI installs the Debian package)."""
    return fmnist.load(allow_download=False)


@pytest.fixture(scope="session")
def data_dir(dataset):
    return dataset.directory


class Completed(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, cwd=ROOT) -> Completed:
    """``python -m training ARGS`` run by its ``main`` in this process, from ``cwd``: the same parsing,
    dispatch, messages and exit code, without starting an interpreter and importing torch again
    (seconds per call on a slow machine). The tests that need the process itself use run_process."""
    import torch

    from training.cli import main
    out, err, threads, here = io.StringIO(), io.StringIO(), torch.get_num_threads(), os.getcwd()
    try:
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse: --help (0) and bad arguments (2)
                code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)  # commands set their own thread count
    return Completed(code, out.getvalue(), err.getvalue())


def run_process(*args, timeout=600, env=None) -> subprocess.CompletedProcess:
    """``python -m training ARGS`` as its own process."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


# --- live views in AppTest (views/live.py): what the browser was given, and a control let go -----------
def live_view(at, key: str) -> dict | None:
    """The data live component ``key`` (a views.keys.LIVE_* name) was given, or None where the view
    decodes on the server."""
    import json
    found = [e for e in at.get("bidi_component") if e.proto.id.endswith("-" + key)]
    return json.loads(found[0].proto.json) if found else None


def let_go(at, key: str, value: float, stamp: float = 1.0):
    """What the browser sends when live component ``key``'s control is released at ``value``."""
    at.session_state[key] = {"released": {"value": value, "at": stamp}, "failed": None}
    return at.run()


def frame_latents(data: dict, s: float):
    """Each frame's latent at control value ``s`` (rows after rows), computed as the browser does
    (views/live_latent.js; tests/test_live_latent.py checks the two agree) but for the spherical path."""
    import base64

    import numpy as np
    table = np.frombuffer(base64.b64decode(data["vectors"]), "<f8").reshape(-1, data["k"])
    out = []
    for row in data["rows"]:
        for path, a, b, o, c in row["frames"]:
            t = o + c * s
            assert path in ("line", "mix"), path
            out.append(table[a] + t * table[b] if path == "line" else (1 - t) * table[a] + t * table[b])
    return np.asarray(out, np.float32)


# --- a model of your own images (train --data), shared by the app's and the browser's tests ----------
COLOUR_FOLDER = {"blue squares": (30, 60, 230), "red discs": (220, 40, 30),   # as the folder sorts them;
                 "Été, greens": (40, 200, 60)}                                # a comma, for the CSV


def write_colour_folder(root: Path, size: int = 40, per_category: int = 24) -> Path:
    """Three categories of seeded colour shapes on black, one folder each: ROOT/<name>/<nn>.png."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for name, colour in COLOUR_FOLDER.items():
        (root / name).mkdir(parents=True)
        for i in range(per_category):
            r, cy, cx = rng.integers(5, 12), rng.integers(12, size - 12), rng.integers(12, size - 12)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) if "discs" in name else \
                ((abs(yy - cy) < r) & (abs(xx - cx) < r))
            image = np.zeros((size, size, 3), np.uint8)
            image[mask] = colour
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def colour_folder_model(tmp_path_factory):
    """A 32×32 colour model of three categories, embedded, with its own judge (about a minute)."""
    tmp = tmp_path_factory.mktemp("colour_folder")
    folder = write_colour_folder(tmp / "images")
    run = tmp / "run"
    quick = ["--precision", "fp32", "--threads", "2", "--quiet"]
    for args in (("train", "--data", folder, "--out", run, "--epochs", "2", "--batch-size", "8", *quick),
                 ("embed", "--checkpoint", run, "--out", run, "--threads", "2"),
                 ("classifier", "--data", folder, "--out", run, "--epochs", "1", *quick)):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
    return run
