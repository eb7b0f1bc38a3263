"""Your own image: preparation as a Fashion-MNIST input, bad files, and `python -m training encode`."""
import io

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli
from training.synthesis.prepare import MAX_PIXELS, WORKING_SIDE, ImageError, prepare, to_fashion_mnist


def _png(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _product_photo(item: np.ndarray, size=(420, 300), colour=(245, 240, 230), offset=(120, 40),
                   fmt="PNG") -> bytes:
    """A dataset item as a photographer would deliver it: dark on a light page, larger, off-centre."""
    dark = Image.fromarray(255 - item).resize((224, 224), Image.BICUBIC)
    page = Image.new("RGB", size, colour)
    page.paste(Image.merge("RGB", [dark] * 3), offset)
    return _png(page, fmt)


def test_a_product_photo_becomes_the_dataset_item_again(dataset):
    item = dataset.test_images[0]
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "GIF"):
        picture, size, prepared, notes = prepare(_product_photo(item, fmt=fmt), f"photo.{fmt.lower()}")
        assert picture.shape == (300, 420) and size == (420, 300)
        assert prepared.shape == (28, 28) and prepared.dtype == np.float32
        assert prepared.min() >= 0 and prepared.max() <= 1
        # light object on black, as in the dataset: the border is dark, the object bright
        assert np.concatenate([prepared[0], prepared[-1]]).mean() < 0.1 and prepared.max() > 0.9
        # and close to the item itself (cropping and resizing move edges by a pixel at most)
        assert np.abs(prepared - item / 255).mean() < 0.08, fmt


def test_object_fills_the_frame_like_the_dataset(dataset):
    # a small object in a corner of a big dark picture is cropped and scaled up to 28 pixels
    canvas = np.zeros((500, 800), np.float32)
    canvas[20:70, 700:720] = 1.0                    # tall, thin bright object
    x = to_fashion_mnist(canvas)
    rows, cols = np.flatnonzero(x.max(1) > 0.3), np.flatnonzero(x.max(0) > 0.3)
    assert rows[0] <= 1 and rows[-1] >= 26          # the longer side spans the frame
    assert 10 <= cols[-1] - cols[0] + 1 <= 13          # 20/50 of 28 pixels wide…
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 0.5  # …and centred


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_photo_is_prepared_from_a_smaller_copy_as_the_small_one_is(dataset, fmt):
    item = dataset.test_images[0]
    small = prepare(_product_photo(item, fmt=fmt), "small").model_input
    # the same scene photographed at 12 times the size: 5040 × 3600 pixels
    scene = Image.open(io.BytesIO(_product_photo(item))).resize((5040, 3600), Image.BICUBIC)
    picture, size, prepared, _ = prepare(_png(scene, fmt), f"large.{fmt.lower()}")
    assert size == (5040, 3600)                                  # the caption names the file's own size
    assert max(picture.shape) <= WORKING_SIDE
    assert picture.shape[1] / picture.shape[0] == pytest.approx(1.4, 0.01)
    assert np.abs(prepared - small).mean() < 0.02                # the model sees the same item


def test_a_turned_jpeg_is_prepared_upright_and_named_by_its_upright_size():
    photo = Image.new("RGB", (2400, 1600), (240, 240, 240))
    photo.paste((30, 30, 30), (200, 600, 800, 1000))             # a dark bar, wider than tall
    exif = Image.Exif()
    exif[0x0112] = 6                                             # shown turned by a quarter
    picture, size, prepared, _ = prepare(_png(photo, "JPEG", exif=exif), "turned.jpg")
    assert size == (1600, 2400) and picture.shape[0] > picture.shape[1]
    rows, cols = np.flatnonzero(prepared.max(1) > 0.5), np.flatnonzero(prepared.max(0) > 0.5)
    assert len(rows) > len(cols)                                 # the bar now stands upright


def test_transparent_png_is_placed_on_white_first():
    rgba = Image.new("RGBA", (100, 100), (0, 0, 0, 0))        # transparent "black"
    rgba.paste((20, 20, 20, 255), (30, 10, 70, 90))            # an opaque dark object
    prepared = prepare(_png(rgba), "cutout.png").model_input
    assert prepared[14, 14] > 0.9 and prepared[:, 0].max() < 0.1


@pytest.mark.parametrize("payload, message", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (_png(Image.new("RGB", (64, 64), (200, 30, 30))), "single colour"),
])
def test_bad_files_are_one_line_errors(payload, message):
    with pytest.raises(ImageError, match=message) as e:
        prepare(payload, "upload")
    assert "\n" not in str(e.value) and "upload" in str(e.value)


def test_truncated_and_oversized_images_are_refused():
    photo = _png(Image.effect_noise((200, 200), 60), "JPEG")
    with pytest.raises(ImageError, match="broken or truncated"):
        prepare(photo[: len(photo) // 2], "half.jpg")
    # a decompression bomb: a tiny PNG that claims an enormous canvas
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = _png(Image.new("1", (side, side)), optimize=True)
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="megapixel limit"):
        prepare(bomb, "bomb.png")


def test_animated_gif_uses_the_first_frame_and_says_so(dataset):
    frames = [Image.fromarray(255 - dataset.test_images[i]) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=80)
    _, _, prepared, notes = prepare(buf.getvalue(), "anim.gif")
    assert any("first frame" in n and "3 frames" in n for n in notes)
    assert np.abs(prepared - dataset.test_images[0] / 255).mean() < 0.08


def test_encode_cli_prints_categories_and_writes_reconstructions(tmp_path, dataset):
    sneaker = dataset.test_images[int(np.flatnonzero(dataset.test_labels == 7)[0])]
    (tmp_path / "shoe.jpg").write_bytes(_product_photo(sneaker, fmt="JPEG"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = run_cli("encode", tmp_path / "shoe.jpg", tmp_path / "broken.png", "--checkpoint", ROOT / "assets")
    assert r.returncode == 1                                   # one file failed…
    assert "classifier: Sneaker" in r.stdout                  # …the other was still done
    assert "nearest 8 test latents: Sneaker" in r.stdout
    assert [line for line in r.stderr.splitlines() if "broken.png" in line]
    assert len(r.stderr.strip().splitlines()) == 1
    recon = Image.open(tmp_path / "shoe.recon.png")
    assert recon.size == (224, 112)
