"""End to end in a real headless Chromium: click a map point → its decoded image and category
appear; move a latent slider → the image changes."""
import os
import re
from urllib.parse import urljoin, urlparse

import numpy as np
import pytest

from appdriver.browser import (
    CHROMIUM,
    TEXT_EVERYWHERE,
    browser,
    click_a_point,
    drag_a_box,
    drag_slider,
    hover_and_click,
    image_with_caption,
    isolated_points,
    live_picture,
    point_position,
    wait_for_live,
    wait_for_map,
    wait_for_text,
)
from appdriver.server import running_app
from conftest import ROOT
from training import CATEGORIES

pytestmark = [pytest.mark.browser, pytest.mark.serve,
              pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                 reason="Debian's chromium is not installed (scripts/setup.sh --dev "
                                        "installs it)")]


def test_click_decodes_point_then_slider_changes_image():
    labels = np.load(ROOT / "assets" / "embeddings.npz")["labels"]
    with running_app(ROOT / "assets") as (url, _), browser(1280, 800) as page:
        page.goto(url)
        wait_for_map(page)
        page.wait_for_timeout(1000)
        target = isolated_points(page, "Ankle boot")[0]
        pos = point_position(page, "Ankle boot", target)
        # the chart redraws once or twice after it appears: retry the hover-click until it registers
        for _attempt in range(5):
            clicked = hover_and_click(page, pos, pos["curve"])
            assert clicked == pos["custom"] and labels[clicked] == 9
            try:
                page.wait_for_function(
                    "() => document.body.innerText.includes('decoded from its latent mean')", timeout=8000)
                break
            except Exception:
                page.wait_for_timeout(700)
                pos = point_position(page, "Ankle boot", target)
        else:
            pytest.fail("clicking a map point never showed its decoded image")
        page.wait_for_function("() => document.body.innerText.includes('test image %d')" % clicked,
                               timeout=10000)
        heading = page.locator("h4", has_text="test image").first.inner_text()
        assert "Ankle boot" in heading and str(clicked) in heading
        assert image_with_caption(page, "decoded from its latent mean")

        # latent sliders start from the selected point; dragging one re-decodes the image in the browser
        page.get_by_text("Latent sliders", exact=True).click()
        wait_for_text(page, "0 dimension(s) moved from the selected point")
        wait_for_live(page)
        _, before = live_picture(page)
        drag_slider(page, page.locator(".live-slider input").first, 0.3)
        page.mouse.up()
        wait_for_text(page, "1 dimension(s) moved from the selected point")
        page.wait_for_function("() => location.search.includes('z=')", timeout=15000)
        _, after = live_picture(page)
        assert after != before


def _photo(tmp_path, item: np.ndarray, name: str) -> str:
    """A dataset item as a product photo: dark on a light page, bigger, off-centre, in colour."""
    from PIL import Image
    dark = Image.fromarray(255 - item).resize((240, 240), Image.BICUBIC)
    page = Image.new("RGB", (480, 360), (246, 242, 236))
    page.paste(Image.merge("RGB", [dark] * 3), (150, 50))
    path = tmp_path / name
    page.save(path, quality=92)
    return str(path)


def test_upload_an_image_see_what_the_model_sees_and_place_it_on_the_map(tmp_path, dataset):
    sneaker = dataset.test_images[int(np.flatnonzero(dataset.test_labels == 7)[0])]
    photo = _photo(tmp_path, sneaker, "my-sneaker.jpg")
    (tmp_path / "notes.png").write_bytes(b"not an image")
    with running_app(ROOT / "assets") as (url, _), browser(1280, 900) as page:
        page.goto(url)
        wait_for_map(page)
        page.get_by_text("Your image", exact=True).click()
        page.wait_for_selector('[data-testid="stFileUploader"] input[type="file"]', state="attached",
                               timeout=15000)
        # a broken file: one line, the page keeps working
        page.set_input_files('[data-testid="stFileUploader"] input[type="file"]', str(tmp_path / "notes.png"))
        page.wait_for_function("() => document.body.innerText.includes('not an image file')", timeout=15000)
        assert not page.locator('[data-testid="stException"]').count()
        page.set_input_files('[data-testid="stFileUploader"] input[type="file"]', photo)
        page.wait_for_function("() => document.body.innerText.includes('what the model sees (28×28)')",
                               timeout=20000)
        page.wait_for_function("() => document.body.innerText.includes('8 nearest test items')",
                               timeout=20000)
        assert image_with_caption(page, "what the model sees (28×28)")
        assert image_with_caption(page, "decoded from its latent mean")
        page.wait_for_timeout(500)
        text = page.inner_text("body")
        assert "The classifier says" in text and "Sneaker" in text.split("The classifier says")[1][:200]
        assert "8 nearest test items" in text
        page.screenshot(path=os.environ.get("UPLOAD_SCREENSHOT", str(tmp_path / "upload.png")),
                        full_page=True)
        page.get_by_role("button", name="Show on the latent map").click()
        page.wait_for_function("() => document.body.innerText.includes('Your image · my-sneaker.jpg')",
                               timeout=20000)
        wait_for_map(page)
        page.wait_for_function("""() => {
            const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
            return gd && gd._fullData.some(d => d.name === 'your image: my-sneaker.jpg'
                                                && d.marker.symbol === 'diamond'); }""", timeout=15000)
        # the sliders start from the image, and say so
        page.get_by_text("Latent sliders", exact=True).click()
        wait_for_text(page, "moved from your image (my-sneaker.jpg)")
        start = page.locator('[data-testid="stRadio"]', has_text="Start from")
        assert "your image" in start.inner_text() and "selected point" not in start.inner_text()


def test_one_cluster_then_the_whole_model_then_variations_of_a_sneaker():
    weight = np.load(ROOT / "assets" / "embeddings.npz")["category_mixture_weight"][8]
    second = f"2 · {sorted(weight, reverse=True)[1]:.0%} · 16 drawn"      # the bags' second-heaviest cluster
    with running_app(ROOT / "assets") as (url, _), browser(1280, 1000) as page:
        page.goto(url)
        wait_for_map(page)
        page.get_by_text("Sampling", exact=True).click()
        page.get_by_text("category clusters", exact=True).click()
        wait_for_text(page, "samples from the Bag clusters")   # drawn in the browser (views/live.py)
        assert image_with_caption(page, "category mean, decoded")
        page.locator('[data-testid="stButtonGroup"]').get_by_text("2", exact=True).click()
        wait_for_text(page, "samples from Bag cluster 2 (")
        assert image_with_caption(page, "cluster 2 centre, decoded")
        # the rerun streams in: the note and the strip's counts follow the grid
        page.wait_for_function("() => document.body.innerText.includes('of samples from this cluster alone "
                               "at noise 0.5') && document.body.innerText.includes('%s')" % second,
                               timeout=20000)
        # the whole model, no category named: its learned prior's samples and decoded components
        page.get_by_text("the whole model", exact=True).click()
        wait_for_text(page, "16 samples from the learned prior")
        wait_for_text(page, "The learned prior's 32 components")
        # Variations: another view, one click away; sixteen judged variants of a sneaker
        page.get_by_text("Variations", exact=True).click()
        page.wait_for_function("() => document.body.innerText.includes('draws the classifier gives the "
                               "item')", timeout=20000)
        first = int(np.flatnonzero(np.load(ROOT / "assets" / "embeddings.npz")["labels"] == 7)[0])
        assert image_with_caption(page, f"test image {first}")
        wait_for_text(page, "✓ Sneaker")   # a variant, with the classifier's verdict


def _png(page, caption: str) -> bytes:
    """The bytes of the loaded image with this caption, fetched as the browser fetched them."""
    src = image_with_caption(page, caption, timeout_ms=20000)
    assert src, f"no loaded image captioned {caption!r}"
    return page.request.get(urljoin(page.url, src)).body()


def test_a_link_reopens_a_point_its_marks_and_a_slider_in_a_fresh_browser_and_back_goes_back():
    labels = np.load(ROOT / "assets" / "embeddings.npz")["labels"]
    with running_app(ROOT / "assets") as (url, _), browser(1280, 900) as page:
        page.goto(url + "/?item=1234")   # a link to a point, then A and B marked by hand
        page.wait_for_function("() => document.body.innerText.includes('test image 1234')", timeout=30000)
        for name in ("A", "B"):
            page.get_by_role("button", name=f"Use as {name}").click()
            page.wait_for_function(f"() => location.search.includes('{name.lower()}=1234')", timeout=15000)
        map_link, decoded = page.url, _png(page, "decoded from its latent mean")
        # the sliders start from the point; move one with the keyboard (each press is a release)
        page.get_by_text("Latent sliders", exact=True).click()
        wait_for_text(page, "0 dimension(s) moved from the selected point")
        assert page.url == url + "/sliders"   # opened from the sidebar: its address stays bare
        wait_for_live(page)
        page.locator(".live-slider input").first.focus()
        for _ in range(25):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("() => location.search.includes('z=')", timeout=20000)
        wait_for_text(page, "1 dimension(s) moved from the selected point")
        page.wait_for_timeout(1500)   # the last presses' rerun
        sliders_link = page.url
        moved = live_picture(page)
        assert "item=1234" in sliders_link and "start=item" in sliders_link

        # back: each setting changed on the sliders is a step of the browser's history (Streamlit pushes
        # an entry for every change of the query parameters), then the map with its point; forward:
        # the sliders again
        either = ("() => location.pathname === '/' ? document.body.innerText.includes('test image 1234') : "
                  f"({TEXT_EVERYWHERE})().includes('moved from the selected point')")
        # as many steps as reruns wrote a new value: up to the 25 presses, fewer when reruns coalesce
        for _step in range(30):
            page.go_back()
            page.wait_for_timeout(800)
            page.wait_for_function(either, timeout=30000)
            assert not page.locator('[data-testid="stException"]').count()
            if urlparse(page.url).path == "/":
                break
        else:
            pytest.fail(f"thirty presses of back never reached the map: {page.url}")
        assert page.url == map_link and _png(page, "decoded from its latent mean") == decoded
        page.go_forward()
        page.wait_for_function("() => location.pathname === '/sliders'", timeout=20000)
        wait_for_text(page, "moved from the selected point")
        assert not page.locator('[data-testid="stException"]').count()

        # a fresh browser: nothing in its session, everything from the links
        fresh = page.context.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        fresh.goto(sliders_link)
        wait_for_text(fresh, "1 dimension(s) moved from the selected point", timeout_ms=30000)
        wait_for_live(fresh)
        assert live_picture(fresh) == moved
        fresh.goto(map_link)
        fresh.wait_for_function("() => document.body.innerText.includes('test image 1234')", timeout=30000)
        assert _png(fresh, "decoded from its latent mean") == decoded
        heading = fresh.locator("h4", has_text="test image").first.inner_text()
        assert CATEGORIES[labels[1234]] in heading
        assert not fresh.locator('[data-testid="stException"]').count()
        fresh.get_by_text("Interpolation & hybrids", exact=True).click()
        fresh.wait_for_function("() => document.body.innerText.includes('A from') && "
                                "document.body.innerText.includes('B from')", timeout=20000)
        radios = fresh.locator('[data-testid="stRadio"]', has_text="from").all_inner_texts()
        assert len(radios) == 2 and all("marked on the map" in r for r in radios)


def test_box_select_two_groups_and_the_concept_strip_appears():
    with running_app(ROOT / "assets") as (url, _), browser(1400, 1700) as page:
        page.goto(url + "/concepts")
        wait_for_map(page)
        page.wait_for_timeout(1000)
        for trace, group in (("Ankle boot", "with"), ("Sneaker", "without")):
            button = page.get_by_role("button", name=re.compile(rf"Selected → {group} \(\d+\)"))
            for _attempt in range(3):   # the chart may redraw after it appears, or while the button is
                drag_a_box(page, trace)  # clicked, and drop the selection: drag and click again
                try:
                    page.wait_for_function(f"() => /Selected → {group} \\(([1-9]\\d+)\\)/"
                                           ".test(document.body.innerText)", timeout=10000)
                    button.click()
                    page.wait_for_function(f"() => /{group.capitalize()}: [0-9,]+ items \\({trace}/"
                                           ".test(document.body.innerText)", timeout=15000)
                    break
                except Exception:
                    page.wait_for_timeout(700)
            else:
                pytest.fail(f"a box over the {trace} points never made the {group!r} group")
        page.wait_for_function("() => document.body.innerText.includes('A real concept')", timeout=30000)
        body = page.inner_text("body")
        assert re.search(r"With: [\d,]+ items \(Ankle boot", body)
        assert re.search(r"Without: [\d,]+ items \(Sneaker", body)
        # the strip: 9 frames from −2 to +2, each with the classifier's verdict; the default item is the
        # "without" group's category mean, which gains a shaft and becomes an ankle boot
        wait_for_text(page, "+2.00 · Ankle boot", timeout_ms=15000)
        wait_for_text(page, "−2.00 · Sneaker")
        assert not page.locator('[data-testid="stException"]').count()


def test_click_the_map_of_a_colour_folder_model_and_drag_its_colour_sliders(colour_folder_model):
    """A model of your own colour images: its map's legend is the folder's names, a click shows the
    point's original in colour, and the live sliders paint the decoder's red, green and blue."""
    import torch

    from training import load_model
    model = load_model(colour_folder_model)
    with running_app(colour_folder_model) as (url, _), browser(1280, 800) as page:
        page.goto(url)
        wait_for_map(page)
        page.wait_for_timeout(1000)
        traces = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.map(d => d.name)")
        assert [t for t in traces if t != "empty space"] == ["blue squares", "red discs", "Été, greens"]
        clicked = click_a_point(page, "red discs")
        heading = page.locator("h4", has_text="test image").first.inner_text()
        assert "red discs" in heading
        src = image_with_caption(page, "original test image")
        assert src
        red, green, blue = page.evaluate("""async (src) => {
            const img = new Image(); img.src = src; await img.decode();
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data, sum = [0, 0, 0];
            for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
            return sum; }""", src)
        assert red > 3 * green and red > 3 * blue, (clicked, red, green, blue)   # a red disc, in colour

        page.get_by_text("Latent sliders", exact=True).click()
        wait_for_live(page)
        drag_slider(page, page.locator(".live-slider input").first, 0.3)
        page.mouse.up()
        page.wait_for_timeout(500)
        latent, rgba = page.locator(".live-image").first.evaluate("""(canvas) => {
            const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            return [(canvas.dataset.latent || '').split(',').filter(Boolean).map(Number), Array.from(d)];
        }""")
        drawn = np.array(rgba, np.int64).reshape(32, 32, 4)[..., :3]
        with torch.no_grad():
            expected = model.decode(torch.tensor([latent], dtype=torch.float32))[0].permute(1, 2, 0).numpy()
        assert np.abs(drawn - np.round(np.clip(expected, 0, 1) * 255)).max() <= 1   # the decoder's colours
        assert np.abs(drawn[..., 0] - drawn[..., 1]).max() > 0                     # not grey
