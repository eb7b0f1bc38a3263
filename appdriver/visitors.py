"""Simulated visitors of the explorer over Streamlit's websocket protocol (``appdriver/protocol.py``):
each one clicks a map point, moves a latent slider and draws new samples, waits for each image's
bytes, and counts its latencies and errors. The load benchmarks (bench/app_load.py,
bench/app_hostile.py, bench/operation_cost.py) and the protocol tests drive the app with them.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import websockets
from PIL import Image

from appdriver.protocol import AppSession, ProtocolError, plotly_click, plotly_traces
from training.data import CATEGORIES
from training.synthesis.prepare import MAX_PIXELS

TIMEOUT_MS = 30_000
LIVE = "fashion_vae_live"   # the live views' component (views/live.py)


class Stats:
    """What a group of visitors did: latencies per kind of action, errors, actions, retries, replicas."""

    def __init__(self):
        self.latency = {"click": [], "slider": [], "sample": []}
        self.errors: list[str] = []
        self.actions = 0
        self.retries = 0
        self.replicas: dict[str, int] = {}   # sessions per replica, behind a balancer


class WsUser:
    """One user's session over the websocket: the same three actions as the browser sessions."""

    def __init__(self, url: str, rng: random.Random, stats: Stats):
        self.s, self.rng, self.stats = AppSession(url, timeout=TIMEOUT_MS / 1000), rng, stats
        self.moved: dict[int, float] = {}   # the live sliders this visitor moved, as its browser keeps them

    async def start(self):
        self.page = await self.s.connect()
        self.view = ""

    async def goto(self, view: str):
        if self.view != view:
            self.page = await self.s.open(view)
            self.view = view
            self.check(self.page, f"opening /{view}")

    def check(self, run, what: str):
        for problem in run.problems():
            self.stats.errors.append(f"{what}: {problem}")

    async def timed(self, kind: str, t0: float, run, caption: str):
        urls = run.image_urls(caption)
        if not urls:
            shown = [k for k, _ in run.elements]
            raise ProtocolError(f"no image captioned {caption!r} after the {kind} (page: {shown})")
        await self.s.fetch(urls[0])
        self.stats.latency[kind].append(time.perf_counter() - t0)
        self.check(run, kind)

    async def click_point(self):
        await self.goto("")
        charts = self.page.of_kind("plotly_chart")
        if not charts:
            raise ProtocolError("the Latent map view shows no map")
        chart = charts[0]
        traces = plotly_traces(chart)
        curve = self.rng.choice([i for i, t in enumerate(traces) if t["name"] in CATEGORIES])
        index = self.rng.randrange(len(traces[curve]["customdata"]))
        t0 = time.perf_counter()
        self.page = run = await self.s.set(chart.id, string_value=plotly_click(traces[curve], curve, index))
        if f"test image {traces[curve]['customdata'][index]}" not in run.text():
            charts = run.of_kind("plotly_chart")
            same = bool(charts) and charts[0].id == chart.id
            raise ProtocolError(f"the click on test image {traces[curve]['customdata'][index]} did not "
                                f"select it (chart id {'unchanged' if same else 'changed'})")
        await self.timed("click", t0, run, "decoded from its latent mean")

    async def move_slider(self):
        """Let a latent slider go a step from where it was. With live decoding the browser drew the
        drag itself and sends only the release (views/live.js): the action ends when the server has
        written the link. Where the view decodes on the server, its image must arrive too."""
        await self.goto("sliders")
        step = self.rng.choice([-0.03, 0.03])  # a random walk that stays inside the slider
        live = self.live("live_sliders")
        if live:
            data = json.loads(live[0].json)
            dim, _, lo, hi, value = self.rng.choice(data["dims"][:8])
            self.moved[dim] = min(hi, max(lo, round(self.moved.get(dim, value) + step, 2)))
            t0 = time.perf_counter()
            released = {"dims": {str(d): v for d, v in self.moved.items()}, "at": t0}
            self.page = run = await self.s.set(live[0].id, json_value=json.dumps({"moved": released,
                                                                                  "failed": None}))
            self.stats.latency["slider"].append(time.perf_counter() - t0)
            self.check(run, "slider")
            return
        sliders = [w for w in self.page.of_kind("slider") if "-z_" in w.id][:8]
        slider = self.rng.choice(sliders)
        known = self.s.states.get(slider.id)
        value = known.double_array_value.data[0] if known else (slider.value or slider.default)[0]
        value = min(slider.max, max(slider.min, round(value + step, 2)))
        t0 = time.perf_counter()
        self.page = run = await self.s.set(slider.id, double_array_value=[value])
        await self.timed("slider", t0, run, "moved from")

    def live(self, key: str) -> list:
        """The live component ``key`` of the page (views/keys.py's LIVE_* names), if it is there."""
        return [c for c in self.page.of_kind("bidi_component") if c.component_name == LIVE and
                c.id.endswith(f"-{key}")]

    async def new_samples(self):
        """A new seed. With live decoding the server sends the samples' latents and the browser decodes
        them: the action ends with them; otherwise with the samples' picture fetched."""
        await self.goto("sampling")
        seed = self.page.widget("number_input", "sample_seed")
        value = self.rng.randrange(1, 10**6)
        t0 = time.perf_counter()
        self.page = run = await self.s.set(seed.id, double_value=float(value))
        live = self.live("live_samples")
        if not live:
            await self.timed("sample", t0, run, "samples from the")
            return
        title = json.loads(live[0].json)["rows"][0]["title"]
        if f"seed {value}" not in title:
            raise ProtocolError(f"the new seed {value} did not reach the samples ({title!r})")
        self.stats.latency["sample"].append(time.perf_counter() - t0)
        self.check(run, "sample")


async def ws_session(url: str, k: int, deadline: float, stats: Stats, think: float = 0.0):
    rng = random.Random(k)
    user = WsUser(url, rng, stats)
    try:
        await user.start()
    except Exception as e:
        stats.errors.append(f"session {k}: never connected ({type(e).__name__}: {e})")
        return
    replica = user.s.cookies.get("explorer_replica", "-")
    stats.replicas[replica] = stats.replicas.get(replica, 0) + 1
    actions = [user.click_point, user.move_slider, user.new_samples]
    i = k
    while time.time() < deadline:
        action = actions[i % 3]
        i += 1
        try:
            await action()
            stats.actions += 1
        except Exception as e:
            stats.errors.append(f"session {k}: {action.__name__}: {type(e).__name__}: {str(e)[:120]}")
            if isinstance(e, (TimeoutError, ConnectionError, websockets.ConnectionClosed)):
                break  # a dead connection stays dead; a browser would show "connecting…"
        if think > 0:  # a person looks at the result before the next click: exponential pauses
            await asyncio.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.time())))
    await user.s.close()


async def drive_ws(url, sessions, seconds, stats, baseline: Stats | None = None, baseline_seconds: float = 0,
                   think: float = 0.0):
    if baseline is not None and baseline_seconds > 0:  # one user alone first: the same server, unloaded
        await ws_session(url, sessions, time.time() + baseline_seconds, baseline)
    deadline = time.time() + seconds
    tasks = []
    for k in range(sessions):  # staggered arrivals, as when a class opens the link
        tasks.append(asyncio.create_task(ws_session(url, k, deadline, stats, think)))
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def warm(urls: list[str]) -> None:
    """One session on each server directly, so every replica has loaded the model before the clock runs."""
    for url in urls:
        s = AppSession(url, timeout=120)
        await s.connect()
        await s.close()


# --- what a hostile visitor asks for (bench/app_hostile.py, bench/operation_cost.py) -------------------
BAD_LINKS = [("sampling", "cat=../../etc&n=100000&seed=-1&noise=nan&sampler=%00"),
             ("", "item=99999999&map=../x&a=-5&at=1e308,1e308"),
             ("concepts", "concept=../../etc/passwd&s=1e9"),
             ("compare", "with=/etc&item=-1&cat=99&seed=abc"),
             ("sliders", "start=mean&cat=bag&dims=100000&z=0:1e9,5000:2")]


def largest_upload(limit_mb: int) -> bytes:
    """A PNG of noise (it does not compress) as large as the server takes: under its upload size
    limit and under 25 megapixels."""
    side = min(int((limit_mb * 2**20 * 0.97) ** 0.5), int(MAX_PIXELS ** 0.5))   # 1 byte a pixel, and headers
    noise = np.random.default_rng(0).integers(0, 256, (side, side), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG", compress_level=1)
    data = buf.getvalue()
    assert len(data) < limit_mb * 2**20, (len(data), side)
    return data


async def new_grid(user: WsUser, seed: int, n: int | None = None):
    """On Sampling, a grid with a new seed (and first, when given, ``n`` samples)."""
    await user.goto("sampling")
    if n is not None:
        user.page = await user.s.set(user.page.widget("number_input", "sample_n").id, int_value=n)
    seed_input = user.page.widget("number_input", "sample_seed")
    user.page = await user.s.set(seed_input.id, int_value=seed)
    return user.page


async def download_page(user: WsUser) -> None:
    """Fetch every image the page shows, again."""
    for imgs in user.page.of_kind("imgs"):
        for img in imgs.imgs:
            await user.s.fetch(img.url)


async def open_bad_link(user: WsUser, i: int):
    """Open the i-th of BAD_LINKS (cycling), as a pasted address would."""
    page, query = BAD_LINKS[i % len(BAD_LINKS)]
    user.page = await user.s.open(page, query)
    user.view, user.s.query = page, ""
    return user.page


async def upload_photo(user: WsUser, name: str, data: bytes):
    """Drop a file on Your image's uploader."""
    await user.goto("your-image")
    uploader, = user.page.of_kind("file_uploader")
    user.page = await user.s.upload(uploader.id, name, data)
    return user.page


def limited(run) -> bool:
    """Whether the page holds the notice of a request the shared server's limit refused."""
    return any("a minute per visitor" in a.body for a in run.of_kind("alert"))


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
