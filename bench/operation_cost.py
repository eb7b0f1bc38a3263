"""What each kind of request in bench/app_hostile.py costs a shared server, in CPU per request.

One server in shared mode with the limits off, and one session alone doing each kind of request
--repeat times: a new 64-sample grid, a map click (with its image), a download of every image on the
page, a link with bad parameters, an upload at the size limit (a new 4.9 MB PNG of noise with the
shared 5 MB limit). The server's CPU time is read from /proc around all the requests of a kind
(its clock ticks are 10 ms long, so one request alone would be measured to ±10 ms) and divided by
their number. Then a second server with EXPLORER_LIMITS=action=1 gives the cost of a request the
interaction limit refuses (its one-second wait uses no CPU).

    .venv/bin/python bench/operation_cost.py [--repeat 20] [--upload-mb 5]
"""
import argparse
import asyncio
import random
import sys
from pathlib import Path

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
    upload_photo,
)
from explorer.sharing import SHARED_UPLOAD_MB  # noqa: E402

UNLIMITED = "action=100000,draw=100000,upload=100000,concept=100000"


async def costs(url: str, pid: int, repeat: int, upload: bytes) -> dict[str, float]:
    user = WsUser(url, random.Random(0), Stats())
    await user.start()
    kinds = [("new 64-sample grid", lambda i: new_grid(user, 1000 + i), None),
             ("download the page's images", lambda i: download_page(user),
              lambda i: new_grid(user, 2000 + i)),   # each download after a new grid
             ("map click", lambda i: user.click_point(), None),
             ("link with bad parameters", lambda i: open_bad_link(user, i), None),
             ("upload at the size limit", lambda i: upload_photo(user, f"photo-{i}.png", upload), None)]
    await new_grid(user, 1, n=64)
    out = {}
    for name, op, before in kinds:
        for i in range(-len(BAD_LINKS), 0):   # unmeasured: every view it opens is warm, and its caches
            await op(i)
        spent = 0.0
        for i in range(repeat):
            if before is not None:
                await before(i)
            c0 = cpu_seconds(pid)
            await op(i)
            spent += cpu_seconds(pid) - c0
        out[name] = spent / repeat
    await user.s.close()
    return out


async def refused_cost(url: str, pid: int, repeat: int) -> float:
    user = WsUser(url, random.Random(0), Stats())
    await user.start()   # the one interaction allowed
    c0 = cpu_seconds(pid)
    for _ in range(repeat):
        run = await user.s.open("sampling")
        assert limited(run), "the request was not refused"
    spent = cpu_seconds(pid) - c0
    await user.s.close()
    return spent / repeat


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--upload-mb", type=int, default=SHARED_UPLOAD_MB)
    p.add_argument("--model-dir", default=str(ROOT / "assets"))
    a = p.parse_args()
    env = {"EXPLORER_SHARED": "1", "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(a.upload_mb)}
    upload = largest_upload(a.upload_mb)
    with running_app(a.model_dir, env={**env, "EXPLORER_LIMITS": UNLIMITED}, timeout=120) as (url, proc):
        out = asyncio.run(costs(url, proc.pid, a.repeat, upload))
    with running_app(a.model_dir, env={**env, "EXPLORER_LIMITS": "action=1"}, timeout=120) as (url, proc):
        out["a refused request"] = asyncio.run(refused_cost(url, proc.pid, a.repeat))
    print(f"server CPU per request, mean of {a.repeat} (one session alone; uploads of "
          f"{len(upload) / 2**20:.1f} MB)")
    for name, seconds in out.items():
        print(f"  {name:28s} {seconds * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
