"""Your own images (training/folder.py and `python -m training data`): real folders made here, in every
layout the loader reads, with bad files, odd sizes, grey and colour images, and its cache."""
import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from training import folder as F


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)


def _grey(value, size=(20, 20)):
    return np.full(size[::-1], value, np.uint8)


def _labelled(root, counts: dict, size=(20, 20)):
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            _png(root / name / f"{i}.png", _grey(10 * c + i, size))
    return root


def test_a_labelled_folder_at_any_depth_in_sorted_categories(tmp_path):
    root = _labelled(tmp_path / "set", {"shoes": 3, "bags": 4})
    _png(root / "shoes" / "summer" / "deep.png", _grey(200))        # below its category: still a shoe
    (root / "bags" / ".hidden.png").write_bytes(b"not even an image")   # hidden: skipped
    (root / "bags" / "notes.txt").write_text("x")                      # not an image: counted
    listing = F.list_folder(root)
    assert listing.categories == ("bags", "shoes")
    assert len(listing.files) == 8 and listing.files[-1] == "shoes/summer/deep.png"
    assert listing.labels.tolist() == [0] * 4 + [1] * 4 and listing.ignored == 1
    s = F.load(root, cache=tmp_path / "cache", progress=False)
    assert s.images.shape == (8, 28, 28) and s.images.dtype == np.uint8 and s.channels == 1
    assert s.images[-1].min() == s.images[-1].max() == 200   # a flat grey image stays that grey


def test_a_flat_folder_is_one_unlabelled_set(tmp_path):
    for i in range(5):
        _png(tmp_path / "flat" / f"{i}.png", _grey(i))
    s = F.load(tmp_path / "flat", cache=tmp_path / "cache", progress=False)
    assert s.categories == () and (s.labels == -1).all() and len(s.labels) == 5
    assert s.is_test.sum() == 1 and s.split["source"] == "seeded"   # 5/7 rounds to 1


def test_train_and_test_folders_give_the_split(tmp_path):
    root = tmp_path / "split"
    _labelled(root / "train", {"a": 3, "b": 2})
    _labelled(root / "test", {"a": 1, "b": 1})
    s = F.load(root, cache=tmp_path / "cache", progress=False)
    assert s.split == {"source": "folders"} and s.categories == ("a", "b")
    assert s.is_test.tolist() == [False] * 5 + [True] * 2
    assert [f.split("/")[0] for f in s.files] == ["train"] * 5 + ["test"] * 2


def test_the_seeded_split_keeps_every_category_on_both_sides():
    labels = np.repeat(np.arange(4), [2, 7, 70, 701])
    a, b = F.seeded_split(labels, 0), F.seeded_split(labels, 1)
    assert np.array_equal(a, F.seeded_split(labels, 0)) and not np.array_equal(a, b)
    per = [int(a[labels == c].sum()) for c in range(4)]
    assert per == [1, 1, 10, 100]   # a seventh, at least one, never all
    assert all((~a[labels == c]).any() for c in range(4))


@pytest.mark.parametrize("content, problem", [
    (b"", "not a readable image"),
    (b"GIF89a not really", "not a readable image"),
])
def test_a_bad_image_is_named_in_one_line_and_skip_bad_counts_it(tmp_path, content, problem):
    root = _labelled(tmp_path / "set", {"a": 3, "b": 3})
    (root / "a" / "broken.png").write_bytes(content)
    with pytest.raises(F.FolderError, match=problem) as e:
        F.load(root, cache=tmp_path / "cache", progress=False)
    assert "a/broken.png" in str(e.value) and "--skip-bad" in str(e.value) and "\n" not in str(e.value)
    s = F.load(root, skip_bad=True, cache=tmp_path / "cache", progress=False)
    assert len(s.labels) == 6 and [f for f, _ in s.bad] == ["a/broken.png"]
    with pytest.raises(F.FolderError, match="broken.png"):   # the cache remembers, and still refuses
        F.load(root, cache=tmp_path / "cache", progress=False)


def test_a_truncated_jpeg_is_refused(tmp_path):
    root = _labelled(tmp_path / "set", {"a": 2, "b": 2})
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(root / "b" / "x.jpg")
    data = (root / "b" / "x.jpg").read_bytes()
    (root / "b" / "x.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(F.FolderError, match=r"b/x\.jpg: not a readable image \(image file is truncated"):
        F.load(root, cache=tmp_path / "cache", progress=False)


def test_folders_the_loader_cannot_use_are_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(F.FolderError, match="no images"):
        F.list_folder(tmp_path / "empty")
    with pytest.raises(F.FolderError, match="not a folder"):
        F.list_folder(tmp_path / "missing")
    lonely = _labelled(tmp_path / "lonely", {"a": 3, "b": 1})
    with pytest.raises(F.FolderError, match=r"lonely/b: 1 image\(s\); a category needs at least 2"):
        F.load(lonely, cache=tmp_path / "cache", progress=False)
    many = tmp_path / "many"
    for c in range(F.MAX_CATEGORIES + 1):
        _png(many / f"c{c:02d}" / "0.png", _grey(c))
    with pytest.raises(F.FolderError, match=f"{F.MAX_CATEGORIES + 1} categories; at most {F.MAX_CATEGORIES}"):
        F.list_folder(many)
    with pytest.raises(F.FolderError, match="image size 30: expected one of 28, 32, 64"):
        F.load(lonely, 30)


def test_colour_odd_sizes_transparency_and_grey_content(tmp_path):
    rgb = tmp_path / "rgb"
    wide = np.zeros((30, 90, 3), np.uint8)
    wide[:, 30:60] = (200, 30, 10)                    # the centre square is red, the sides black
    _png(rgb / "a" / "wide.png", wide)
    _png(rgb / "a" / "tall.png", np.full((120, 40, 3), (0, 90, 250), np.uint8))
    clear = np.zeros((40, 40, 4), np.uint8)
    clear[..., :3] = 255                               # white, fully transparent: onto black
    _png(rgb / "b" / "clear.png", clear, "RGBA")
    _png(rgb / "b" / "grey.png", _grey(77, (50, 50)))
    s = F.load(rgb, cache=tmp_path / "cache", progress=False)
    assert s.images.shape == (4, 32, 32, 3) and s.channels == 3   # the median shorter side is 40: 32
    tall_image, wide_image, clear_image, grey_image = s.images   # in each category, by name
    assert (np.abs(wide_image.astype(int) - (200, 30, 10)) <= 6).all()   # the centre square (Lanczos rings)
    assert (tall_image == (0, 90, 250)).all() and (clear_image == 0).all() and (grey_image == 77).all()
    assert s.sizes == {(90, 30): 1, (40, 120): 1, (40, 40): 1, (50, 50): 1}
    assert s.modes == {"RGB": 2, "RGBA": 1, "L": 1} and s.files[0] == "a/tall.png"
    # a JPEG saved as RGB whose content is grey is kept as one channel
    jpg = tmp_path / "greyjpg"
    for c in "ab":
        for i in range(2):
            jpg.joinpath(c).mkdir(parents=True, exist_ok=True)
            grey_rgb = Image.fromarray(np.full((70, 70), 40 * i + 60, np.uint8)).convert("RGB")
            grey_rgb.save(jpg / c / f"{i}.jpg")
    g = F.load(jpg, cache=tmp_path / "cache", progress=False)
    assert g.channels == 1 and g.images.shape == (4, 64, 64)


def test_sizes_are_inferred_from_the_typical_shorter_side():
    assert F.infer_size({(8, 8): 10}) == 28                   # small images are enlarged to 28
    assert F.infer_size({(40, 60): 3, (500, 500): 1}) == 32
    assert F.infer_size({(64, 64): 2, (28, 28): 1}) == 64
    assert F.infer_size({(1200, 900): 5}) == 64


def test_the_cache_is_read_until_the_folder_changes(tmp_path):
    root = _labelled(tmp_path / "set", {"a": 3, "b": 3})
    cache = tmp_path / "cache"
    first = F.load(root, cache=cache, progress=False)
    again = F.load(root, cache=cache, progress=False)
    assert not first.from_cache and again.from_cache and again.checksum == first.checksum
    assert np.array_equal(first.images, again.images) and np.array_equal(first.is_test, again.is_test)
    _png(root / "a" / "0.png", _grey(250))                     # an image edited
    edited = F.load(root, cache=cache, progress=False)
    assert not edited.from_cache and edited.checksum != first.checksum and edited.images[0].max() == 250
    _png(root / "b" / "new.png", _grey(5))                     # an image added
    added = F.load(root, cache=cache, progress=False)
    assert not added.from_cache and len(added.labels) == 7
    other_size = F.load(root, 64, cache=cache, progress=False)  # another size: decoded once more
    assert not other_size.from_cache and other_size.size == 64
    assert F.load(root, 64, cache=cache, progress=False).from_cache
    # only the folder's present version is kept (a copy of an older version elsewhere keeps its own)
    entries = [p.name for p in cache.iterdir() if p.name.endswith(f"-v{F.CACHE_VERSION}")]
    assert entries == [f"{added.checksum[:32]}-v{F.CACHE_VERSION}"]


def test_the_data_command_reports_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = _labelled(tmp_path / "set", {"sneaker": 5, "boot": 3}, size=(8, 8))
    r = run_cli("data", root)
    assert r.returncode == 0, r.stderr
    assert "8 images, 2 categories; split: seeded (seed 0, 14.3% of each category for testing)" in r.stdout
    assert "  boot" in r.stdout and "  sneaker" in r.stdout and "8×8 (8)" in r.stdout
    assert "kept as: 28×28, 1 channel (every image is grey) (decoded and cached)" in r.stdout
    assert "(read from the cache)" in run_cli("data", root).stdout
    assert (tmp_path / "xdg" / "fashion-mnist-vae" / "folders").is_dir()
    (root / "boot" / "2.png").write_bytes(b"broken")
    r = run_cli("data", root)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "boot/2.png: not a readable image" in r.stderr
    r = run_cli("data", root, "--skip-bad")
    assert r.returncode == 0 and "left out: 1 unreadable image(s), e.g. boot/2.png" in r.stdout


def test_the_example_folders_load_as_labelled_sets(tmp_path):
    import importlib.util

    from conftest import ROOT
    spec = importlib.util.spec_from_file_location("example_folders", ROOT / "scripts" / "example_folders.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    assert ex.write_digits(tmp_path / "digits") == 1797
    assert ex.write_shapes(tmp_path / "shapes", 3) == 18
    digits = F.load(tmp_path / "digits", cache=tmp_path / "cache", progress=False)
    assert digits.categories == tuple("0123456789") and digits.images.shape == (1797, 28, 28)
    shapes = F.load(tmp_path / "shapes", cache=tmp_path / "cache", progress=False)
    assert shapes.categories == tuple(sorted(ex.SHAPES)) and shapes.images.shape == (18, 64, 64, 3)
    again = tmp_path / "again"
    ex.write_shapes(again, 3)
    assert F.folder_checksum(F.list_folder(again)) == shapes.checksum   # the same seed, the same bytes


def test_fashion_mnist_written_as_pngs_reads_back_as_the_idx_arrays(tmp_path, dataset):
    """The folder path and the IDX path give the same pixels: a subset of Fashion-MNIST written as
    DIR/train/<category>/<index>.png and DIR/test/…, read back, equals the IDX arrays image for image."""
    from training.data import CATEGORIES
    root = tmp_path / "fmnist"
    parts = {"train": (dataset.train_images[:300], dataset.train_labels[:300]),
             "test": (dataset.test_images[:100], dataset.test_labels[:100])}
    for split, (images, labels) in parts.items():
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            _png(root / split / CATEGORIES[label].replace("/", "-") / f"{i:05d}.png", image)
    s = F.load(root, cache=tmp_path / "cache", progress=False)
    assert s.split == {"source": "folders"} and s.images.shape == (400, 28, 28) and s.channels == 1
    folder_of = {c.replace("/", "-"): c for c in CATEGORIES}
    names = [folder_of[c] for c in s.categories]
    for image, label, name, is_test in zip(s.images, s.labels, s.files, s.is_test, strict=True):
        split, _, file = name.split("/")
        want_images, want_labels = parts[split]
        index = int(file.removesuffix(".png"))
        assert is_test == (split == "test") and names[label] == CATEGORIES[want_labels[index]]
        assert np.array_equal(image, want_images[index])
