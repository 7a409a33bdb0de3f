"""The draw-a-digit page in a real browser: the system's Chromium (`apt-get install chromium`), driven by
Playwright. Digits drawn as mouse strokes must be read right, and an uploaded picture too."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from helpers import CHANGES, picture, start_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Strokes in the pad's own coordinates (0-1), as a person would draw them.
STROKES = {
    "1": [[(0.55, 0.15), (0.45, 0.85)]],
    "0": [[(0.5 + 0.22 * math.sin(t * math.pi / 20), 0.5 - 0.33 * math.cos(t * math.pi / 20)) for t in range(41)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]],
}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        missing = (
            "No Chromium on this machine: `apt-get install chromium` (Debian, Ubuntu) installs the one this "
            "test drives; .ci/run installs it when it is missing."
        )
        if os.environ.get("MNIST_LIGHTNING_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the `dev` extra)")
    with sync_api.sync_playwright() as playwright:
        # No browser download: Playwright drives the system's Chromium. --no-sandbox: CI runs as root.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_url(trained_checkpoint, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("serve")
    server, url, output = start_server(
        f"ckpt_path={trained_checkpoint}", f"hydra.run.dir={run_dir / 'log'}", cwd=run_dir
    )
    assert "Uvicorn running on" in output, output
    yield url
    server.terminate()
    server.wait(30)


def draw(page, strokes) -> None:
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*at[0])
        page.mouse.down()
        for x, y in at[1:]:
            page.mouse.move(x, y, steps=8)
        page.mouse.up()


def test_drawn_digits_and_an_uploaded_picture_are_read(browser, page_url, test_split, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1000, "height": 900})
    elsewhere, console_errors = [], []
    page.on("request", lambda r: None if r.url.startswith((page_url, "data:", "blob:")) else elsewhere.append(r.url))
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto(page_url)
    expect(page.locator("#card-architecture")).to_contain_text("MLP(hidden_sizes=[512, 256]")
    for digit, strokes in STROKES.items():
        page.click("#clear")
        draw(page, strokes)
        expect(page.locator("#digit")).to_have_text(digit, timeout=15_000)
        seen_ink = page.evaluate(
            "() => Array.from(document.getElementById('seen').getContext('2d')"
            ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 === 0 && v > 128).length"
        )
        assert 20 < seen_ink < 300, seen_ink  # the 28x28 preview shows a digit's worth of ink
        assert float(page.locator("#bars li.top .value").text_content().rstrip("%")) > 10
    # A photo-like upload: an MNIST test digit, dark on light and 10x larger.
    images, labels = test_split
    upload = tmp_path / "seven.png"
    CHANGES["dark on light"](CHANGES["scaled up 10x"](picture(images[0]))).save(upload)
    page.set_input_files("#upload", upload)
    expect(page.locator("#digit")).to_have_text(str(int(labels[0])), timeout=15_000)
    page.screenshot(path=tmp_path / "page.png", full_page=True)
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
    # A phone-sized screen: everything fits its width, nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert page.locator("#pad").bounding_box()["width"] <= 390
    assert not elsewhere, elsewhere  # nothing fetched from anywhere but the server
    assert not console_errors, console_errors
