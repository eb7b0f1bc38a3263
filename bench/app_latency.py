"""Latency of the explorer in a real headless Chromium, against the running app.

Measures, in one run: page open → map visible (cold server start, then warm reloads);
click a map point → its decoded image loaded, p50/p95 over --clicks clicks; server-side time
per click (decode + 8 neighbours); decode of one image. For comparison it also measures the
same click → image round trip on a do-nothing Streamlit page (10k-point WebGL scatter + one
st.image), Streamlit's and the browser's own floor on this machine.

    .venv/bin/python bench/app_latency.py [--clicks 25] [--model-dir assets]

With ``--views`` it measures the views without a clickable map instead: a widget change → new pixels,
on Concepts (the strength of a worked example) and Compare models (the test image's number: the
loaded model's reconstruction), both decoded in the browser (views/live.py), beside a do-nothing page
with one slider and one image, in one run.

    .venv/bin/python bench/app_latency.py --views [--changes 20]
"""
import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from appdriver.browser import browser, hover_and_click, isolated_points, point_position, wait_for_map  # noqa: E402
from appdriver.server import running_app  # noqa: E402

FLOOR_APP = textwrap.dedent('''
    import numpy as np, plotly.graph_objects as go, streamlit as st
    rng = np.random.default_rng(0); xy = rng.standard_normal((10000, 2))
    fig = go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=np.arange(10000),
                                 name="p"))
    left, right = st.columns([3, 2])
    ev = left.plotly_chart(fig, on_select="rerun", selection_mode="points", key="m")
    pts = ev["selection"]["points"] if ev else []
    if pts:
        i = int(pts[-1]["customdata"]); img = (rng.random((224, 224)) * 255).astype(np.uint8)
        right.image(img, caption=f"decoded from its latent mean {i}")
''')


WIDGET_FLOOR_APP = textwrap.dedent('''
    import numpy as np, streamlit as st
    v = st.slider("value", 0.0, 5.0, 2.0, 0.25)
    noise = np.random.default_rng(int(v * 4)).random((224, 224))
    st.image((noise * 255).astype(np.uint8), caption="floor image")
''')
# the src of the first image whose caption starts with the needle, once it is loaded (else null)
IMAGE_SRC = """(needle) => {
    const box = [...document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"]')]
        .find(e => e.innerText.trim().startsWith(needle));
    const img = box && box.querySelector('img');
    return img && img.complete && img.naturalWidth > 0 ? img.src : null;
}"""

# a checksum of every frame a live view drew (its control labelled so, or its element named so), or null
# before it has drawn
LIVE_PIXELS = """(label) => {
    const roots = [...document.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot);
    const root = roots.find(r => [...r.querySelectorAll('.live-control .live-label')]
        .some(l => l.textContent.trim() === label) || r.querySelector(`.live[data-name="${label}"]`));
    const canvases = root ? [...root.querySelectorAll('.live-frame canvas')] : [];
    if (!canvases.length || canvases.some(c => !c.__latent)) return null;
    let h = 0;
    for (const c of canvases) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i]) | 0;
    }
    return String(h);
}"""


def pct(xs, q):
    return float(np.percentile(xs, q)) * 1000


def click_latencies(page, trace_names, clicks, marker_js):
    """Click ``clicks`` different points; time from the click to the new image being loaded."""
    times, misses = [], 0
    per_trace = -(-clicks // len(trace_names))
    targets = {name: isolated_points(page, name, per_trace) for name in trace_names}
    for k in range(clicks):
        name = trace_names[k % len(trace_names)]
        for _ in range(3):
            pos = point_position(page, name, targets[name][(k // len(trace_names)) % len(targets[name])])
            page.wait_for_timeout(600)  # > 500 ms since the last click: not a double-click
            clicked = hover_and_click(page, pos, pos["curve"])
            if clicked is None:
                misses += 1
                continue
            t_click = time.perf_counter()
            try:
                page.wait_for_function(marker_js, arg=int(clicked), timeout=10000)
            except Exception:
                misses += 1
                continue
            times.append(time.perf_counter() - t_click)
            break
    return times, misses


def change_latencies(page, probe: str, needle: str, act, changes: int):
    """Time from a widget change (``act(k)``) to new pixels: ``probe(needle)`` (JavaScript: IMAGE_SRC or
    LIVE_PIXELS) giving another value than before."""
    times = []
    for k in range(changes):
        page.wait_for_function(probe, arg=needle, timeout=30000)
        page.wait_for_timeout(400)
        before = page.evaluate(probe, needle)
        t = time.perf_counter()
        act(k)
        page.wait_for_function(f"([n, b]) => {{ const s = ({probe})(n); return s && s !== b; }}",
                               arg=[needle, before], timeout=15000)
        times.append(time.perf_counter() - t)
    return times


def press_slider(page, selector='[data-testid="stSlider"] input[type="range"]'):
    def act(k):
        key = "ArrowRight" if k % 2 == 0 else "ArrowLeft"
        page.locator(selector).first.press(key)
    return act


def press_live_control(page):
    return press_slider(page, ".live-control input")


def views(a):
    """Concepts and Compare models, each beside the widget floor measured in the same run."""
    def type_item(page):
        def act(k):
            box = page.get_by_role("spinbutton", name="Test image", exact=True)
            box.fill(str(100 + k))
            box.press("Enter")
        return act

    with tempfile.TemporaryDirectory() as tmp:
        floor_path = Path(tmp) / "widget_floor.py"
        floor_path.write_text(WIDGET_FLOOR_APP)
        results = {}
        for label, script, path, probe, needle, action in (
                ("Concepts (strength)", None, "/concepts?concept=long-sleeves", LIVE_PIXELS, "Strength",
                 press_live_control),
                ("Compare (test image)", None, "/compare", LIVE_PIXELS, "item 0", type_item),
                ("floor (slider → image)", floor_path, "", IMAGE_SRC, "floor image", press_slider)):
            with running_app(a.model_dir, script=script) as (url, _), browser(1280, 1400) as page:
                page.goto(url + path)
                page.wait_for_function(probe, arg=needle, timeout=60000)
                page.wait_for_timeout(1500)
                change_latencies(page, probe, needle, action(page), 2)   # warm-up: caches, first figures
                results[label] = change_latencies(page, probe, needle, action(page), a.changes)
    floor = results["floor (slider → image)"]
    print(f"{'':24s} {'change→image p50':>17s} {'p95':>7s} {'p95 ÷ floor p95':>16s} {'n':>3s}")
    for label, times in results.items():
        print(f"{label:24s} {pct(times, 50):15.0f}ms {pct(times, 95):5.0f}ms "
              f"{pct(times, 95) / pct(floor, 95):15.2f}× {len(times):3d}")


def server_side(model_dir):
    from explorer import latent as lat
    from explorer.assets import load_bundle
    from training.inference import decode_pixels as decode
    b = load_bundle(model_dir)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(b.mu), 200)
    decode(b.model, b.mu[0])
    t = time.perf_counter()
    for i in idx:
        decode(b.model, b.mu[i])
    one = (time.perf_counter() - t) / len(idx)
    t = time.perf_counter()
    for i in idx:
        z = b.mu[i]
        decode(b.model, z)
        n, _ = lat.nearest_neighbours(b.mu, z, 8, exclude=int(i))
        decode(b.model, b.mu[n])
    per_click = (time.perf_counter() - t) / len(idx)
    return one, per_click


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=25)
    p.add_argument("--model-dir", default=str(ROOT / "assets"))
    p.add_argument("--views", action="store_true", help="Concepts and Compare models: widget change → image")
    p.add_argument("--changes", type=int, default=20, help="with --views: widget changes per view")
    a = p.parse_args()
    if a.views:
        views(a)
        return

    one, per_click = server_side(a.model_dir)
    print(f"server: decode one image {one * 1000:.2f} ms; per click (decode + 8 neighbours + their decode) "
          f"{per_click * 1000:.2f} ms")

    app_marker = ("(i) => { const h = [...document.querySelectorAll('h4')].find(e => "
                  "e.innerText.includes('test image ' + i + '')); if (!h) return false; const imgs = "
                  "[...document.querySelectorAll('img')].filter(x => x.complete && x.naturalWidth > 0); "
                  "return document.body.innerText.includes('decoded from its latent mean') && imgs.length > "
                  "0; }")
    floor_marker = ("(i) => { const f = [...document.querySelectorAll('[data-testid=\"stImage\"], "
                    "[data-testid=\"stImageContainer\"]')].find(e => "
                    "e.parentElement.innerText.includes('latent mean ' + i)); if (!f) return false; const "
                    "img = f.querySelector('img'); return img && img.complete && img.naturalWidth > 0; }")

    with tempfile.TemporaryDirectory() as tmp:
        floor_path = Path(tmp) / "floor_app.py"
        floor_path.write_text(FLOOR_APP)
        results = {}
        for label, script, traces, marker in (("explorer", None, None, app_marker),
                                              ("floor (do-nothing app)", floor_path, ["p"], floor_marker)):
            t_start = time.perf_counter()
            with running_app(a.model_dir, script=script) as (url, _), browser(1280, 800) as page:
                traces_needed = 2 if script is None else 1
                page.goto(url)
                wait_for_map(page, min_traces=traces_needed)
                cold = time.perf_counter() - t_start
                warm = []
                for _ in range(3):
                    t = time.perf_counter()
                    page.reload()
                    wait_for_map(page, min_traces=traces_needed)
                    warm.append(time.perf_counter() - t)
                page.wait_for_timeout(1500)
                names = traces or page.evaluate(
                    "() => document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')"
                    "._fullData.map(d => d.name).filter(n => n !== 'empty space' && n !== 'selected')")
                times, misses = click_latencies(page, names, a.clicks, marker)
            results[label] = (cold, warm, times, misses)
    print(f"{'':24s} {'server start→map':>16s} {'page→map warm':>14s} {'click→image p50':>16s} {'p95':>7s} "
          f"{'n':>3s}")
    for label, (cold, warm, times, misses) in results.items():
        print(f"{label:24s} {cold:15.2f}s {np.median(warm):13.2f}s {pct(times, 50):14.0f}ms "
              f"{pct(times, 95):5.0f}ms {len(times):3d}" + (f" ({misses} missed)" if misses else ""))


if __name__ == "__main__":
    main()
