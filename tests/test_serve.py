"""scripts/serve.sh: two replicas behind HAProxy on 127.0.0.1. Two browsers land on different replicas
and each clicks, uploads and sees its own images (the affinity cookie holds); killing one replica
leaves the other's session working and gives the first browser a fresh session with a notice."""
import os
import shutil
import signal
import socket
import subprocess

import pytest
from PIL import Image

from appdriver.browser import CHROMIUM, CHROMIUM_ARGS, click_a_point, image_with_caption, wait_for_map
from appdriver.server import serving
from conftest import ROOT

pytestmark = [pytest.mark.serve, pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("haproxy")) and not os.environ.get("CI"),
    reason="needs Debian's chromium and haproxy (scripts/setup.sh --dev installs them)")]
SEES = "what the model sees (28×28)"
UPLOADER = '[data-testid="stFileUploader"] input[type="file"]'
NOTICE = "has stopped, so this is a new session"
SHOWS = "(t) => document.body.innerText.includes(t)"


def _replica(context) -> str | None:
    """The replica the balancer's cookie ties this browser to."""
    return {c["name"]: c["value"] for c in context.cookies()}.get("explorer_replica")


def test_a_port_in_use_is_named_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(["bash", "scripts/serve.sh", "--replicas", "1", "--port", str(port)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == f"serve.sh: port {port} on 127.0.0.1 is in use or not available " \
                               "(Address already in use)"


def _upload(page, path) -> None:
    page.get_by_text("Your image", exact=True).click()
    page.wait_for_selector(UPLOADER, state="attached", timeout=20000)
    page.set_input_files(UPLOADER, str(path))
    page.wait_for_function(SHOWS, arg=SEES, timeout=30000)
    assert image_with_caption(page, SEES, timeout_ms=20000)


@pytest.mark.browser
def test_two_browsers_two_replicas_and_one_replica_dies(tmp_path, dataset):
    from playwright.sync_api import sync_playwright
    photos = []
    for i, label in enumerate((7, 8)):  # a sneaker for one browser, a bag for the other
        item = dataset.test_images[int((dataset.test_labels == label).nonzero()[0][0])]
        photos.append(tmp_path / f"mine-{i}.png")
        Image.fromarray(item).resize((112, 112)).save(photos[-1])
    with serving(2, ROOT / "assets") as (url, replicas, proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
            pages = [c.new_page() for c in contexts]
            for page in pages:
                page.goto(url)
                wait_for_map(page)
            held = [_replica(c) for c in contexts]
            assert sorted(held) == ["r1", "r2"], held  # one browser on each replica
            for page, photo in zip(pages, photos, strict=True):
                page.wait_for_timeout(800)
                click_a_point(page)
                _upload(page, photo)  # uploads reach the replica that holds the session

            # replica of browser 0 dies: browser 1 goes on; browser 0 gets a fresh session with a notice
            dead = next(r for r in replicas if r.name == held[0])
            os.kill(dead.pid, signal.SIGKILL)
            pages[1].get_by_text("Latent map", exact=True).click()
            wait_for_map(pages[1])
            pages[1].wait_for_timeout(800)
            click_a_point(pages[1], "Bag")
            assert not pages[1].locator('[data-testid="stException"]').count()
            # the first action after the reconnect runs in a new session on the other replica, which says so
            pages[0].get_by_text("Latent map", exact=True).click()
            pages[0].wait_for_function(SHOWS, arg=NOTICE, timeout=60000)
            assert _replica(contexts[0]) == held[1]
            wait_for_map(pages[0])
            pages[0].wait_for_timeout(800)
            click_a_point(pages[0], "Trouser")
            assert proc.poll() is None  # the balancer and the other replica run on
        finally:
            browser.close()


def _tls_and_users(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    pem = tmp_path / "explorer.pem"
    pem.write_text(cert.read_text() + key.read_text())
    hashed = subprocess.run(["openssl", "passwd", "-6", "s3cret"], check=True, capture_output=True,
                            text=True).stdout.strip()
    users = tmp_path / "users"
    users.write_text(f"# name:hash\nteacher:{hashed}\n")
    return pem, users


def _get(url, credentials=None):
    """(status, body) of a GET over HTTPS that trusts the test's self-signed certificate."""
    import base64
    import ssl
    import urllib.error
    import urllib.request
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url)
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_basic_authentication_over_tls_through_haproxy(tmp_path):
    pem, users = _tls_and_users(tmp_path)
    with serving(1, ROOT / "assets", extra=("--tls", str(pem), "--users", str(users))) as (url, _, proc):
        assert url.startswith("https://")
        assert _get(url + "/")[0] == 401
        assert _get(url + "/_stcore/health")[0] == 401   # nothing of the app without a password
        assert _get(url + "/", "teacher:wrong")[0] == 401
        status, body = _get(url + "/", "teacher:s3cret")
        assert status == 200 and b"<html" in body.lower()
        assert _get(url + "/_stcore/health", "teacher:s3cret") == (200, b"ok")
        assert proc.poll() is None


@pytest.mark.parametrize("args, message", [
    (("--users", "USERS"), "--users needs --tls: basic authentication sends the password with every request"),
    (("--tls", "PEM", "--users", "PLAIN"), "--users PLAIN, line 1: expected name:hash"),
    (("--tls", "USERS"), "--tls USERS: expected a certificate and its private key in one PEM file"),
    (("--tls", "missing.pem"), "--tls missing.pem: not a readable file"),
])
def test_bad_tls_and_user_files_are_one_line(tmp_path, args, message):
    pem, users = _tls_and_users(tmp_path)
    plain = tmp_path / "PLAIN"
    plain.write_text("teacher:s3cret\n")
    paths = {"USERS": str(users), "PEM": str(pem), "PLAIN": str(plain)}
    args = [paths.get(a, a) for a in args]
    message = message.replace("USERS", str(users)).replace("PLAIN", str(plain))
    r = subprocess.run(["bash", str(ROOT / "scripts" / "serve.sh"), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and r.stderr.startswith(f"serve.sh: {message}"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_shared_replica_takes_smaller_uploads(monkeypatch):
    """Shared: Streamlit receives and stores a file before the app's per-visitor limit can refuse it,
    so serve.sh bounds the size itself (explorer.sharing.SHARED_UPLOAD_MB)."""
    import asyncio
    import io
    import urllib.error
    import urllib.request

    import numpy as np

    from appdriver.protocol import AppSession
    from explorer.sharing import SHARED_UPLOAD_MB

    def png(side):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side), np.uint8)).save(buf, "PNG")
        return buf.getvalue()

    async def go(url):
        s = AppSession(url)
        await s.connect()
        page = await s.open("your-image")
        uploader, = page.of_kind("file_uploader")
        with pytest.raises(urllib.error.HTTPError) as refused:
            await s.upload(uploader.id, "big.png", png(int((SHARED_UPLOAD_MB + 1) ** 0.5 * 1024)))
        run = await s.upload(uploader.id, "small.png", png(300))
        await s.close()
        return uploader.label, refused.value.code, run

    monkeypatch.setenv("EXPLORER_SHARED", "1")
    from views import live
    runtime = live.runtime()   # files named by their content: the balancer lets browsers keep them
    with serving(1, ROOT / "assets") as (url, _, proc):
        label, code, run = asyncio.run(go(url))
        with urllib.request.urlopen(url + runtime["module"]) as served:
            cache = served.headers["Cache-Control"]
            assert served.read() == (live.RUNTIME / live.RUNTIME_FILES["module"]).read_bytes()
    assert label.endswith(f"up to {SHARED_UPLOAD_MB} MB)") and code == 413
    assert not run.problems() and run.image_urls("small.png (300×300, greyscale)")
    assert cache == "public, max-age=31536000, immutable"


def test_the_balancer_refuses_uploads_past_its_limit_without_reading_them(monkeypatch):
    """deploy/haproxy.cfg: past 12 upload PUTs a minute for one browser session, HAProxy answers 429; a
    new session (another file, another session id in the path) still uploads."""
    import asyncio
    import urllib.error
    import uuid

    from appdriver.protocol import AppSession

    def put(s, session_id: str) -> int:
        try:
            s.put_file(f"/_stcore/upload_file/{session_id}/{uuid.uuid4().hex}", "a.png", b"\x89PNG")
            return 200
        except urllib.error.HTTPError as e:
            return e.code

    async def go(url):
        first, second = AppSession(url), AppSession(url)
        await first.connect()
        await second.connect()
        codes = [put(first, first.session_id) for _ in range(14)]
        other = put(second, second.session_id)
        await first.close()
        await second.close()
        return codes, other

    monkeypatch.setenv("EXPLORER_SHARED", "1")
    with serving(1, ROOT / "assets") as (url, _, proc):
        codes, other = asyncio.run(go(url))
    assert 429 not in codes[:12] and codes[12:] == [429, 429], codes
    assert other != 429
