"""The explorer as a running server, for tests and benchmarks: one ``streamlit run`` on a free
localhost port (``running_app``), or ``scripts/serve.sh``'s replicas behind HAProxy (``serving``).

Started with ``--server.address 127.0.0.1``, so Streamlit never looks up an external IP
(../shared/reference/browser-testing.md); every process is stopped when the block ends.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(model_dir: str | None = None, env: dict | None = None, timeout: float = 60, script=None):
    """Start ``streamlit run streamlit_app.py`` (or another ``script``) on a free localhost port;
    yield its URL and process."""
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    if model_dir:
        full_env["EXPLORER_MODEL_DIR"] = str(model_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script or ROOT / "streamlit_app.py"),
         "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("app did not start: "
                                   f"{proc.stderr.read() if proc.poll() is not None else 'timeout'}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Replica(NamedTuple):
    name: str   # the value of the balancer's affinity cookie, e.g. "r1"
    pid: int
    port: int


@contextlib.contextmanager
def serving(replicas: int = 2, model_dir: str | None = None, timeout: float = 240, extra: tuple = ()):
    """``scripts/serve.sh --replicas N [extra…]`` on a free port: yield the balancer's URL, the replicas
    and the script's process; stopped with Ctrl-C's signal (which must stop every process it started)."""
    port = free_port()
    while not all(_port_is_free(p) for p in range(port + 1, port + replicas + 1)):
        port = free_port()
    env = {**os.environ, **({"EXPLORER_MODEL_DIR": str(model_dir)} if model_dir else {})}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve.sh"), "--replicas", str(replicas),
                             "--port", str(port), *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.time() + timeout
        while True:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith(("serve.sh: http://", "serve.sh: https://")):
                break
            if not line and proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("serve.sh did not start: " + "".join(lines)[-2000:])
        directory = line.split("logs and pids in ")[1].split(";")[0].strip()
        rows = [r.split() for r in Path(directory, "replicas").read_text().splitlines()]
        scheme = "https" if line.startswith("serve.sh: https://") else "http"
        yield f"{scheme}://127.0.0.1:{port}", [Replica(n, int(pid), int(p)) for n, pid, p in rows], proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
