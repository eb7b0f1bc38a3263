"""Drive the real app in headless Chromium (shared by the end-to-end tests and bench/app_latency.py).

Facts this relies on (../shared/reference/browser-testing.md): Debian's /usr/bin/chromium, no
browser download; --server.address 127.0.0.1 (no external-IP lookup); Plotly selects from its
hover data, so hover a point until ``gd._hoverdata`` holds it, then click; two clicks within
500 ms are a double-click.
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
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'


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


@contextlib.contextmanager
def browser(width=1280, height=800):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = b.new_context(viewport={"width": width, "height": height})
            yield context.new_page()
        finally:
            b.close()


def wait_for_map(page, timeout_ms=60000, min_traces=2):
    """Until the Plotly chart has drawn its WebGL canvas with at least ``min_traces`` traces
    (the explorer's map: the empty-space grid plus the categories)."""
    page.wait_for_function(f"""(n) => {{
        const gd = document.querySelector('{PLOT}');
        return gd && gd._fullLayout && gd._fullData && gd._fullData.length >= n && gd.querySelector('canvas');
    }}""", arg=min_traces, timeout=timeout_ms)


def isolated_points(page, trace_name: str, count: int = 1, candidates: int = 300):
    """Indices (within the trace) of the ``count`` points among its first ``candidates`` that lie
    farthest, on screen, from any other point: hovering them cannot land on a neighbour."""
    return page.evaluate(f"""([name, count, candidates]) => {{
        const gd = document.querySelector('{PLOT}');
        const L = gd._fullLayout, X = L.xaxis, Y = L.yaxis;
        const all = [];
        gd._fullData.forEach(d => {{ if (d.name !== 'empty space' && d.x)
            for (let i = 0; i < d.x.length; i++) all.push([X.l2p(d.x[i]), Y.l2p(d.y[i])]); }});
        const d = gd._fullData.find(t => t.name === name);
        const gaps = [];
        for (let i = 0; i < Math.min(candidates, d.x.length); i++) {{
            const px = X.l2p(d.x[i]), py = Y.l2p(d.y[i]);
            let best = Infinity;
            for (const [qx, qy] of all) {{
                const g = (qx - px) ** 2 + (qy - py) ** 2;
                if (g > 0 && g < best) best = g;
            }}
            gaps.push([best, i]);
        }}
        return gaps.sort((a, b) => b[0] - a[0]).slice(0, count).map(g => g[1]);
    }}""", [trace_name, count, candidates])


def point_position(page, trace_name: str, n: int):
    """Page coordinates of the n-th point of the named trace, and its customdata (global index)."""
    return page.evaluate(f"""([name, n]) => {{
        const gd = document.querySelector('{PLOT}');
        const t = gd._fullData.findIndex(d => d.name === name);
        const d = gd._fullData[t], L = gd._fullLayout, r = gd.getBoundingClientRect();
        return {{x: r.left + L.xaxis._offset + L.xaxis.l2p(d.x[n]),
                 y: r.top + L.yaxis._offset + L.yaxis.l2p(d.y[n]),
                 curve: t, custom: d.customdata[n]}};
    }}""", [trace_name, n])


def hover_and_click(page, pos, curve: int | None = None, tries: int = 20):
    """Hover until Plotly's hover data holds a point of ``curve`` at this spot, then click it.
    Returns the customdata of the point Plotly will select (in a dense cluster the nearest point
    may be a neighbour of the one aimed at), or None if the hover never registered."""
    for _ in range(tries):
        page.mouse.move(pos["x"] + 3, pos["y"] + 3)
        page.mouse.move(pos["x"], pos["y"])
        page.wait_for_timeout(120)  # Plotly throttles hover: let it describe this position, not the last
        hovered = page.evaluate(f"""(curve) => {{
            const gd = document.querySelector('{PLOT}');
            const h = (gd && gd._hoverdata) || [];
            const p = h.find(p => curve === null || p.curveNumber === curve);
            return p ? (p.customdata === undefined ? null : p.customdata) : undefined;
        }}""", curve)
        if hovered is not None:
            page.mouse.click(pos["x"], pos["y"])
            return hovered
        page.wait_for_timeout(150)
    return None


IMAGES = """document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"]')"""
FIND_IMAGE = """(caption) => {
    for (const fig of """ + IMAGES + """) {
        const cap = fig.parentElement ? fig.parentElement.innerText : '';
        const img = fig.querySelector('img');
        if (img && cap.includes(caption) && img.complete && img.naturalWidth > 0) return img.src;
    }
    return null;
}"""


def image_with_caption(page, caption: str, timeout_ms: int = 10000):
    """The src of the first loaded <img> whose Streamlit caption contains ``caption``, waiting
    until it has loaded; None if it never does."""
    try:
        return page.wait_for_function(FIND_IMAGE, arg=caption, timeout=timeout_ms).json_value()
    except Exception:
        return None


def click_a_point(page, trace_name: str = "Ankle boot", attempts: int = 5, nth: int = 0) -> int:
    """Click an isolated point of the named trace until its decoded image shows (the chart redraws
    once or twice after it appears, so a first click can be lost); return its global index."""
    target = isolated_points(page, trace_name, count=nth + 1)[nth]
    for _attempt in range(attempts):
        pos = point_position(page, trace_name, target)
        clicked = hover_and_click(page, pos, pos["curve"])
        if clicked is not None:
            try:
                page.wait_for_function("(i) => document.body.innerText.includes('test image ' + i)",
                                       arg=clicked, timeout=8000)
                if image_with_caption(page, "decoded from its latent mean"):
                    return clicked
            except Exception:
                pass
        page.wait_for_timeout(700)
    raise AssertionError(f"clicking a {trace_name} point never showed its decoded image")


def drag_a_box(page, trace_name: str, quantiles=(0.35, 0.65)) -> None:
    """Drag a selection box over the middle of a trace's points (between the given quantiles of its x
    and y), as a person does on a chart whose drag mode is "select"."""
    box = page.evaluate(f"""([name, lo, hi]) => {{
        const gd = document.querySelector('{PLOT}');
        const d = gd._fullData.find(d => d.name === name), L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        const q = (v, p) => {{
            const s = Array.from(v).sort((a, b) => a - b);
            return s[Math.floor(p * (s.length - 1))];
        }};
        const px = v => r.left + L.xaxis._offset + L.xaxis.l2p(v);
        const py = v => r.top + L.yaxis._offset + L.yaxis.l2p(v);
        return [px(q(d.x, lo)), py(q(d.y, lo)), px(q(d.x, hi)), py(q(d.y, hi))];
    }}""", [trace_name, *quantiles])
    page.mouse.move(box[0], box[1])
    page.mouse.down()
    page.mouse.move((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, steps=5)
    page.mouse.move(box[2], box[3], steps=5)
    page.mouse.up()
