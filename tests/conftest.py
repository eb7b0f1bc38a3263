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
