"""explorer.links: every kind of parameter reads back what it wrote, and no query can make it raise."""
import random
from types import SimpleNamespace

import numpy as np
import pytest

from explorer import links
from training import CATEGORIES

BUNDLE = SimpleNamespace(index=np.arange(100, 200), key="model-1", latent_dim=8,   # test images 100–199
                         categories=CATEGORIES)
PARAMS = [links.Int("n", "n", 4, 64), links.Float("noise", "noise", 0.0, 2.0),
          links.Choice("path", "path", (("linear", "linear path"), ("spherical", "spherical path"))),
          links.Category("cat", "cat"), links.Item("item", "sel"), links.Spot("at", "spot"),
          links.Moved("z", "moved", bound=3.0)]


def test_values_survive_a_round_trip_through_the_url():
    values = {"n": 16, "noise": 0.55, "path": "spherical path", "cat": 0,
              "sel": {"kind": "point", "index": 7, "model": "model-1"}, "moved": {3: -1.25, 0: 2.5}}
    query = links.write(values, PARAMS, BUNDLE)
    assert query == {"n": "16", "noise": "0.55", "path": "spherical", "cat": "t-shirt-top", "item": "107",
                     "z": "0:2.5,3:-1.25"}
    back, notices = links.read(query, PARAMS, BUNDLE)
    assert notices == [] and back == values


def test_a_test_image_is_named_by_its_number_in_the_test_split_not_by_its_row():
    assert links.read({"item": "150"}, PARAMS, BUNDLE)[0]["sel"]["index"] == 50
    assert links.row_of(BUNDLE, 99) is None and links.row_of(BUNDLE, 199) == 99


def test_categories_by_slug_or_number():
    assert [links.category_slug(CATEGORIES[c]) for c in (0, 9)] == ["t-shirt-top", "ankle-boot"]
    for c in range(len(CATEGORIES)):
        assert links.read({"cat": links.category_slug(CATEGORIES[c])}, PARAMS, BUNDLE)[0] == {"cat": c}
        assert links.read({"cat": str(c)}, PARAMS, BUNDLE)[0] == {"cat": c}
    assert links.read({"cat": "Ankle-Boot"}, PARAMS, BUNDLE)[0] == {"cat": 9}


@pytest.mark.parametrize("name, at_bounds, outside", [
    ("n", ["4", "5", "63", "64"], ["3", "65", "-1", "1e3", "4.5", ""]),
    ("noise", ["0", "0.01", "1.99", "2"], ["-0.01", "2.01", "nan", "inf", "-inf", "x"]),
    ("item", ["100", "101", "198", "199"], ["99", "200", "-5", "1.0", "abc"]),
    ("z", ["0:3", "7:-3", "0:2.99,7:-2.99", ""], ["8:1", "-1:1", "0:3.01", "0:-3.01", "0", "0:x", "0:nan"]),
    ("cat", ["0", "9", "bag"], ["10", "-1", "bags", "shirt/top"]),
    ("path", ["linear", "spherical"], ["Linear", "cubic", ""]),
    ("at", ["1.5,-2", "0,0"], ["1", "1,2,3", "a,b", "nan,0"]),
])
def test_every_bound_at_just_inside_and_just_outside(name, at_bounds, outside):
    for text in at_bounds:
        values, notices = links.read({name: text}, PARAMS, BUNDLE)
        assert notices == [] and len(values) == 1, text
    for text in outside:
        values, notices = links.read({name: text}, PARAMS, BUNDLE)
        assert values == {} and len(notices) == 1, text
        assert notices[0].startswith(f"`{name}=")
        assert "expected" in notices[0] or "no test image" in notices[0]
        assert "\n" not in notices[0]


def test_unknown_parameters_are_named_and_streamlits_own_are_left_alone():
    values, notices = links.read({"embed": "true", "colour": "red", "n": "8"}, PARAMS, BUNDLE)
    assert values == {"n": 8} and notices == ["`colour` is not a setting of this view"]


def test_an_upload_or_a_mix_is_not_written_as_an_item():
    upload = {"kind": "upload", "name": "x.png", "latent": [0.0] * 8, "model": "model-1"}
    mix = {"kind": "mix", "xy": [1.23456, -2.0], "projection": "tsne", "model": "model-1"}
    assert links.write({"sel": upload}, PARAMS, BUNDLE) == {}
    assert links.write({"sel": mix, "spot": mix}, PARAMS, BUNDLE) == {"at": "1.235,-2.000"}


def test_a_spot_must_lie_on_the_map():
    coords = np.array([[0.0, 0.0], [10.0, 20.0]])
    assert links.spot_on_map((10.5, -1.0), coords) == (10.5, -1.0)   # within a tenth of each side's span
    for xy in ((11.5, 0.0), (0.0, -2.5), (-5.0, 50.0)):
        with pytest.raises(links.LinkError, match="expected a spot on the map"):
            links.spot_on_map(xy, coords)


def test_no_query_makes_read_raise():
    rng = random.Random(0)
    alphabet = "0123456789-.,:eEnaifx%/ \t\n'\"<>"
    for _ in range(3000):
        name = rng.choice([p.name for p in PARAMS] + ["other"])
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        values, notices = links.read({name: text}, PARAMS, BUNDLE)
        assert len(values) + len(notices) == 1
    huge = ",".join(["1:1"] * 2000)
    assert "at most" in links.read({"z": huge}, PARAMS, BUNDLE)[1][0]


def test_every_view_declares_its_address_and_link_once():
    """Each view's address comes from the table in views/__init__.py, its link parameters are declared
    once, at import (``PARAMS``), each bound to a session key named in views/keys.py, and the link reader
    knows every one (a parameter of another view is dropped quietly, any other gets a notice)."""
    import importlib

    from views import VIEWS, keys
    from views.linking import every_view_parameter
    named = {v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str)}
    names = set()
    for view in VIEWS:
        module = importlib.import_module(view.script.removesuffix(".py").replace("/", "."))
        assert module.URL_PATH == view.url_path
        assert all(isinstance(p, links.Param) for p in module.PARAMS), view.title
        assert {p.key for p in module.PARAMS} <= named, view.title
        names |= {p.name for p in module.PARAMS}
    assert names == every_view_parameter() and {"item", "at", "cat", "z", "with", "concept"} <= names


def test_a_folders_categories_are_linked_by_their_own_names():
    """Slugs come from the model's names; two names with one slug are linked by number, so a link
    reopens the category it was made on, and a Fashion-MNIST name means nothing to a folder model."""
    folder = SimpleNamespace(**{**vars(BUNDLE), "categories": ("Red Dress", "red-dress", "Été 2025", "0")})
    param = links.Category("cat", "k")
    assert [param.format(c, folder) for c in range(4)] == ["red-dress", "1", "été-2025", "0"]
    for c in range(4):
        assert links.read({"cat": param.format(c, folder)}, [param], folder)[0] == {"k": c}
    assert links.read({"cat": "Été-2025"}, [param], folder)[0] == {"k": 2}
    _, notices = links.read({"cat": "sneaker"}, [param], folder)
    assert "expected a category: red-dress, été-2025, 0" in notices[0]
