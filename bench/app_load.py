"""Many users at once: N concurrent sessions against one explorer server, or several behind HAProxy.

Each session (its own Streamlit session) loops for --seconds: click a map point and wait for its
decoded image; move a latent slider and wait for the new image; draw new category samples and
wait for the grid. Reports errors (timeouts, tracebacks or error boxes on the page, images that
do not load), the latency of each action under load (p50/p95) and the server process's peak
resident memory, sampled every 0.2 s.

    .venv/bin/python bench/app_load.py [--sessions 20] [--seconds 60] [--client ws|browser]
                                       [--think-seconds 5] [--url URL [--pids P1,P2]]
                                       [--replicas 1,2]

By default the script starts one server on 127.0.0.1 and measures it. ``--url`` drives a server
that is already running (e.g. ``scripts/serve.sh``'s balancer; ``--pids`` names the processes whose
memory to watch). ``--replicas 1,2`` starts ``scripts/serve.sh --replicas N`` for each N in turn
and drives the same load through HAProxy, one after the other in the same run: actions per minute
of each against the first, sessions per replica (from the affinity cookie), peak memory per replica.

With no think time (the default) every session acts again the moment its image arrives, a heavier
load than the same number of people, who look at each result first; ``--think-seconds T`` gives
each session exponential pauses of mean T seconds between actions.

``--client ws`` (default): each session is a websocket client that speaks Streamlit's protocol
(``appdriver/protocol.py``): it sends the widget states a browser would send and fetches the
images the page shows, but renders nothing, so the machine's CPU goes to the server, as it does
when the users sit at their own computers. Latency runs from sending the input to the image's
bytes having arrived.

``--client browser``: each session is a real headless Chromium context that hovers and clicks
the WebGL map. On a 2-core machine 20 software-rendered browsers take the whole CPU, so this
measures the test rig more than the server; use it with a few sessions.
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
sys.path.insert(0, str(ROOT))
from appdriver.browser import CHROMIUM, CHROMIUM_ARGS, FIND_IMAGE, PLOT  # noqa: E402
from appdriver.server import running_app, serving  # noqa: E402
from appdriver.visitors import TIMEOUT_MS, Stats, drive_ws, rss_mb, warm  # noqa: E402

MAP_READY = f"""() => {{ const gd = document.querySelector('{PLOT}');
    return gd && gd._fullData && gd._fullData.length >= 2 && gd.querySelector('canvas'); }}"""
POINTS = f"""(name) => {{ const gd = document.querySelector('{PLOT}');
    const t = gd._fullData.findIndex(d => d.name === name), d = gd._fullData[t];
    const L = gd._fullLayout, r = gd.getBoundingClientRect(), out = [];
    for (let i = 0; i < Math.min(d.x.length, 400); i++)
        out.push({{x: r.left + L.xaxis._offset + L.xaxis.l2p(d.x[i]),
                  y: r.top + L.yaxis._offset + L.yaxis.l2p(d.y[i]), curve: t, custom: d.customdata[i]}});
    return out; }}"""
HOVERED = f"""() => {{ const gd = document.querySelector('{PLOT}'); const h = (gd && gd._hoverdata) || [];
    const p = h.find(p => typeof p.customdata === 'number' && p.customdata >= 0);
    return p ? p.customdata : null; }}"""
CHANGED = """([caption, before]) => {
    for (const f of document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"]')) {
      const img = f.querySelector('img'); const cap = f.parentElement ? f.parentElement.innerText : '';
      if (img && cap.includes(caption) && img.complete && img.naturalWidth > 0 && img.src !== before)
        return true; }
    return false; }"""


async def _view(page, name: str, ready_text: str):
    await page.get_by_text(name, exact=True).first.click()
    await page.wait_for_function(f"() => document.body.innerText.includes({ready_text!r})",
                                 timeout=TIMEOUT_MS)


async def click_point(page, rng, stats):
    await _view(page, "Latent map", "Map projection")
    await page.wait_for_function(MAP_READY, timeout=TIMEOUT_MS)
    await page.wait_for_timeout(500)  # the chart redraws once after it appears (browser-testing.md)
    name = rng.choice(["Trouser", "Bag", "Ankle boot", "Sneaker", "Sandal", "T-shirt/top"])
    points = await page.evaluate(POINTS, name)
    for _attempt in range(3):
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


LIVE_DRAWN = """([before]) => { const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot &&
    e.shadowRoot.querySelector('.live-image'));
    const c = host && host.shadowRoot.querySelector('.live-image');
    return !!c && !!c.dataset.latent && c.dataset.latent !== before; }"""
DRAWN_LATENT = """() => { const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot &&
    e.shadowRoot.querySelector('.live-image'));
    return host ? host.shadowRoot.querySelector('.live-image').dataset.latent || '' : null; }"""


async def move_slider(page, rng, stats):
    """Three presses of an arrow key on a latent slider: with live decoding, until the browser has
    drawn the new latent (each press also tells the server, as a release does); where the server
    decodes, until its new image has loaded."""
    await page.get_by_text("Latent sliders", exact=True).first.click()
    shown = f"() => ({DRAWN_LATENT})() || document.body.innerText.includes('moved from')"
    await page.wait_for_function(shown, timeout=TIMEOUT_MS)
    live = await page.evaluate(DRAWN_LATENT)
    selector = ".live-slider input" if live else '[data-testid="stSlider"] input[type="range"]'
    before = live if live else await (await page.wait_for_function(FIND_IMAGE, arg="moved from",
                                                                    timeout=TIMEOUT_MS)).json_value()
    sliders = page.locator(selector)
    await sliders.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    slider = sliders.nth(rng.randrange(min(8, await sliders.count())))
    await slider.focus()
    direction = rng.choice(["ArrowRight", "ArrowLeft"])  # a random walk of 0.03 steps stays inside ±3
    t0 = time.perf_counter()
    for _ in range(3):
        await page.keyboard.press(direction)
    if live:
        await page.wait_for_function(LIVE_DRAWN, arg=[before], timeout=TIMEOUT_MS)
    else:
        await page.wait_for_function(CHANGED, arg=["moved from", before], timeout=TIMEOUT_MS)
    stats.latency["slider"].append(time.perf_counter() - t0)


async def new_samples(page, rng, stats):
    await _view(page, "Sampling", "samples from the")
    before = await page.wait_for_function(FIND_IMAGE, arg="samples from the", timeout=TIMEOUT_MS)
    before = await before.json_value()
    seed = page.locator('[data-testid="stNumberInput"] input').nth(1)
    t0 = time.perf_counter()
    await seed.fill(str(rng.randrange(1, 10**6)))
    await seed.press("Enter")
    await page.wait_for_function(CHANGED, arg=["samples from the", before], timeout=TIMEOUT_MS)
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
            stats.errors.append(f"session {k}: {action.__name__}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0][:120]}")
    await context.close()


async def drive_browser(url, sessions, seconds, stats):
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


def measure(url: str, pids: dict[str, int], a, warm_urls: list[str] = ()) -> dict:
    """Drive ``url`` with the configured sessions while watching the memory of ``pids`` (name → pid);
    print the figures and return them."""
    asyncio.run(warm(list(warm_urls)))
    stats, baseline = Stats(), Stats()
    idle = {name: rss_mb(pid) for name, pid in pids.items()}
    peak = dict(idle)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_mb(pid))
            time.sleep(0.2)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.time()
    if a.client == "ws":
        asyncio.run(drive_ws(url, a.sessions, a.seconds, stats, baseline, a.baseline_seconds,
                             a.think_seconds))
    else:
        asyncio.run(drive_browser(url, a.sessions, a.seconds, stats))
    stop.set()
    watcher.join()
    wall = time.time() - t0
    alive = all(Path(f"/proc/{pid}").exists() for pid in pids.values())
    think = f", mean think time {a.think_seconds:g} s" if a.think_seconds else ", no think time"
    print(f"{a.sessions} concurrent {'websocket' if a.client == 'ws' else 'browser'} sessions for "
          f"{a.seconds:.0f} s ({wall:.0f} s wall{think if a.client == 'ws' else ''}), {stats.actions} "
          f"actions ({stats.actions / a.seconds * 60:.0f} per minute), "
          f"server{'s' if len(pids) > 1 else ''} {'still running' if alive else 'NOT ALL RUNNING'}")
    if len(stats.replicas) > 1 or "-" not in stats.replicas:
        print("sessions per replica: " + ", ".join(f"{r} {n}" for r, n in sorted(stats.replicas.items())))
    print(f"errors: {len(stats.errors)} (map clicks aimed again after a click did not register: "
          f"{stats.retries})")
    for e in stats.errors[:20]:
        print(f"  {e}")
    for name, xs in stats.latency.items():
        if xs:
            alone = baseline.latency[name]
            ratio = (f"  ({np.percentile(xs, 50) / np.percentile(alone, 50):.1f}× the p50 of one session "
                     f"alone, {np.percentile(alone, 50) * 1000:.0f} ms)" if alone else "")
            print(f"{name:>7s} → image: n={len(xs):4d}  p50 {np.percentile(xs, 50) * 1000:7.0f} ms  "
                  f"p95 {np.percentile(xs, 95) * 1000:7.0f} ms{ratio}")
    if baseline.errors:
        print(f"errors while alone: {len(baseline.errors)}: {baseline.errors[:3]}")
    for name in pids:
        print(f"memory of {name}: {idle[name]:.0f} MB after one session, peak {peak[name]:.0f} MB (RSS)")
    return {"actions": stats.actions, "errors": len(stats.errors), "peak_mb": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model-dir", default=str(ROOT / "assets"))
    ap.add_argument("--baseline-seconds", type=float, default=15,
                    help="websocket client: one session alone for this long first, as the unloaded reference")
    ap.add_argument("--client", choices=("ws", "browser"), default="ws",
                    help="websocket protocol clients (default) or real headless Chromium contexts")
    ap.add_argument("--think-seconds", type=float, default=0.0,
                    help="websocket client: mean pause (exponential) between a session's actions, as a "
                         "person looks at each result; 0 (default) = back to back, the heaviest load")
    ap.add_argument("--url", help="drive this running server or balancer instead of starting one")
    ap.add_argument("--pids", default="", help="with --url: comma-separated pids whose memory to watch")
    ap.add_argument("--replicas", help="comma-separated replica counts: start scripts/serve.sh with each in "
                                       "turn and drive it through HAProxy (e.g. 1,2)")
    a = ap.parse_args()
    if a.think_seconds < 0:
        ap.error(f"--think-seconds {a.think_seconds}: expected ≥ 0")
    if a.think_seconds and a.client != "ws":
        ap.error("--think-seconds: only with --client ws")
    if a.url and a.replicas:
        ap.error("--url and --replicas: choose one")
    if a.url:
        measure(a.url.rstrip("/"), {f"pid {p}": int(p) for p in a.pids.split(",") if p.strip()}, a)
    elif a.replicas:
        counts = [int(n) for n in a.replicas.split(",")]
        results = []
        for n in counts:
            print(f"\n--- scripts/serve.sh --replicas {n}: HAProxy in front of {n} Streamlit process(es)")
            with serving(n, a.model_dir) as (url, replicas, _):
                results.append(measure(url, {f"replica {r.name}": r.pid for r in replicas}, a,
                                       [f"http://127.0.0.1:{r.port}" for r in replicas]))
        print()
        for n, r in zip(counts, results, strict=True):
            print(f"{n} replica(s): {r['actions'] / a.seconds * 60:.0f} actions per minute "
                  f"({r['actions'] / max(1, results[0]['actions']):.2f}× {counts[0]} replica(s)), "
                  f"{r['errors']} errors, peak RSS per replica {max(r['peak_mb'].values()):.0f} MB")
    else:
        with running_app(a.model_dir, timeout=120) as (url, proc):
            measure(url, {"the server": proc.pid}, a, [url])


if __name__ == "__main__":
    main()
