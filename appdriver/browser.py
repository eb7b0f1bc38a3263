"""Drive the real app in headless Chromium (the end-to-end tests and bench/app_latency.py).

Facts this relies on (../shared/reference/browser-testing.md): Debian's /usr/bin/chromium, no
browser download; Plotly selects from its hover data, so hover a point until ``gd._hoverdata`` holds
it, then click; two clicks within 500 ms are a double-click.
"""
from __future__ import annotations

import contextlib

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'


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


# --- live decoding (views/live.py): the component's canvases are in its shadow root -------------------
COUNT_WEBSOCKET_SENDS = """(() => {
    window.__websocketSends = 0;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (...args) {
        window.__websocketSends += 1;
        return send.apply(this, args);
    };
})()"""
TEXT_EVERYWHERE = """() => [document.body.innerText, ...Array.from(document.querySelectorAll('*'))
    .filter(e => e.shadowRoot).map(e => e.shadowRoot.textContent)].join('\\n')"""


def count_websocket_sends(page) -> None:
    """From the next page load on, ``websocket_sends(page)`` counts what the page sends the server."""
    page.add_init_script(COUNT_WEBSOCKET_SENDS)


def websocket_sends(page) -> int:
    return page.evaluate("window.__websocketSends || 0")


def wait_for_text(page, text: str, timeout_ms: int = 20000) -> None:
    """Until ``text`` shows anywhere on the page, a component's shadow root included."""
    page.wait_for_function(f"(t) => ({TEXT_EVERYWHERE})().includes(t)", arg=text, timeout=timeout_ms)


def wait_for_live(page, timeout_ms: int = 60000) -> dict:
    """Until the live decoder has loaded and drawn; how long it took and what it downloaded."""
    page.wait_for_function("() => window.__liveReady && window.__liveFrames && window.__liveFrames.count",
                           timeout=timeout_ms)
    return page.evaluate("window.__liveReady")


def live_frames(page) -> int:
    return page.evaluate("window.__liveFrames ? window.__liveFrames.count : 0")


def live_picture(page, selector: str = ".live-image") -> tuple[list[float], list[int]]:
    """The latent the live image was decoded from, and its grey pixels as drawn (row by row)."""
    return page.locator(selector).first.evaluate("""(canvas) => {
        const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const grey = [];
        for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
        return [(canvas.dataset.latent || '').split(',').filter(Boolean).map(Number), grey];
    }""")


def drag_slider(page, slider, fraction: float, steps: int = 30, pause_ms: int = 16) -> None:
    """Press the mouse on a range input's thumb, move it by ``fraction`` of its width in ``steps``
    moves, and keep it pressed (``page.mouse.up()`` releases it)."""
    box = slider.bounding_box()
    value = float(slider.evaluate("(s) => (s.value - s.min) / (s.max - s.min)"))
    x, y = box["x"] + 8 + value * (box["width"] - 16), box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + i * fraction * (box["width"] - 16) / steps, y)
        page.wait_for_timeout(pause_ms)


def live_cells(root) -> list[tuple[list[float], list[int]]]:
    """Each frame of a live view (``root``: a locator of its ``.live`` element, rows after rows): the
    latent it was decoded from (empty until drawn) and its grey pixels as drawn."""
    return root.evaluate("""(root) => [...root.querySelectorAll('.live-frame canvas')].map(canvas => {
        const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const grey = [];
        for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
        return [canvas.__latent ? Array.from(canvas.__latent) : [], grey];
    })""")
