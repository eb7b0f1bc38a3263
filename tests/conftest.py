import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import data as fmnist  # noqa: E402


@pytest.fixture(scope="session")
def dataset():
    """The real Fashion-MNIST, from wherever the loader finds it (CI installs the Debian package)."""
    return fmnist.load(allow_download=False)


@pytest.fixture(scope="session")
def data_dir(dataset):
    return dataset.directory


def run_cli(*args, timeout=600, env=None):
    import subprocess
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def cli(argv, capsys):
    """``python -m training ARGV`` in this process (no interpreter start-up): exit code, stdout, stderr."""
    from training.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help (0) and bad arguments (2)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
