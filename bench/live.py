"""Live decoding in headless Chromium: how fast the latent sliders follow a drag, what a first and a
second visit cost, and what the server hears.

One server on 127.0.0.1 (the shipped model), one browser. For each CPU throttle (Chromium's
``Emulation.setCPUThrottlingRate``; 4× stands in for a slow laptop) a slider of /sliders is moved
once per animation frame for --seconds, as a drag does, and the page reports:
  - frames/s of the decoded image and of the traversal strip (11 images, drawn a half per frame);
  - input → pixels: from a slider's input event to its image painted, p50 and p95;
  - decode + paint per frame, p50 and p95;
  - what the page sent the server during the drag, and after one release.
Then the same drag on each view with one control over rows of frames (Interpolation's scrubber and the
hybrids' mix, a concept's strength, Sampling's noise scale with 16 and 64 samples, Variations'
strength): frames/s, input → pixels and decode + paint, with the latents decoded per frame.
Then the first visit and a second one: from opening /sliders to the first live frame, beside the
page's own load (its title shown), the bytes the page fetched, and the server's CPU seconds for it.
A first visit is a new browser context (empty caches); the second reloads in the same context.

    .venv/bin/python bench/live.py [--seconds 4] [--throttle 1,4] [--views all|none]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from appdriver.browser import (  # noqa: E402
    browser,
    count_websocket_sends,
    live_cells,
    wait_for_live,
    websocket_sends,
)
from appdriver.server import running_app  # noqa: E402
from appdriver.visitors import cpu_seconds  # noqa: E402

VIEW = "/sliders?start=mean&cat=bag"
# Move the first slider once per animation frame for `seconds`, back and forth, as a drag does.
DRAG = """async ([seconds]) => {
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot &&
    e.shadowRoot.querySelector('.live-slider input'));
  const input = host.shadowRoot.querySelector('.live-slider input');
  const f = window.__liveFrames, c0 = f.count, s0 = f.strips;
  f.times.length = 0; f.latency.length = 0;
  let v = 0, dir = 1;
  const t0 = performance.now();
  await new Promise(done => { function step() {
      v += dir * 0.05; if (Math.abs(v) > 2.9) dir = -dir;
      input.value = v.toFixed(2); input.dispatchEvent(new Event('input', {bubbles: true}));
      if (performance.now() - t0 < seconds * 1000) requestAnimationFrame(step); else done(); }
    requestAnimationFrame(step); });
  await new Promise(r => setTimeout(r, 200));   // the last frames
  const dt = (performance.now() - t0) / 1000;
  return {frames: (f.count - c0) / dt, strips: (f.strips - s0) / dt, times: f.times.slice(),
          latency: f.latency.slice()};
}"""
# The same drag for the control labelled `label` (views/live.js's Frames), across its range and back.
DRAG_CONTROL = """async ([label, seconds]) => {
  const root = [...document.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)
    .find(r => [...r.querySelectorAll('.live-control .live-label')]
      .some(l => l.textContent.trim() === label));
  const input = root.querySelector('.live-control input');
  const lo = +input.min, hi = +input.max, step = +input.step;
  const f = window.__liveFrames, c0 = f.count;
  f.times.length = 0; f.latency.length = 0;
  let v = +input.value, dir = 1;
  const t0 = performance.now();
  await new Promise(done => { function next() {
      if (v + dir * step > hi + 1e-9 || v + dir * step < lo - 1e-9) dir = -dir;
      v += dir * step;
      input.value = v.toFixed(4); input.dispatchEvent(new Event('input', {bubbles: true}));
      if (performance.now() - t0 < seconds * 1000) requestAnimationFrame(next); else done(); }
    requestAnimationFrame(next); });
  await new Promise(r => setTimeout(r, 300));
  const dt = (performance.now() - t0) / 1000;
  return {frames: (f.count - c0) / dt, times: f.times.slice(), latency: f.latency.slice(),
          latents: root.querySelectorAll('.live-frame canvas').length};
}"""
# (what, address, the control's label)
FRAME_VIEWS = [("Interpolation: scrubber (3 frames)", "/interpolation?a=5&b=6",
                "Position between A (0) and B (1)"),
               ("Hybrids: mix (6 pairs)", "/interpolation", "Mix (0 = first, 1 = second)"),
               ("Concepts: strength (9 frames)", "/concepts?concept=long-sleeves", "Strength"),
               ("Sampling: noise (16)", "/sampling?cat=bag&n=16", "Noise scale"),
               ("Sampling: noise (64)", "/sampling?cat=bag&n=64", "Noise scale"),
               ("Variations: strength (16)", "/variations?cat=bag", "Strength T")]
RELEASE = """() => { const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot &&
    e.shadowRoot.querySelector('.live-slider input'));
  const input = host.shadowRoot.querySelector('.live-slider input');
  input.dispatchEvent(new Event('change', {bubbles: true})); }"""


def percentile(xs, q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def visit(context, url: str, pid: int) -> dict:
    """Open the view in a page of ``context``; when its title showed, when the first live frame did,
    the bytes fetched and the server's CPU seconds meanwhile."""
    page = context.new_page()
    fetched = []
    page.on("requestfinished", lambda r: fetched.append(max(0, r.sizes()["responseBodySize"])))
    cpu = cpu_seconds(pid)
    t0 = time.perf_counter()
    page.goto(url + VIEW)
    page.get_by_role("heading", name="Latent sliders").wait_for(timeout=60000)
    titled = time.perf_counter() - t0
    wait_for_live(page)
    live = time.perf_counter() - t0
    page.wait_for_timeout(500)
    out = {"page": titled, "live": live, "bytes": sum(fetched), "server_cpu": cpu_seconds(pid) - cpu}
    page.close()
    return out


def frame_views(page, url: str, seconds: float) -> None:
    """The drag on each view of FRAME_VIEWS; then every picture the browser drew against the server's
    decode of the same latent, rounded to 8 bits: the largest difference and the share that differ."""
    import numpy as np

    from training import load_model
    from training.inference import decode_pixels
    model = load_model(ROOT / "assets")
    print(f"\n{'view':36s} | frames/s | frames shown | input → pixels p50 / p95 | "
          "decode + paint p50 / p95 | sent while dragging | pixels ≠ the server's")
    for what, path, label in FRAME_VIEWS:
        page.goto(url + path)
        wait_for_live(page)
        page.wait_for_timeout(1500)
        sends = websocket_sends(page)
        d = page.evaluate(DRAG_CONTROL, [label, seconds])
        sent = websocket_sends(page) - sends
        root = page.locator(".live", has=page.locator(".live-label", has_text=label)).first
        cells = [(latent, grey) for latent, grey in live_cells(root) if latent]
        drawn = np.array([grey for _, grey in cells])
        latents = np.array([z for z, _ in cells], np.float32)
        server = (np.clip(decode_pixels(model, latents), 0, 1) * 255).round()
        diff = np.abs(drawn - server.reshape(len(cells), -1))
        print(f"{what:36s} | {d['frames']:8.1f} | {d['latents']:12d} | "
              f"{percentile(d['latency'], .5):8.1f} / {percentile(d['latency'], .95):5.1f} ms | "
              f"{percentile(d['times'], .5):9.1f} / {percentile(d['times'], .95):5.1f} ms | "
              f"{sent} messages | max {diff.max():.0f}/255, {int((diff > 0).sum())} of {diff.size:,}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=4.0, help="length of each drag (default: %(default)s)")
    p.add_argument("--throttle", default="1,4",
                   help="CPU throttle rates, comma-separated (default: %(default)s)")
    p.add_argument("--views", choices=("all", "none"), default="all",
                   help="also drag the control of each view with rows of frames (default: %(default)s)")
    a = p.parse_args()
    with running_app(ROOT / "assets", timeout=120) as (url, proc), browser(1280, 1000) as page:
        count_websocket_sends(page)
        page.goto(url + VIEW)
        wait_for_live(page)
        page.wait_for_timeout(1000)
        cdp = page.context.new_cdp_session(page)
        print(f"{'CPU':>5} | image frames/s | strips/s | input → pixels p50 / p95 | decode + paint p50 / "
              "p95 | sent while dragging")
        for rate in (float(r) for r in a.throttle.split(",")):
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
            sends = websocket_sends(page)
            d = page.evaluate(DRAG, [a.seconds])
            sent = websocket_sends(page) - sends
            print(f"{rate:4g}× | {d['frames']:14.1f} | {d['strips']:8.1f} | "
                  f"{percentile(d['latency'], .5):8.1f} / {percentile(d['latency'], .95):5.1f} ms | "
                  f"{percentile(d['times'], .5):9.1f} / {percentile(d['times'], .95):5.1f} ms | "
                  f"{sent} messages")
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        sends = websocket_sends(page)
        page.evaluate(RELEASE)
        page.wait_for_timeout(1500)
        print(f"one release: {websocket_sends(page) - sends} message(s) to the server")

        if a.views == "all":
            frame_views(page, url, a.seconds)

        first_visits, second_visits = [], []
        for _ in range(3):
            context = page.context.browser.new_context(viewport={"width": 1280, "height": 1000})
            first_visits.append(visit(context, url, proc.pid))
            second_visits.append(visit(context, url, proc.pid))
            context.close()
        for name, runs in (("first visit (empty caches)", first_visits), ("second visit", second_visits)):
            print(f"{name}: page {statistics.median(r['page'] for r in runs):.2f} s, first live frame "
                  f"{statistics.median(r['live'] for r in runs):.2f} s, "
                  f"{statistics.median(r['bytes'] for r in runs) / 1e6:.1f} MB fetched, server CPU "
                  f"{statistics.median(r['server_cpu'] for r in runs):.2f} s (medians of {len(runs)})")


if __name__ == "__main__":
    main()
