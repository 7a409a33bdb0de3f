"""The draw-a-digit page and the JSON API behind it. `python -m mnist_lightning.serve` runs it on uvicorn.

  GET  /            the page (static/index.html, app.js, style.css: all served from the package, nothing fetched
                    from elsewhere, so it works offline)
  POST /predict     a picture (multipart field `file`) -> the digit, the ten probabilities, the 28x28 image
                    the model saw
  GET  /model       the model's card: architecture, parameters, test accuracy, how it was trained
  GET  /health      {"status": "ok"} while the server can answer
  GET  /openapi.json  the API, described

What it refuses: a request body over `max_upload_bytes` (413, before it is read), a file that is no picture or
holds no digit (400, with the reason). Clients never see a traceback or a path; no request can name a file for
the server to read (the three assets are read once, at start-up). The model runs in a worker thread, so a slow
request never holds up the others.
"""

from __future__ import annotations

import io
import logging
from importlib.metadata import version
from importlib.resources import files

import anyio
import torch
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from mnist_lightning.classifier.protocol import Classifier
from mnist_lightning.inference.answer import answer
from mnist_lightning.inference.preprocess import DigitImageError, read_digit

log = logging.getLogger(__name__)
ASSET_TYPES = {"app.js": "text/javascript", "style.css": "text/css"}
# The page may load its own scripts and styles and nothing else: the offline promise, enforced by the browser.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class Prediction(BaseModel):
    digit: int = Field(description="the most probable class, 0-9")
    probability: float = Field(description="its probability (calibrated when the model has a fitted temperature)")
    probabilities: list[float] = Field(description="all ten, for the digits 0 to 9")
    unsure: bool = Field(description="the top probability is low, or the runner-up is close to it")
    image: list[list[int]] = Field(description="the 28x28 image the model saw (0-255, light ink on dark), rows first")
    notes: list[str] = Field(description="how the picture was read, e.g. the first frame of an animated GIF")


class Problem(BaseModel):
    detail: str


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413: at once when Content-Length says so, and while reading
    when the body arrives in chunks without one. Pure ASGI, so nothing is buffered before the check."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def too_large(self) -> str:
        return f"The request is over the {self.max_bytes / 1e6:g} MB limit; send a smaller picture."

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse({"detail": self.too_large()}, status_code=413)(scope, receive, send)
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.too_large())  # FastAPI passes an HTTPException through to its handler
            return message

        await self.app(scope, counted_receive, send)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI: Starlette's BaseHTTPMiddleware costs more per request)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def create_app(
    model: Classifier,
    card: dict,
    *,
    unsure_below: float,
    unsure_margin: float,
    max_upload_bytes: int = 10_000_000,
) -> FastAPI:
    """The web app around `model` (a checkpoint's network, an exported file, an ensemble) and its `card`;
    unsure_below/unsure_margin: when an answer is flagged unsure (conf/unsure/, which `serve` passes on)."""
    static = files("mnist_lightning.web") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")
    assets = {name: (static / name).read_bytes() for name in ASSET_TYPES}
    app = FastAPI(
        title="mnist_lightning",
        version=version("mnist_lightning"),
        description="Classify a picture of one handwritten digit with a model trained by mnist_lightning.",
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN, which an offline machine cannot reach
    )
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: the 413 that BodyLimit sends gets the headers too

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, err: RequestValidationError):
        return JSONResponse(
            {
                "detail": "Send the picture as multipart/form-data in the field 'file' "
                "(curl -F file=@digit.png http://127.0.0.1:8000/predict)."
            },
            status_code=400,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception):
        log.exception("%s %s failed", request.method, request.url.path)  # the details stay in the server's log
        return JSONResponse({"detail": "The server failed to answer; its log says why."}, status_code=500)

    def classify(data: bytes) -> dict:
        digit, notes = read_digit(io.BytesIO(data))
        probabilities = model.probabilities(digit[None])[0]
        said = answer(probabilities, unsure_below, unsure_margin)
        return {
            "digit": said["digit"],
            "probability": said["probability"],
            "unsure": said["unsure"],
            "probabilities": probabilities.tolist(),
            "image": digit.mul(255).round().to(torch.uint8).tolist(),
            "notes": notes,
        }

    @app.post("/predict", response_model=Prediction, responses={400: {"model": Problem}, 413: {"model": Problem}})
    async def predict(file: UploadFile = File(description="a picture of one digit: PNG, JPEG, BMP, GIF, WebP, TIFF")):
        """Reads the picture, puts it into MNIST's form (as `mnist_lightning.predict` does) and classifies it."""
        data = await file.read()
        try:
            return await anyio.to_thread.run_sync(classify, data)  # off the event loop: other requests go on
        except DigitImageError as err:
            raise HTTPException(400, f"The picture could not be classified: {err}") from err

    @app.get("/model")
    async def model_card() -> dict:
        """What the model is: architecture, parameters, test accuracy, temperature, how it was trained."""
        return card

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return page

    @app.get("/static/{name}", include_in_schema=False)
    async def asset(name: str):
        if name not in assets:  # a fixed set read at start-up: no request names a file to open
            raise HTTPException(404, "No such asset.")
        return Response(assets[name], media_type=ASSET_TYPES[name])

    return app
