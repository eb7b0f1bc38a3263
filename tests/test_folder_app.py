"""The explorer on a model of your own images (train --data): every view renders with the folder's
category names, colours, size and colour pictures, links use its names, and a model without a judge
of its own says so instead of borrowing Fashion-MNIST's."""
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conftest import ROOT, let_go, live_view, run_cli
from explorer import colours
from views import SCRIPTS as PAGES

APP = str(ROOT / "streamlit_app.py")
NAMES = ["blue squares", "red discs", "Été, greens"]   # sorted as the folder lists them; a comma for the CSV
COLOURS = {"red discs": (220, 40, 30), "blue squares": (30, 60, 230), "Été, greens": (40, 200, 60)}


def _colour_folder(root, size=40, per_category=24):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_category):
            r, cy, cx = rng.integers(5, 12), rng.integers(12, size - 12), rng.integers(12, size - 12)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) if "discs" in name else \
                ((abs(yy - cy) < r) & (abs(xx - cx) < r))
            image = np.zeros((size, size, 3), np.uint8)
            image[mask] = colour
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def folder_model(tmp_path_factory):
    """A 32×32 colour model of three categories, embedded, with its own judge (a minute on 2 cores)."""
    tmp = tmp_path_factory.mktemp("folder_app")
    folder = _colour_folder(tmp / "images")
    run = tmp / "run"
    quick = ["--precision", "fp32", "--threads", "2", "--quiet"]
    for args in (("train", "--data", folder, "--out", run, "--epochs", "2", "--batch-size", "8", *quick),
                 ("embed", "--checkpoint", run, "--out", run, "--threads", "2"),
                 ("classifier", "--data", folder, "--out", run, "--epochs", "1", *quick)):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
    return run


@pytest.fixture
def app(folder_model, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(folder_model))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    return at


def _open(at, view: str, /, **query):
    at.query_params.clear()
    at.query_params.update(query)
    return at.switch_page(PAGES[view]).run()


def _text(at) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "info") for e in at.get(kind))


@pytest.mark.parametrize("view", PAGES)
def test_each_view_renders_a_colour_folder_model(app, view):
    _open(app, view)
    assert not app.exception, app.exception
    assert not app.error and not app.warning
    assert "Fashion-MNIST" not in _text(app) or view in ("Model card", "Compare models")
    for box in app.selectbox:   # every category picker offers the folder's own names
        if "ategor" in box.label:
            assert box.options == NAMES, (view, box.label)


def test_the_sidebar_names_and_colours_the_folders_categories(app):
    legend = " ".join(m.value for m in app.sidebar.markdown)
    for name, colour in zip(NAMES, colours.palette(3), strict=True):
        assert f"background:{colour};" in legend and name in legend
    intro = _text(app)
    assert "32×32 colour, 3 categories" in intro and "product photo" not in intro


def test_links_carry_the_folders_names_and_colour_pictures_reach_the_browser(app):
    _open(app, "Category sampling", cat="Été-greens")
    assert app.selectbox(key="sample_cat").value == NAMES.index("Été, greens") and not app.warning
    data = live_view(app, "live_samples")
    if data is not None:   # the browser is told the pictures' shape: 32×32, three planes
        assert (data["side"], data["channels"]) == (32, 3)
        let_go(app, "live_samples", 0.5)
        assert not app.exception
    _open(app, "Category sampling", cat="sneaker")
    assert "expected a category: blue-squares, red-discs, été-greens" in app.warning[0].value


def test_server_pictures_and_downloads_are_in_colour(folder_model):
    import views.cached as cached
    from explorer.assets import load_bundle
    from explorer.images import grid_png, rows_png
    from training.inference import decode_pixels
    from training.model_data import of_model
    b = load_bundle(folder_model)
    assert (b.categories, b.image_shape, b.colours) == (tuple(NAMES), (32, 32, 3), colours.palette(3))
    pictures = decode_pixels(b.model, b.mu[:4])
    assert pictures.shape == (4, 32, 32, 3)
    assert Image.open(io.BytesIO(grid_png(pictures, ncol=4))).mode == "RGB"
    test = of_model(b.meta, progress=False).test_images
    originals = test[b.index] / 255.0
    sheet = Image.open(io.BytesIO(rows_png([originals[:4], pictures[:3]], scale=1)))
    assert sheet.mode == "RGB" and sheet.size == (2 + 4 * 34, 2 + 2 * 34)   # the short row padded
    discs = originals[b.labels == NAMES.index("red discs")]
    lit = discs.reshape(-1, 3)[discs.reshape(-1, 3).max(1) > 0.5]
    assert len(lit) and (lit[:, 1:] < 0.3 * lit[:, :1]).all()   # a red disc stays red
    csv = cached.map_download(b, b.key, "tsne", "csv").decode()
    assert csv.startswith("index,label,category,x,y,mu_0,")
    rows = csv.splitlines()[1:]
    assert len(rows) == len(b.labels)
    assert any(',"Été, greens",' in row for row in rows) and any(",red discs," in row for row in rows)


def test_without_a_judge_the_views_say_how_to_make_one(folder_model, tmp_path, monkeypatch):
    bare = tmp_path / "bare"
    shutil.copytree(folder_model, bare)
    for name in ("classifier.safetensors", "classifier.json"):
        (bare / name).unlink()
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(bare))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for view in ("Variations", "Concepts", "Your image"):
        _open(at, view)
        assert not at.exception and not at.error, view
    _open(at, "Variations")
    assert "python -m training classifier --data" in _text(at)
    assert "✓" not in _text(at)   # no verdicts from a judge of other images
    meta = json.loads((bare / "model.json").read_text())
    assert meta["dataset"]["categories"] == NAMES
