"""Concept directions on the shipped model's real latents: the maths, the files, the CLI and the app."""
import json

import numpy as np
import pytest
from streamlit.elements.plotly_chart import PlotlySelectionState, PlotlyState
from streamlit.testing.v1 import AppTest

from conftest import ROOT, frame_latents, let_go, live_view, run_cli
from explorer.assets import load_bundle
from training import CATEGORIES
from training.synthesis import concepts as C
from views import SCRIPTS as PAGES

ASSETS = ROOT / "assets"
SLEEVES = "assets/concepts/long-sleeves.json"


@pytest.fixture(scope="module")
def b():
    return load_bundle(ASSETS)


def _rows(b, name):
    return np.flatnonzero(b.labels == CATEGORIES.index(name))


def _make(b, with_rows, without_rows, rule=C.SELECTED):
    return C.make("test", b.mu, b.labels, b.index, with_rows, without_rows, rule, b.meta["weights_sha256"])


def test_a_concept_of_two_categories_separates_them_and_points_from_one_to_the_other(b):
    boots, sneakers = _rows(b, "Ankle boot"), _rows(b, "Sneaker")
    concept, note = _make(b, boots, sneakers)
    assert note is None and concept.is_real and concept.accuracy > 0.9 and concept.folds == 5
    assert concept.chance_bound < 0.56   # 2,000 items: shuffled groups stay near 0.5
    # the direction is the difference of the means (rounded as the file stores it) ...
    gap = b.mu[boots].astype(np.float64).mean(0) - b.mu[sneakers].astype(np.float64).mean(0)
    np.testing.assert_allclose(concept.direction, gap, atol=5e-8)
    # ... so strength 1 takes the sneakers' mean to the boots' mean
    np.testing.assert_allclose(C.push(b.mu[sneakers].mean(0), concept.direction, 1.0)[0], b.mu[boots].mean(0),
                               atol=1e-5)
    assert concept.with_items == tuple(int(i) for i in b.index[boots])


def test_two_random_halves_of_one_category_measure_as_noise(b):
    for name, seed in (("Shirt", 0), ("Bag", 1)):
        items = np.random.default_rng(seed).permutation(_rows(b, name))
        concept, _ = _make(b, items[:500], items[500:])
        assert not concept.is_real and abs(concept.accuracy - 0.5) < 0.06, (name, concept.accuracy)


def test_strengths_and_push_follow_the_closed_form():
    d = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(C.strengths(2.0, 5), [-2, -1, 0, 1, 2])
    strip = C.push(np.zeros(3), d, C.strengths(2.0, 5))
    np.testing.assert_allclose(strip, np.outer([-2, -1, 0, 1, 2], d))
    many = C.push(np.ones((4, 3)), d, 1.5)
    np.testing.assert_allclose(many, 1 + 1.5 * d[None].repeat(4, 0))


def test_the_rest_of_their_categories_and_overlaps(b):
    shirts = _rows(b, "Shirt")
    w, wo, note = C.groups(shirts[:50], (), b.labels, C.REST)
    assert note is None and len(w) == 50 and len(wo) == len(shirts) - 50 and set(b.labels[wo]) == {6}
    w, wo, note = C.groups(shirts[:60], shirts[40:200], b.labels)
    assert len(w) == 40 and len(wo) == 140 and "20 items in both groups" in note
    with pytest.raises(C.ConceptError, match="overlap entirely"):
        C.groups(shirts[:50], shirts[:50], b.labels)
    with pytest.raises(C.ConceptError, match="overlap entirely"):
        C.groups(shirts[:50], shirts[:500], b.labels)   # every 'with' item is also 'without'
    for few in (C.MIN_GROUP - 1, 1):
        message = f"'with' group has {few} items: select at least {C.MIN_GROUP}"
        with pytest.raises(C.ConceptError, match=message):
            C.groups(shirts[:few], shirts[100:200], b.labels)
    with pytest.raises(C.ConceptError, match="'without' group has 3 items"):
        C.groups(shirts[:20], shirts[100:103], b.labels)
    C.groups(shirts[:C.MIN_GROUP], shirts[100:100 + C.MIN_GROUP], b.labels)   # the minimum itself is enough


def test_a_concept_file_reads_back_and_bad_files_are_one_line(b, tmp_path):
    concept, _ = _make(b, _rows(b, "Ankle boot")[:100], _rows(b, "Sneaker")[:100])
    path = tmp_path / "boots.json"
    path.write_text(concept.to_json())
    back = C.load(path, b.meta["weights_sha256"], b.latent_dim)
    np.testing.assert_array_equal(back.direction, concept.direction)
    fields = ("name", "with_items", "without_items", "without_rule", "accuracy", "chance_bound", "folds")
    assert [getattr(back, f) for f in fields] == [getattr(concept, f) for f in fields]
    raw = json.loads(concept.to_json())
    cases = {
        "not JSON": ("{ direction: [1, 2", "not a concept file (not JSON"),
        "other JSON": (json.dumps({"a": 1}), 'not a concept file (expected "format"'),
        "no groups": (json.dumps({k: v for k, v in raw.items() if k != "groups"}), "malformed concept file"),
        "no direction": (json.dumps({**raw, "direction": None}),
                         "the direction must be a list of finite numbers"),
        "not finite": (json.dumps({**raw, "direction": [1.0] * b.latent_dim}).replace("1.0", "1e999", 1),
                       "finite numbers"),
        "wrong dimension": (json.dumps({**raw, "direction": raw["direction"][:16]}),
                            f"a 16-dimensional direction, but the model's latent space has {b.latent_dim}"),
        "other weights": (json.dumps({**raw, "weights_sha256": "0" * 64}),
                          "made on other weights (000000000000…)"),
    }
    for name, (text, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(text)
        with pytest.raises(C.ConceptError) as e:
            C.load(bad, b.meta["weights_sha256"], b.latent_dim)
        assert message in str(e.value) and str(bad) in str(e.value) and "\n" not in str(e.value), name
    assert path.read_text() == concept.to_json()   # nothing the person saved was touched


def test_the_shipped_examples_are_real_concepts_of_the_shipped_model(b):
    files = sorted((ASSETS / "concepts").glob("*.json"))
    assert len(files) == 3
    for path in files:
        concept = C.load(path, b.meta["weights_sha256"], b.latent_dim)
        assert concept.is_real and concept.accuracy > 0.85, path
        rows_with = C.rows_of(concept.with_items, b.index)
        rows_without = C.rows_of(concept.without_items, b.index)
        assert len(rows_with) == len(concept.with_items) >= C.MIN_GROUP
        # the file's direction is what its groups give now
        again, _ = _make(b, rows_with, rows_without, concept.without_rule)
        np.testing.assert_allclose(again.direction, concept.direction, atol=1e-7)


def test_generate_with_a_concept_moves_every_sample_by_strength_times_direction(tmp_path):
    plain, pushed = tmp_path / "plain.npz", tmp_path / "pushed.npz"
    concept = ASSETS / "concepts" / "long-sleeves.json"
    common = ("generate", "--category", "T-shirt", "--n", "6", "--seed", "3")
    assert run_cli(*common, "--out", str(plain)).returncode == 0
    r = run_cli(*common, "--concept", str(concept), "--strength", "1.5", "--out", str(pushed))
    assert r.returncode == 0, r.stderr
    d = np.asarray(json.loads(concept.read_text())["direction"])
    z0, z1 = np.load(plain)["z"], np.load(pushed)["z"]
    np.testing.assert_allclose(z1, z0 + 1.5 * d[None], atol=1e-5)
    assert not np.array_equal(np.load(plain)["images"], np.load(pushed)["images"])


@pytest.mark.parametrize("args, message", [
    (("--concept", "missing.json"), "missing.json: cannot be read"),
    (("--concept", "README.md"), "README.md: not a concept file (not JSON"),
    (("--concept", SLEEVES, "--strength", "nan"), "expected a number from -10 to 10"),
    (("--concept", SLEEVES, "--strength", "11"), "expected a number from -10 to 10"),
])
def test_generate_refuses_a_bad_concept_in_one_line(tmp_path, args, message):
    r = run_cli("generate", "--category", "Shirt", "--n", "2", "--out", str(tmp_path / "x.npz"), *args)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.npz").exists()


def test_generate_refuses_a_concept_of_another_model(tmp_path, b):
    raw = json.loads((ASSETS / "concepts" / "long-sleeves.json").read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**raw, "weights_sha256": "f" * 64}))
    r = run_cli("generate", "--category", "Shirt", "--n", "2", "--out", str(tmp_path / "x.npz"),
                "--concept", str(other))
    assert r.returncode != 0 and "made on other weights" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --- the app -----------------------------------------------------------------------------------
def _concepts_view(monkeypatch):
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ASSETS))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    return at.switch_page(PAGES["Concepts"]).run()


def _select(at, rows):
    projection = at.sidebar.selectbox(key="projection").value
    at.session_state[f"concept_map_{projection}"] = PlotlyState(selection=PlotlySelectionState(
        points=[{"curve_number": 1, "point_number": i, "point_index": i, "customdata": int(r)}
                for i, r in enumerate(rows)] + [{"curve_number": 0, "point_number": 0, "customdata": -1}],
        point_indices=list(range(len(rows))), box=[{"x": [0, 1], "y": [0, 1]}], lasso=[]))
    return at.run()


def test_app_groups_from_a_selection_make_a_concept_and_a_strip(monkeypatch, b):
    at = _concepts_view(monkeypatch)
    assert not at.exception and any("Select at least" in i.value for i in at.info)
    _select(at, _rows(b, "Ankle boot")[:40])
    at.button(key="concept_save_with").click().run()
    _select(at, _rows(b, "Sneaker")[:5])
    at.button(key="concept_save_without").click().run()
    assert any(f"'without' group has 5 items: select at least {C.MIN_GROUP}" in w.value for w in at.warning)
    _select(at, _rows(b, "Sneaker")[:40])
    at.button(key="concept_save_without").click().run()
    assert not at.exception
    assert any("A real concept" in m.value for m in at.markdown)
    captions = [c.value for c in at.caption] + [str(getattr(i, "caption", "")) for i in at.get("image")]
    assert any("The Sneaker mean pushed from −2 to +2" in c for c in captions), captions


def test_app_opens_an_example_and_its_samples_match_the_cli(monkeypatch, b, tmp_path):
    at = _concepts_view(monkeypatch)
    name = json.loads((ASSETS / "concepts" / "long-sleeves.json").read_text())["name"]
    at.selectbox(key="concept_example").set_value(name).run()
    assert not at.exception and at.text_input(key="concept_name").value == name
    at.selectbox(key="concept_source").set_value("a category's samples").run()
    at.selectbox(key="concept_cat").set_value(0).run()
    at.number_input(key="concept_n").set_value(8).run()
    at.number_input(key="concept_seed").set_value(5).run()
    let_go(at, "live_concept", 1.5)   # the strength, dragged in the browser and let go at 1.5
    assert not at.exception
    command = next(c.value for c in at.code if "--concept" in c.value)
    assert "--concept assets/concepts/long-sleeves.json --strength 1.5" in command and "--seed 5" in command
    out = tmp_path / "cli.npz"
    r = run_cli("generate", "--category", "T-shirt/top", "--n", "8", "--seed", "5", "--concept",
                "assets/concepts/long-sleeves.json", "--strength", "1.5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    # the app's pushed row is the same latents, decoded the same way
    from training.inference import decode_pixels
    from training.sampling import DEFAULT_NOISE, sample_categories
    counts = np.zeros(10, np.int64)
    counts[0] = 8
    z, _ = sample_categories(b.category_mean, None, counts, DEFAULT_NOISE, 5, b.category_mixtures)
    d = C.load(ASSETS / "concepts" / "long-sleeves.json", b.meta["weights_sha256"], b.latent_dim).direction
    app_images = (np.clip(decode_pixels(b.model, C.push(z, d, 1.5)), 0, 1) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(app_images, np.load(out)["images"])
    # …and the browser draws those latents: the second row of the live view at strength 1.5
    live = live_view(at, "live_concept")
    np.testing.assert_allclose(frame_latents(live, 1.5)[8:], C.push(z, d, 1.5), rtol=0, atol=1e-6)
