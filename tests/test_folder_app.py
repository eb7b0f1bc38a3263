"""The explorer on a model of your own images (train --data): every view renders with the folder's
category names, colours, size and colour pictures, links use its names, and a model without a judge
of its own says so instead of borrowing Fashion-MNIST's."""
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conftest import COLOUR_FOLDER, ROOT, let_go, live_view, run_cli
from explorer import colours
from views import SCRIPTS as PAGES

APP = str(ROOT / "streamlit_app.py")
NAMES = list(COLOUR_FOLDER)


@pytest.fixture
def app(colour_folder_model, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(colour_folder_model))
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
    assert [t.value for t in app.title] == ["VAE explorer · images"]   # the folder's name, not Fashion-MNIST


def test_links_carry_the_folders_names_and_colour_pictures_reach_the_browser(app):
    _open(app, "Sampling", cat="Été-greens")
    assert app.selectbox(key="sample_cat").value == NAMES.index("Été, greens") and not app.warning
    data = live_view(app, "live_samples")
    if data is not None:   # the browser is told the pictures' shape: 32×32, three planes
        assert (data["side"], data["channels"]) == (32, 3)
        let_go(app, "live_samples", 0.5)
        assert not app.exception
    _open(app, "Sampling", cat="sneaker")
    assert "expected a category: blue-squares, red-discs, été-greens" in app.warning[0].value


def test_server_pictures_and_downloads_are_in_colour(colour_folder_model):
    import views.cached as cached
    from explorer.assets import load_bundle
    from explorer.images import grid_png, rows_png
    from training.inference import decode_pixels
    from training.model_data import of_model
    b = load_bundle(colour_folder_model)
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


def test_without_a_judge_the_views_say_how_to_make_one(colour_folder_model, tmp_path, monkeypatch):
    bare = tmp_path / "bare"
    shutil.copytree(colour_folder_model, bare)
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


def test_the_commands_follow_the_colour_folder_model(colour_folder_model, tmp_path):
    """augment takes the folder itself, encode prepares a photo as the folder's images were read, and
    evaluate judges with the folder's own classifier or, without one, leaves its stages out."""
    folder = json.loads((colour_folder_model / "model.json").read_text())["training"]["data"]
    r = run_cli("augment", "--checkpoint", colour_folder_model, "--input", folder, "--per-image", "2",
                "--min-confidence", "0", "--out", tmp_path / "variants.npz")   # every draw of a 2-epoch model
    assert r.returncode == 0, r.stderr
    variants = np.load(tmp_path / "variants.npz")
    assert variants["images"].shape == (144, 32, 32, 3)
    assert np.bincount(variants["labels"]).tolist() == [48] * 3
    r = run_cli("augment", "--checkpoint", ROOT / "assets", "--input", folder, "--per-image", "1",
                "--out", tmp_path / "x.npz")
    assert r.returncode == 1 and "the folder 'blue squares' is not a category of the model" in r.stderr
    assert r.stderr.strip().count("\n") == 0 or "reading" in r.stderr   # one line (after a progress bar)
    photo = tmp_path / "wide.png"
    Image.fromarray(np.full((30, 90, 3), (220, 40, 30), np.uint8)).save(photo)
    r = run_cli("encode", "--checkpoint", colour_folder_model, photo, "--out", tmp_path / "encoded")
    assert r.returncode == 0, r.stderr
    assert "classifier: " in r.stdout and "centre square" in r.stdout
    recon = Image.open(tmp_path / "encoded" / "wide.recon.png")
    assert recon.mode == "RGB" and recon.size == (2 * 32 * 4, 32 * 4)
    assert np.asarray(recon)[:, :128].reshape(-1, 3).mean(0).round().tolist() == [220, 40, 30]
    r = run_cli("evaluate", "--checkpoint", colour_folder_model, "--quick", "--parts", "samples",
                "--out", tmp_path / "m.json", "--threads", "2")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert list(m["category_agreement_per_category"]) == NAMES and m["classifier"] == str(colour_folder_model)
    bare = tmp_path / "bare"
    shutil.copytree(colour_folder_model, bare, ignore=shutil.ignore_patterns("classifier.*"))
    r = run_cli("evaluate", "--checkpoint", bare, "--quick", "--parts", "samples", "--threads", "2")
    assert r.returncode == 0, r.stderr
    m = json.loads((bare / "metrics.json").read_text())
    assert "category_agreement" not in m and "classifier --data" in m["sample_quality_skipped"]


@pytest.fixture(scope="module")
def unlabelled_model(colour_folder_model, tmp_path_factory):
    """The same images in one flat folder, without categories: a model of an unlabelled set."""
    tmp = tmp_path_factory.mktemp("unlabelled")
    source = json.loads((colour_folder_model / "model.json").read_text())["training"]["data"]
    (tmp / "images").mkdir()
    for i, path in enumerate(sorted(Path(source).rglob("*.png"))):
        shutil.copy(path, tmp / "images" / f"{i:03d}.png")
    for args in (("train", "--data", tmp / "images", "--out", tmp / "run", "--epochs", "1",
                  "--batch-size", "8", "--precision", "fp32", "--threads", "2", "--quiet"),
                 ("embed", "--checkpoint", tmp / "run", "--out", tmp / "run", "--threads", "2")):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
    return tmp / "run"


def test_a_model_of_an_unlabelled_folder_opens_every_view(unlabelled_model, monkeypatch):
    """Everything that needs no categories works; what needs them says so in one line."""
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(unlabelled_model))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    told = {}
    for view in PAGES:
        _open(at, view)
        assert not at.exception and not at.error and not at.warning, (view, at.exception)
        told[view] = [i.value for i in at.info if "needs categories" in i.value]
        assert not any("ategor" in box.label for box in at.selectbox), view
    assert [v for v, lines in told.items() if lines] == ["Interpolation & hybrids"]
    assert "### Categories" not in " ".join(m.value for m in at.sidebar.markdown)
    _open(at, "Latent sliders")
    assert at.radio(key="slider_start").options == ["origin"]
    _open(at, "Sampling")   # without categories: the whole model, from its learned prior
    assert at.radio(key="sample_prior").options == ["learned prior", "N(0, I), the VAE's prior"]
    live = live_view(at, "live_model_samples")   # decoded in the browser, or on the server without it
    shown = live["rows"][0]["title"] if live else " ".join(c for i in at.get("image") for c in i.captions)
    assert "16 samples from the learned prior" in shown


def test_a_model_of_an_unlabelled_folder_generates_from_its_learned_prior(unlabelled_model, tmp_path):
    from training.sampling import LearnedPrior
    prior = LearnedPrior.from_arrays(np.load(unlabelled_model / "embeddings.npz"))
    assert prior is not None and prior.components >= 1
    r = run_cli("generate", "--checkpoint", unlabelled_model, "--n", "5", "--out", tmp_path / "drawn.npz")
    assert r.returncode == 0, r.stderr
    from training import load_model
    size = load_model(unlabelled_model).config.image_size
    with np.load(tmp_path / "drawn.npz") as f:
        assert sorted(f.files) == ["images", "z"] and f["images"].shape == (5, size, size, 3)
        np.testing.assert_allclose(f["z"], prior.sample(5, 1.0, np.random.default_rng(0))[0], atol=1e-5)
    r = run_cli("generate", "--checkpoint", unlabelled_model, "--all", "--n", "5",
                "--out", tmp_path / "x.npz")
    assert r.returncode != 0 and "without categories" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_folder_model_is_judged_only_by_a_judge_of_its_own_images(colour_folder_model, tmp_path):
    from training.evaluation.classifier import load_judge
    from training.model import ModelLoadError
    meta = json.loads((colour_folder_model / "model.json").read_text())
    judge = load_judge(colour_folder_model, meta)
    assert (judge.classes, judge.size, judge.channels) == (3, 32, 3)
    assert judge.info["categories"] == NAMES and judge.info["data"] == meta["training"]["data"]
    with pytest.raises(ModelLoadError, match=r"judges 10 categories at 28×28×1, the model has 3 at 32×32×3 "
                                             r"\(its categories differ\); train its judge with `python -m "
                                             r"training classifier --data "):
        load_judge(colour_folder_model, meta, given=ROOT / "assets")
    r = run_cli("classifier", "--data", meta["training"]["data"], "--out", colour_folder_model,
                "--image-size", "64", "--epochs", "1", "--quiet")
    assert r.returncode == 1 and "--image-size 64: the model in" in r.stderr
    assert "its judge must match" in r.stderr
    r = run_cli("classifier", "--out", tmp_path, "--channels", "3")
    assert r.returncode == 1 and "--channels: only with --data DIR" in r.stderr


def test_shared_mode_serves_an_allowed_folder_model_and_shows_visitors_no_server_path(colour_folder_model,
                                                                                     monkeypatch):
    """The owner's allow-list takes a folder model as it takes any; a visitor sees its categories in
    every view and the names of its directory and folder, never where they lie on the server."""
    monkeypatch.setenv("EXPLORER_SHARED", "1")
    monkeypatch.setenv("EXPLORER_MODELS", str(colour_folder_model))
    monkeypatch.setenv("EXPLORER_LIMITS", "action=1000,draw=1000")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert at.sidebar.selectbox(key="model_choice").options == [colour_folder_model.name]
    folder = Path(json.loads((colour_folder_model / "model.json").read_text())["training"]["data"])
    shown = {}
    for view in PAGES:
        _open(at, view)
        assert not at.exception and not at.error and not at.warning, (view, at.exception)
        shown[view] = " ".join([_text(at), *(str(e.value) for kind in ("code", "json") for e in at.get(kind)),
                                *(e.value for e in at.sidebar.caption)])
        for where in (folder.parent, colour_folder_model.parent):
            assert str(where) not in shown[view], view
        for box in at.selectbox:
            if "ategor" in box.label:
                assert box.options == NAMES, (view, box.label)
    assert f"trained on your images in `{folder.name}`" in shown["Latent map"]
    assert "--data images" in shown["Model card"] and "**Model directory** `run`" in shown["Model card"]
