"""web/app.py and mnist_lightning/serve.py: the page's API through an HTTP client, its refusals, and the server."""

from __future__ import annotations

import io
import re
import threading
from importlib.resources import files
from pathlib import Path

import httpx2 as httpx
import pytest
import torch
import uvicorn
from fastapi.testclient import TestClient
from omegaconf import OmegaConf
from PIL import Image

from helpers import CHANGES, picture, read_json, start_server
from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.loading import load_model
from mnist_lightning.inference.model_card import model_card
from mnist_lightning.inference.preprocess import preprocess
from mnist_lightning.serve import check_port_free
from mnist_lightning.user_errors import user_error
from mnist_lightning.web.app import create_app

LIMIT = 200_000  # bytes; small, so the tests need not send megabytes
UNSURE = dict(OmegaConf.load(Path(CONFIG_DIR) / "unsure" / "default.yaml"))  # what `serve` passes on


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(trained_checkpoint):
    model = load_model(trained_checkpoint)
    card = model_card(trained_checkpoint, model)
    return model, TestClient(create_app(model, card, **UNSURE, max_upload_bytes=LIMIT), raise_server_exceptions=False)


def test_a_picture_gets_its_digit_the_ten_probabilities_and_the_image_the_model_saw(served, test_split):
    model, client = served
    images, labels = test_split
    for i, change in enumerate(CHANGES.values()):  # a digit in MNIST's form would prove less: these are photos
        upload = change(picture(images[i]))
        response = client.post("/predict", files={"file": ("digit.png", png(upload), "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = model.probabilities(preprocess(upload)[None])[0]  # exactly what `predict` would say
        assert body["probabilities"] == pytest.approx(expected.tolist(), abs=1e-6) and body["digit"] == int(
            expected.argmax()
        )
        assert len(body["image"]) == 28 and all(len(row) == 28 for row in body["image"])
        assert torch.allclose(torch.tensor(body["image"]) / 255, preprocess(upload), atol=1 / 255)
        assert isinstance(body["unsure"], bool) and body["probability"] == max(body["probabilities"])
    right = [
        client.post("/predict", files={"file": ("d.png", png(picture(images[i])))}).json()["digit"] == labels[i]
        for i in range(20)
    ]
    assert sum(right) >= 19


def test_a_body_over_the_limit_gets_413_whether_or_not_it_says_its_length(served):
    _, client = served
    big = b"\0" * (LIMIT + 1)
    response = client.post("/predict", files={"file": ("big.png", big, "image/png")})
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: the server must count while it reads
        for _ in range(LIMIT // 10_000 + 2):
            yield b"\0" * 10_000

    response = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("notes.txt", b"not a picture", "not an image"),
        ("blank.png", png(Image.new("L", (64, 64), 255)), "no digit found"),
        ("truncated.png", png(Image.effect_noise((64, 64), 60))[:2000], "cannot be read as an image"),
    ],
)
def test_what_is_no_digit_gets_400_with_the_reason(served, name, content, reason):
    response = served[1].post("/predict", files={"file": (name, content)})
    assert response.status_code == 400 and reason in response.json()["detail"]


def test_a_request_without_the_file_gets_400_saying_how_to_send_it(served):
    response = served[1].post("/predict", data={"picture": "x"})
    assert response.status_code == 400 and "field 'file'" in response.json()["detail"]


def test_a_failure_inside_sends_no_traceback_or_path(trained_checkpoint, test_split):
    class Broken:
        def probabilities(self, images):
            raise RuntimeError(f"weights missing in {trained_checkpoint}")

    client = TestClient(create_app(Broken(), {}, **UNSURE), raise_server_exceptions=False)
    response = client.post("/predict", files={"file": ("d.png", png(picture(test_split[0][0])))})
    assert response.status_code == 500 and response.json() == {
        "detail": "The server failed to answer; its log says why."
    }
    assert "Traceback" not in response.text and str(trained_checkpoint.parent) not in response.text


def test_the_page_and_its_assets_come_from_the_package_and_nothing_else(served):
    client = served[1]
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")  # the browser enforces it
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    static = files("mnist_lightning.web") / "static"
    for name in ("index.html", "app.js", "style.css"):
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", (static / name).read_text()), name
    # Only the page's own assets: no request names a file for the server to open.
    for path in (
        "/static/index.html",
        "/static/../app.py",
        "/static/%2e%2e%2fapp.py",
        "/static/..%2F..%2Fpyproject.toml",
    ):
        assert client.get(path).status_code == 404, path


def test_health_the_model_card_and_the_api_description(served, trained_checkpoint):
    model, client = served
    assert client.get("/health").json() == {"status": "ok"}
    card = client.get("/model").json()
    metrics = read_json(trained_checkpoint.parent.parent / "metrics.json")
    assert card["architecture"].startswith("MLP(hidden_sizes=[512, 256]") and card["runtime"] == "PyTorch"
    assert (
        card["parameters"] == sum(p.numel() for p in model.parameters())
        and card["test_accuracy"] == metrics["test/acc"]
    )
    assert (
        card["temperature"] == metrics["calibration"]["temperature"] and "3 epochs on 55,000 images" in card["training"]
    )
    assert "augmented (rotate_deg 10.0, translate 0.1" in card["training"]  # read from the run's own config
    assert card["file"] == trained_checkpoint.name  # the name, not the folders it sits in
    api = client.get("/openapi.json").json()
    assert {"/predict", "/model", "/health"} <= set(api["paths"])
    assert {"200", "400", "413"} <= set(api["paths"]["/predict"]["post"]["responses"])


def test_an_exported_model_is_served_the_same(exported_model, served, test_split):
    onnx_model = load_model(exported_model / "model.onnx")
    card = model_card(exported_model / "model.onnx", onnx_model)
    client = TestClient(create_app(onnx_model, card, **UNSURE))
    upload = {"file": ("d.png", png(picture(test_split[0][3])))}
    from_onnx, from_checkpoint = (
        client.post("/predict", files=upload).json(),
        served[1].post("/predict", files=upload).json(),
    )
    assert from_onnx["digit"] == from_checkpoint["digit"]
    assert from_onnx["probabilities"] == pytest.approx(from_checkpoint["probabilities"], abs=1e-5)
    assert card["runtime"] == "onnxruntime" and card["test_accuracy"] == pytest.approx(
        served[1].get("/model").json()["test_accuracy"], abs=1e-4
    )


def test_the_model_runs_off_the_event_loop_so_a_slow_request_holds_up_no_other(test_split):
    entered, release = threading.Event(), threading.Event()

    class Slow:
        def probabilities(self, images):
            entered.set()
            assert release.wait(60), "never released"
            return torch.full((len(images), 10), 0.1)

    server = uvicorn.Server(
        uvicorn.Config(create_app(Slow(), {}, **UNSURE), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        slow = {}
        upload = {"file": ("d.png", png(picture(test_split[0][0])))}
        asker = threading.Thread(
            target=lambda: slow.update(response=httpx.post(f"{url}/predict", files=upload, timeout=60))
        )
        asker.start()
        assert entered.wait(60)
        # The model is busy with the first request, and stays so until this one is answered.
        assert httpx.get(f"{url}/health", timeout=30).json() == {"status": "ok"}
        assert not release.is_set() and asker.is_alive()
        release.set()
        asker.join(60)
        assert slow["response"].status_code == 200
    finally:
        release.set()
        server.should_exit = True
        thread.join(30)


def test_the_serve_command_listens_on_loopback_and_names_its_model(trained_checkpoint, tmp_path):
    server, url, output = start_server(
        f"search_dir={trained_checkpoint.parent.parent}", f"hydra.run.dir={tmp_path / 'serve'}", cwd=tmp_path
    )
    try:
        assert f"Uvicorn running on {url}" in output and url.startswith("http://127.0.0.1:"), output
        assert f"Model: {trained_checkpoint} (the newest under" in output
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        with pytest.raises(OSError) as caught:  # a second serve on the same port, before it loads its model
            check_port_free("127.0.0.1", int(url.rsplit(":", 1)[1]))
        assert user_error(caught.value) == (
            f"port={url.rsplit(':', 1)[1]} on host=127.0.0.1 is in use: pass another port (port=8001), or stop what "
            "holds it."
        )
    finally:
        server.terminate()
        server.wait(30)
