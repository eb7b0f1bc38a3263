"""A shared explorer under hostile load, on this machine only (127.0.0.1) and bounded in time.

One server in shared mode (EXPLORER_SHARED=1, so the per-session limits apply). First --ordinary
sessions click map points with a pause of --think seconds on average, alone, for --seconds. Then the
same ordinary sessions again beside --hostile sessions that, with no pause at all, draw the largest
sample grids allowed (64) with new seeds, click map points, fetch every image of their page again
(downloads), open views from links with bad parameters (paths, huge and non-numeric values) and
upload photos at the size limit (a PNG of noise just under the server's upload limit, --upload-mb,
and 25 megapixels, a new one each time). The hostile sessions run in a process of their own, as
visitors on other machines would.

The two phases alternate --rounds times on the same server and each condition's clicks are pooled:
a p95 of one minute of clicks is about their 9th slowest, and a single pair of phases gave ratios
from 1.9× to 3.4× for the same code, as the machine's other load came and went.
Prints the ordinary sessions' click p50/p95 in both conditions and each round's ratio, the CPU
seconds of the server and of both clients, the server's peak memory, the errors (a traceback or an
error box on any session's page; the hostile sessions' one-line notices are not errors), and how
many of the hostile requests the limits refused.

    .venv/bin/python bench/app_hostile.py [--ordinary 10] [--hostile 5] [--seconds 60] [--rounds 3]
"""
import argparse
import asyncio
import multiprocessing
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from appdriver.server import running_app  # noqa: E402
from appdriver.visitors import (  # noqa: E402
    BAD_LINKS,
    Stats,
    WsUser,
    cpu_seconds,
    download_page,
    largest_upload,
    limited,
    new_grid,
    open_bad_link,
    rss_mb,
    upload_photo,
    warm,
)
from explorer.sharing import SHARED_UPLOAD_MB  # noqa: E402

UPLOAD = []   # made once per run: the same bytes, under a new name each time

async def ordinary(url: str, k: int, deadline: float, stats: Stats, think: float):
    rng = random.Random(k)
    await asyncio.sleep(0.3 * k)   # staggered arrivals, as people opening a shared link
    user = WsUser(url, rng, stats)
    await user.start()
    while time.time() < deadline:
        try:
            await user.click_point()
            stats.actions += 1
        except Exception as e:
            stats.errors.append(f"ordinary {k}: {type(e).__name__}: {str(e)[:120]}")
        await asyncio.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.time())))
    await user.s.close()


async def hostile(url: str, k: int, deadline: float, stats: Stats, refused: list):
    rng = random.Random(1000 + k)
    user = WsUser(url, rng, stats)
    await user.start()
    i = 0
    while time.time() < deadline:
        i += 1
        try:
            kind = i % 5
            if kind == 4:   # a photo at the size limit, as a new file each time
                refused.append(limited(await upload_photo(user, f"big-{k}-{i}.png", UPLOAD[0])))
            elif kind == 0:   # the largest grid allowed, a new one each time
                refused.append(limited(await new_grid(user, rng.randrange(1, 2**31 - 1), n=64)))
            elif kind == 1:
                await user.click_point()
            elif kind == 2:   # download everything the page shows, again
                await download_page(user)
            else:
                run = await open_bad_link(user, i // 5)
                page, query = BAD_LINKS[i // 5 % len(BAD_LINKS)]
                user.check(run, f"the link /{page}?{query}")
            stats.actions += 1
        except Exception as e:
            if limited(user.page):   # the limit refused the request: the page holds only its notice
                refused.append(True)
                user.view = None
            else:
                stats.errors.append(f"hostile {k}: {type(e).__name__}: {str(e)[:120]}")
    await user.s.close()


def hostile_visitors(url: str, sessions: int, deadline: float, upload_mb: int):
    """The hostile sessions, run in a process of their own (as visitors on other machines): their
    parsing and downloads must not delay the ordinary sessions' client and so their measured clicks.
    Returns (requests served, errors, refused, the process's CPU seconds)."""
    UPLOAD.append(largest_upload(upload_mb))
    stats, refused = Stats(), []
    cpu = time.process_time()

    async def run():
        await asyncio.gather(*(hostile(url, k, deadline, stats, refused) for k in range(sessions)))
    asyncio.run(run())
    return stats.actions, stats.errors, sum(refused), time.process_time() - cpu


async def drive(url, a, with_hostile: bool, server_pid: int) -> dict:
    """One phase: the ordinary sessions, alone or beside the hostile ones. Returns their stats and
    the CPU seconds each party used."""
    out = {"ordinary": Stats(), "hostile": Stats(), "refused": 0, "hostile cpu": 0.0}
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(largest_upload, (1,))   # the process has started and imported the client
        deadline = time.time() + a.seconds
        server, client = cpu_seconds(server_pid), time.process_time()
        if with_hostile:
            others = pool.apply_async(hostile_visitors, (url, a.hostile, deadline, a.upload_mb))
        await asyncio.gather(*(ordinary(url, k, deadline, out["ordinary"], a.think)
                               for k in range(a.ordinary)))
        out["server cpu"] = cpu_seconds(server_pid) - server
        out["ordinary cpu"] = time.process_time() - client
        if with_hostile:
            out["hostile"].actions, out["hostile"].errors, out["refused"], out["hostile cpu"] = \
                others.get(timeout=60)
    return out


def clicks_of(phase: dict) -> list[float]:
    return phase["ordinary"].latency["click"]


def p95(xs) -> float:
    return float(np.percentile(xs, 95))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ordinary", type=int, default=10)
    p.add_argument("--hostile", type=int, default=5)
    p.add_argument("--seconds", type=float, default=60, help="length of each phase")
    p.add_argument("--rounds", type=int, default=3, help="pairs of phases (alone, beside hostile sessions)")
    p.add_argument("--think", type=float, default=3.0, help="ordinary sessions' mean pause (s)")
    p.add_argument("--model-dir", default=str(ROOT / "assets"))
    p.add_argument("--limits", default="", help="the server's EXPLORER_LIMITS, e.g. action=100000 to measure "
                                                "without the interaction limit")
    p.add_argument("--upload-mb", type=int, default=SHARED_UPLOAD_MB,
                   help="the server's upload size limit in MB (default: what scripts/serve.sh gives a shared "
                        "server)")
    a = p.parse_args()
    env = {"EXPLORER_SHARED": "1", "EXPLORER_LIMITS": a.limits,
           "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(a.upload_mb)}
    with running_app(a.model_dir, env=env, timeout=120) as (url, proc):
        asyncio.run(warm([url]))
        peak, stop = [rss_mb(proc.pid)], threading.Event()

        def watch():
            while not stop.is_set():
                peak.append(rss_mb(proc.pid))
                time.sleep(0.2)
        threading.Thread(target=watch, daemon=True).start()
        rounds = []
        for _ in range(a.rounds):
            rounds.append({label: asyncio.run(drive(url, a, with_hostile, proc.pid))
                           for label, with_hostile in (("ordinary alone", False), ("beside hostile", True))})
        stop.set()
        alive = proc.poll() is None
    print(f"{a.ordinary} ordinary sessions (mean pause {a.think:g} s), alone and beside {a.hostile} hostile "
          f"ones, {a.rounds} × {a.seconds:g} s each; limits {a.limits or 'as shipped'}; server "
          f"{'still running' if alive else 'DIED'}")
    clicks = {label: [x for r in rounds for x in clicks_of(r[label])] for label in rounds[0]}
    for label, xs in clicks.items():
        cpu = {k: sum(r[label][k] for r in rounds) / a.rounds
               for k in ("server cpu", "ordinary cpu", "hostile cpu")}
        print(f"  {label:15s} click → image n={len(xs):4d}  p50 {np.percentile(xs, 50) * 1000:6.0f} ms  "
              f"p95 {p95(xs) * 1000:6.0f} ms   CPU s per phase: server {cpu['server cpu']:5.1f}, "
              f"ordinary clients {cpu['ordinary cpu']:4.1f}, hostile clients {cpu['hostile cpu']:4.1f}")
    each = [p95(clicks_of(r["beside hostile"])) / p95(clicks_of(r["ordinary alone"])) for r in rounds]
    ratio = p95(clicks["beside hostile"]) / p95(clicks["ordinary alone"])
    print(f"ordinary click p95 beside hostile sessions: {ratio:.2f}× alone (target ≤ 2×); each round: "
          + ", ".join(f"{x:.2f}×" for x in each))
    errors = [e for r in rounds for phase in r.values() for party in ("ordinary", "hostile")
              for e in phase[party].errors]
    print(f"hostile requests served: {sum(r['beside hostile']['hostile'].actions for r in rounds)}; "
          f"refused by the limits: {sum(r['beside hostile']['refused'] for r in rounds)}")
    print(f"errors: {len(errors)}")
    for e in errors[:10]:
        print(f"  {e}")
    print(f"server peak RSS: {max(peak):.0f} MB (target ≤ 1,500 MB)")


if __name__ == "__main__":
    main()
