"""Many users at once: one explorer server, N concurrent real browser sessions on 127.0.0.1.

Each session (its own browser context, so its own Streamlit session) loops for --seconds:
click a map point and wait for its decoded image; move a latent slider and wait for the image to
change; draw new category samples and wait for the grid to change. Reports errors (timeouts,
exceptions shown on the page), the latency of each action under load (p50/p95), and the server
process's peak resident memory, sampled every 0.2 s.

    .venv/bin/python bench/app_load.py [--sessions 20] [--seconds 60] [--model-dir assets]

All sessions share one headless Chromium (separate contexts), as a classroom on one machine would
share one server; on a 2-core machine the browsers compete with the server for the CPU, so the
latencies are an upper bound on what remote users would see.
"""
import argparse
import asyncio
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from app_driver import CHROMIUM, CHROMIUM_ARGS, FIND_IMAGE, PLOT, running_app  # noqa: E402

TIMEOUT_MS = 30_000
MAP_READY = f"""() => {{ const gd = document.querySelector('{PLOT}');
    return gd && gd._fullData && gd._fullData.length >= 2 && gd.querySelector('canvas'); }}"""
POINTS = f"""(name) => {{ const gd = document.querySelector('{PLOT}');
    const t = gd._fullData.findIndex(d => d.name === name), d = gd._fullData[t];
    const L = gd._fullLayout, r = gd.getBoundingClientRect(), out = [];
    for (let i = 0; i < Math.min(d.x.length, 400); i++)
        out.push({{x: r.left + L.xaxis._offset + L.xaxis.l2p(d.x[i]), y: r.top + L.yaxis._offset + L.yaxis.l2p(d.y[i]),
                  curve: t, custom: d.customdata[i]}});
    return out; }}"""
HOVERED = f"""() => {{ const gd = document.querySelector('{PLOT}'); const h = (gd && gd._hoverdata) || [];
    const p = h.find(p => typeof p.customdata === 'number' && p.customdata >= 0); return p ? p.customdata : null; }}"""
CHANGED = """([caption, before]) => { for (const f of document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"]')) {
    const img = f.querySelector('img'); const cap = f.parentElement ? f.parentElement.innerText : '';
    if (img && cap.includes(caption) && img.complete && img.naturalWidth > 0 && img.src !== before) return true; }
    return false; }"""


class Stats:
    def __init__(self):
        self.latency = {"click": [], "slider": [], "sample": []}
        self.errors: list[str] = []
        self.actions = 0
        self.retries = 0


async def _view(page, name: str, ready_text: str):
    await page.get_by_text(name, exact=True).first.click()
    await page.wait_for_function(f"() => document.body.innerText.includes({ready_text!r})", timeout=TIMEOUT_MS)


async def click_point(page, rng, stats):
    await _view(page, "Latent map", "Map projection")
    await page.wait_for_function(MAP_READY, timeout=TIMEOUT_MS)
    await page.wait_for_timeout(500)  # the chart redraws once after it appears (browser-testing.md)
    name = rng.choice(["Trouser", "Bag", "Ankle boot", "Sneaker", "Sandal", "T-shirt/top"])
    points = await page.evaluate(POINTS, name)
    for attempt in range(3):
        for _ in range(8):
            pos = rng.choice(points)
            await page.mouse.move(pos["x"] + 3, pos["y"] + 3)
            await page.mouse.move(pos["x"], pos["y"])
            await page.wait_for_timeout(150)
            hovered = await page.evaluate(HOVERED)  # Plotly selects what it hovers: any test point
            if hovered is not None:
                break
        else:
            raise RuntimeError("hover never registered on a map point")
        t0 = time.perf_counter()
        await page.mouse.click(pos["x"], pos["y"])
        try:
            # the heading names the clicked test image; its decoded image is then loaded
            await page.wait_for_function(f"() => [...document.querySelectorAll('h4')].some(h => "
                                         f"h.innerText.endsWith('test image {int(hovered)}'))",
                                         timeout=TIMEOUT_MS // 3)
        except Exception:
            stats.retries += 1  # the click did not register (a redraw swallowed it): aim again
            continue
        await page.wait_for_function(FIND_IMAGE, arg="decoded from its latent mean", timeout=TIMEOUT_MS)
        stats.latency["click"].append(time.perf_counter() - t0)
        await page.wait_for_timeout(600)  # not a double-click next time
        return
    raise RuntimeError("three clicks on map points showed no decoded image")


async def move_slider(page, rng, stats):
    await _view(page, "Latent sliders", "moved from")
    before = await page.wait_for_function(FIND_IMAGE, arg="moved from", timeout=TIMEOUT_MS)
    before = await before.json_value()
    sliders = page.locator('[data-testid="stSlider"] input[type="range"]')
    await sliders.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    slider = sliders.nth(rng.randrange(min(8, await sliders.count())))
    await slider.focus()
    direction = rng.choice(["ArrowRight", "ArrowLeft"])  # a random walk of 0.03 steps stays inside ±3
    t0 = time.perf_counter()
    for _ in range(3):
        await page.keyboard.press(direction)
    await page.wait_for_function(CHANGED, arg=["moved from", before], timeout=TIMEOUT_MS)
    stats.latency["slider"].append(time.perf_counter() - t0)


async def new_samples(page, rng, stats):
    await _view(page, "Category sampling", "samples around the")
    before = await page.wait_for_function(FIND_IMAGE, arg="samples around the", timeout=TIMEOUT_MS)
    before = await before.json_value()
    seed = page.locator('[data-testid="stNumberInput"] input').nth(1)
    t0 = time.perf_counter()
    await seed.fill(str(rng.randrange(1, 10**6)))
    await seed.press("Enter")
    await page.wait_for_function(CHANGED, arg=["samples around the", before], timeout=TIMEOUT_MS)
    stats.latency["sample"].append(time.perf_counter() - t0)


async def session(browser, url: str, k: int, deadline: float, stats: Stats):
    rng = random.Random(k)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(url, timeout=120_000)
        await page.wait_for_function(MAP_READY, timeout=120_000)
    except Exception as e:
        stats.errors.append(f"session {k}: page never loaded ({type(e).__name__})")
        return
    actions = [click_point, move_slider, new_samples]
    i = k
    while time.time() < deadline:
        action = actions[i % 3]
        i += 1
        try:
            await action(page, rng, stats)
            stats.actions += 1
            if await page.locator('[data-testid="stException"]').count():
                stats.errors.append(f"session {k}: exception shown after {action.__name__}")
        except Exception as e:
            stats.errors.append(f"session {k}: {action.__name__}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    await context.close()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def drive(url, sessions, seconds, stats):
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        deadline = time.time() + seconds
        # Staggered arrivals (a class opening the link), then everyone works until the deadline.
        tasks = []
        for k in range(sessions):
            tasks.append(asyncio.create_task(session(browser, url, k, deadline, stats)))
            await asyncio.sleep(0.5)
        await asyncio.gather(*tasks)
        await browser.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model-dir", default=str(ROOT / "assets"))
    a = ap.parse_args()
    stats = Stats()
    with running_app(a.model_dir, timeout=120) as (url, proc):
        idle = rss_mb(proc.pid)
        peak = [idle]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.2)
        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        t0 = time.time()
        asyncio.run(drive(url, a.sessions, a.seconds, stats))
        stop.set(); watcher.join()
        wall = time.time() - t0
        alive = proc.poll() is None
    print(f"{a.sessions} concurrent sessions for {a.seconds:.0f} s ({wall:.0f} s wall), {stats.actions} actions, "
          f"server {'still running' if alive else 'DIED'}")
    print(f"errors: {len(stats.errors)} (map clicks aimed again after a click did not register: {stats.retries})")
    for e in stats.errors[:20]:
        print(f"  {e}")
    for name, xs in stats.latency.items():
        if xs:
            print(f"{name:>7s} → image: n={len(xs):4d}  p50 {np.percentile(xs, 50) * 1000:7.0f} ms  "
                  f"p95 {np.percentile(xs, 95) * 1000:7.0f} ms")
    print(f"server memory: {idle:.0f} MB idle after start, peak {peak[0]:.0f} MB (RSS)")


if __name__ == "__main__":
    main()
