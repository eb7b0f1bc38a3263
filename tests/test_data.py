"""The IDX loader on the real files, every bad-file case, and the download path against a real
HTTP server on 127.0.0.1."""
import functools
import gzip
import http.server
import shutil
import threading

import numpy as np
import pytest

from training import data as fmnist


def test_real_dataset_shapes_labels_and_checksum(dataset):
    assert dataset.train_images.shape == (60000, 28, 28) and dataset.train_images.dtype == np.uint8
    assert dataset.test_images.shape == (10000, 28, 28)
    assert np.bincount(dataset.train_labels).tolist() == [6000] * 10
    assert np.bincount(dataset.test_labels).tolist() == [1000] * 10
    assert len(fmnist.CATEGORIES) == 10 and fmnist.CATEGORIES[9] == "Ankle boot"
    assert len(dataset.checksum) == 64
    t = fmnist.to_tensor(dataset.test_images[:5])
    assert t.shape == (5, 1, 28, 28) and 0.0 <= t.min() and t.max() <= 1.0


@pytest.fixture
def copy_dir(tmp_path, data_dir):
    d = tmp_path / "fm"
    shutil.copytree(data_dir, d)
    return d


def _load_error(directory):
    with pytest.raises(fmnist.DataError) as e:
        fmnist.load(directory, allow_download=False)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


LABELS = "t10k-labels-idx1-ubyte.gz"


def test_explicit_dir_and_environment_variable(copy_dir, monkeypatch):
    assert fmnist.locate(copy_dir) == copy_dir
    monkeypatch.setenv(fmnist.ENV_DIR, str(copy_dir))
    assert fmnist.load().directory == copy_dir


def test_missing_file(copy_dir):
    (copy_dir / LABELS).unlink()
    msg = _load_error(copy_dir)
    assert LABELS in msg and "not found" in msg


def test_truncated_gzip(copy_dir):
    raw = (copy_dir / "t10k-images-idx3-ubyte.gz").read_bytes()
    (copy_dir / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    msg = _load_error(copy_dir)
    assert "t10k-images-idx3-ubyte.gz" in msg and "gzip" in msg


def test_not_gzip(copy_dir):
    (copy_dir / LABELS).write_bytes(b"this is not a gzip file at all")
    assert "not a valid gzip" in _load_error(copy_dir)


def test_wrong_magic_number(copy_dir):
    raw = bytearray(gzip.decompress((copy_dir / LABELS).read_bytes()))
    raw[3] = 0x03  # 2049 -> 2051
    (copy_dir / LABELS).write_bytes(gzip.compress(bytes(raw)))
    msg = _load_error(copy_dir)
    assert "wrong magic number 2051, expected 2049" in msg


def test_checksum_mismatch(copy_dir):
    raw = bytearray(gzip.decompress((copy_dir / LABELS).read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # still a valid label, but not the release's
    (copy_dir / LABELS).write_bytes(gzip.compress(bytes(raw)))
    assert "checksum mismatch" in _load_error(copy_dir)


def test_wrong_count(copy_dir):
    raw = gzip.decompress((copy_dir / LABELS).read_bytes())
    (copy_dir / LABELS).write_bytes(gzip.compress(raw[:-10]))
    assert "expected" in _load_error(copy_dir)


@pytest.fixture
def http_server(tmp_path):
    """Serves a directory on 127.0.0.1; yields (url, directory)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()


def test_download_from_local_server(http_server, data_dir, tmp_path, monkeypatch):
    url, root = http_server
    for spec in fmnist.FILES.values():
        shutil.copy(data_dir / spec.name, root / spec.name)
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv(fmnist.ENV_URL, url)
    monkeypatch.setattr(fmnist, "DEBIAN_DIR", tmp_path / "no-debian-here")
    data = fmnist.load()
    assert data.directory == fmnist.user_cache_dir() and str(cache) in str(data.directory)
    assert data.train_images.shape == (60000, 28, 28)
    assert sorted(p.name for p in data.directory.iterdir()) == sorted(s.name for s in fmnist.FILES.values())


def test_download_corrupt_file_leaves_nothing(http_server, data_dir, tmp_path):
    url, root = http_server
    for spec in fmnist.FILES.values():
        shutil.copy(data_dir / spec.name, root / spec.name)
    (root / LABELS).write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 20))
    target = tmp_path / "cache"
    with pytest.raises(fmnist.DataError) as e:
        fmnist.download(target, base_url=url)
    assert str(e.value).startswith(url + LABELS) and "wrong magic number" in str(e.value)
    assert not (target / LABELS).exists()
    assert not list(target.glob("*.part")), "half-written download left behind"


def test_download_without_network(tmp_path):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "cache"
    with pytest.raises(fmnist.DataError) as e:
        fmnist.download(target, base_url=f"http://127.0.0.1:{port}/", timeout=5)
    assert "download failed" in str(e.value) and "dataset-fashion-mnist" in str(e.value)
    assert list(target.iterdir()) == []
