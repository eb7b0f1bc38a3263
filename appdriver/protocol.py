"""A Streamlit session without a browser: the websocket protocol the frontend speaks, no rendering.

The frontend sends ``BackMsg.rerun_script`` with the state of every widget it has seen, the page
it is on (its URL path) and, when the widget that changed sits in a fragment, that fragment's id;
the server runs the script (or only the fragment) and streams ``ForwardMsg`` deltas (one per
element), then ``script_finished``. Images arrive as URLs on the server's media endpoint, which the client
fetches as a browser would. This lets one small machine drive many concurrent sessions and
measure the server, not twenty software-rendered WebGL canvases.

Like a browser, a session keeps the large elements it received (a chart) by their hash and names them
in each rerun request; the server then sends a reference instead of an unchanged element, and the
client reads it from its cache (the frontend's ForwardMessageCache, with its default age limit).

Like a browser, a session first loads the page and keeps the cookies it sets, and sends them with
the websocket and every image it fetches: behind a load balancer with cookie affinity
(scripts/serve.sh) all of a session's requests reach its replica. Like a browser, a session makes
its HTTP requests on its own connections (up to 6 at once): one session's downloads never queue
behind another's.
"""
from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

DONE = {ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
        ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
MAX_CACHED_AGE = 2   # Streamlit's global.maxCachedMessageAge: script runs an unused element is kept
HTTP_CONNECTIONS = 6  # a browser's connections per host over HTTP/1.1


class ProtocolError(RuntimeError):
    """The server answered with something a browser would show as an error, or not at all."""


@dataclass
class Run:
    """The elements one script run drew, in order."""
    elements: list = field(default_factory=list)   # (kind, element proto)
    fragments: dict = field(default_factory=dict)  # widget id → the id of the fragment that drew it

    def of_kind(self, kind: str) -> list:
        return [getattr(e, kind) for k, e in self.elements if k == kind]

    def widget(self, kind: str, key: str):
        """The widget of this kind whose user key is ``key`` (Streamlit ids end in ``-<key>``)."""
        for w in self.of_kind(kind):
            if w.id.endswith(f"-{key}"):
                return w
        raise ProtocolError(f"no {kind} with key {key!r} on the page")

    def image_urls(self, caption: str) -> list[str]:
        return [img.url for imgs in self.of_kind("imgs") for img in imgs.imgs if caption in img.caption]

    def text(self) -> str:
        return "\n".join(m.body for m in self.of_kind("markdown"))

    def problems(self) -> list[str]:
        """What a user would see as a failure: a traceback, or an error box."""
        out = [f"exception: {e.type}: {e.message[:120]}" for e in self.of_kind("exception")]
        out += [f"error: {a.body[:120]}" for a in self.of_kind("alert") if a.format == a.ERROR]
        return out


class AppSession:
    """One user's session: ``await s.connect()``, then ``await s.set(...)`` per interaction."""

    def __init__(self, url: str, timeout: float = 60):
        self.url, self.timeout = url.rstrip("/"), timeout
        self.states: dict[str, WidgetState] = {}   # every widget value this session has sent
        self.fragments: dict[str, str] = {}        # widget id → its fragment, as last drawn
        self.page_name = ""                        # the view's URL path ("" = the home view)
        self.query = ""                            # the address's query string, as a link carries it
        self.cookies: dict[str, str] = {}          # set by the page (a balancer's affinity cookie)
        self.cache: dict[str, list] = {}           # hash → [message, run last used, its fragment]
        self.runs = 0
        self.session_id = ""                       # from the first run's new_session message
        self.ws = None
        self.http = ThreadPoolExecutor(HTTP_CONNECTIONS, thread_name_prefix="session-http")

    async def _blocking(self, fn, *args):
        """An HTTP request on one of this session's own connections."""
        return await asyncio.get_running_loop().run_in_executor(self.http, fn, *args)

    @property
    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    async def connect(self) -> Run:
        def load_page():
            # the page, then the health check the frontend makes before it connects (which sets the XSRF
            # cookie that uploads need)
            for path in ("/", "/_stcore/health"):
                request = urllib.request.Request(self.url + path, headers=self.cookie_header)
                with urllib.request.urlopen(request, timeout=self.timeout) as r:
                    for header in r.headers.get_all("Set-Cookie") or []:
                        name, _, value = header.split(";", 1)[0].partition("=")
                        self.cookies[name.strip()] = value.strip()
        await self._blocking(load_page)
        self.ws = await websockets.connect(self.url.replace("http", "ws", 1) + "/_stcore/stream",
                                           subprotocols=["streamlit"], origin=self.url, max_size=None,
                                           open_timeout=self.timeout, additional_headers=self.cookie_header)
        return await self.rerun()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        self.http.shutdown(wait=False)

    async def rerun(self, fragment_id: str = "") -> Run:
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_script_hash = ""
        msg.rerun_script.page_name = self.page_name
        msg.rerun_script.fragment_id = fragment_id
        msg.rerun_script.widget_states.widgets.extend(self.states.values())
        msg.rerun_script.cached_message_hashes.extend(self.cache)
        await self.ws.send(msg.SerializeToString())
        run, started = Run(), False
        async with asyncio.timeout(self.timeout):
            while True:
                f = ForwardMsg()
                f.ParseFromString(await self.ws.recv())
                f = self._cached(f)
                kind = f.WhichOneof("type")
                if kind == "new_session":  # every script run starts with one
                    run, started = Run(), True
                    self.session_id = f.new_session.initialize.session_id or self.session_id
                elif not started:
                    continue  # the tail of an earlier run
                elif kind == "delta" and f.delta.WhichOneof("type") == "new_element":
                    el = f.delta.new_element
                    run.elements.append((el.WhichOneof("type"), el))
                    widget = getattr(getattr(el, el.WhichOneof("type")), "id", "")
                    if widget and f.delta.fragment_id:
                        run.fragments[widget] = f.delta.fragment_id
                elif kind == "script_finished":
                    if f.script_finished in DONE:
                        break
                    if f.script_finished == ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR:
                        raise ProtocolError("the script failed to compile")
                    started = False  # stopped early for a rerun the app asked for: the next run is the page
        self.fragments.update(run.fragments)
        self._age(fragment_id)
        return run

    def _cached(self, f: ForwardMsg) -> ForwardMsg:
        """Keep a cacheable element; replace a reference by the element it names."""
        if f.WhichOneof("type") == "ref_hash":
            entry = self.cache.get(f.ref_hash)
            if entry is None:
                raise ProtocolError(f"a reference to an element this session never kept: {f.ref_hash}")
            entry[1] = self.runs
            return entry[0]
        if f.metadata.cacheable and f.hash:
            self.cache[f.hash] = [f, self.runs, f.delta.fragment_id]
        return f

    def _age(self, fragment_id: str) -> None:
        """As the frontend does after each run: forget elements unused for more than MAX_CACHED_AGE runs
        (after a fragment's run, only that fragment's)."""
        self.runs += 1
        for h, (_, used, fragment) in list(self.cache.items()):
            if (not fragment_id or fragment == fragment_id) and self.runs - used > MAX_CACHED_AGE:
                del self.cache[h]

    async def open(self, page_name: str, query: str = "") -> Run:
        """Go to another view, as a click on its link in the sidebar does (with ``query``: as a link
        with those parameters does): a full run of that page."""
        self.page_name, self.query = page_name, query
        return await self.rerun()

    async def set(self, widget_id: str, **value) -> Run:
        """Give one widget a value (e.g. ``string_value="Latent sliders"``) and rerun, as a user's
        input does."""
        state = WidgetState(id=widget_id)
        (name, v), = value.items()
        if name == "double_array_value":
            state.double_array_value.data.extend(v)
        else:
            setattr(state, name, v)
        self.states[widget_id] = state
        # a widget drawn inside a fragment reruns only that fragment, as the browser asks for
        return await self.rerun(self.fragments.get(widget_id, ""))

    async def upload(self, widget_id: str, name: str, data: bytes, mime: str = "image/png") -> Run:
        """Drop a file on a file uploader, as the browser does: ask the session for an upload URL, PUT
        the file there (multipart, with the XSRF token from the page's cookie), DELETE the file it
        replaces, then rerun with the uploader's new state."""
        request = BackMsg()
        request.file_urls_request.request_id = rid = uuid.uuid4().hex
        request.file_urls_request.file_names.append(name)
        request.file_urls_request.session_id = self.session_id
        await self.ws.send(request.SerializeToString())
        async with asyncio.timeout(self.timeout):
            while True:
                f = ForwardMsg()
                f.ParseFromString(await self.ws.recv())
                if f.WhichOneof("type") == "file_urls_response" and f.file_urls_response.response_id == rid:
                    break
        if f.file_urls_response.error_msg:
            raise ProtocolError(f"no upload URL: {f.file_urls_response.error_msg}")
        urls = f.file_urls_response.file_urls[0]
        await self._blocking(self.put_file, urls.upload_url, name, data, mime)
        replaced = self.states.get(widget_id)
        if replaced is not None:   # one file per uploader: the frontend deletes the one it replaces
            for info in replaced.file_uploader_state_value.uploaded_file_info:
                await self._blocking(self._send, "DELETE", info.file_urls.delete_url)
        state = WidgetState(id=widget_id)
        state.file_uploader_state_value.uploaded_file_info.append(
            UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id, file_urls=urls))
        self.states[widget_id] = state
        return await self.rerun(self.fragments.get(widget_id, ""))

    def put_file(self, url: str, name: str, data: bytes, mime: str = "image/png") -> None:
        """PUT one file to an upload URL as the frontend does: multipart form data with the XSRF token."""
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        self._send("PUT", url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def _send(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> None:
        """An upload request with the session's cookies and the XSRF token the frontend copies from them."""
        headers = {**self.cookie_header, "X-Xsrftoken": self.cookies.get("_streamlit_xsrf", ""),
                   **(headers or {})}
        target = url if url.startswith("http") else self.url + url
        request = urllib.request.Request(target, data=body, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=self.timeout):
            pass

    async def fetch(self, path: str) -> bytes:
        """GET a media URL from the page, as the browser's <img> would."""
        def get():
            request = urllib.request.Request(self.url + path, headers=self.cookie_header)
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                return r.read()
        body = await self._blocking(get)
        if not body:
            raise ProtocolError(f"{path}: empty response")
        return body


def plotly_array(value) -> np.ndarray:
    """A trace array from a figure's JSON: a list, or Plotly's typed-array form {dtype, bdata}."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def plotly_traces(chart) -> list[dict]:
    """Each trace's name, x, y and customdata, decoded."""
    return [{"name": t.get("name"), **{k: plotly_array(t[k]) for k in ("x", "y", "customdata") if k in t}}
            for t in json.loads(chart.spec)["data"]]


def plotly_click(trace: dict, curve: int, index: int) -> str:
    """The selection state the frontend sends when a user clicks point ``index`` of trace ``curve``
    (browser-testing.md, "The selection event")."""
    point = {"curve_number": curve, "point_number": index, "point_index": index,
             "x": float(trace["x"][index]),
             "y": float(trace["y"][index]), "customdata": trace["customdata"][index].item()}
    return json.dumps({"selection": {"points": [point], "point_indices": [index], "box": [], "lasso": []}})
