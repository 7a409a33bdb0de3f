"""The draw-a-digit page: `python -m mnist_lightning.serve [ckpt_path=...]`, then open http://127.0.0.1:8000.

Serves a checkpoint, or an .onnx file from `mnist_lightning.export` (run by onnxruntime), with the page and API of
web/app.py on uvicorn. It listens on this machine only unless `host=` says otherwise.
"""

from __future__ import annotations

import errno
import socket

import hydra
import uvicorn
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.checkpoint import model_to_use
from mnist_lightning.inference.loading import load_digit_model
from mnist_lightning.inference.model_card import model_card
from mnist_lightning.user_errors import reported
from mnist_lightning.web.app import create_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
@reported
def main(cfg: DictConfig) -> None:
    if not 0 < cfg.max_upload_mb <= 100:
        raise ValueError(f"max_upload_mb must be in (0, 100], got {cfg.max_upload_mb}.")
    path = model_to_use(cfg.ckpt_path, cfg.search_dir)
    check_port_free(cfg.host, cfg.port)  # before loading the model: a busy port is found in a moment
    model = load_digit_model(path, "serve")
    if cfg.host not in LOOPBACK:
        print(f"host={cfg.host}: the page and its API are reachable from other machines on the network.")
    app = create_app(
        model,
        model_card(path, model),
        max_upload_bytes=int(cfg.max_upload_mb * 1_000_000),
        unsure_below=cfg.unsure_below,
        unsure_margin=cfg.unsure_margin,
    )
    print(f"Open http://{'[' + cfg.host + ']' if ':' in cfg.host else cfg.host}:{cfg.port} (Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info")


def check_port_free(host: str, port: int) -> None:
    """Fails, naming the fix, when `port` on `host` is taken (another server, or an earlier serve still running)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closed port is free
        try:
            probe.bind((host, port))
        except OSError as err:
            reason = "is in use" if err.errno == errno.EADDRINUSE else f"cannot be listened on ({err.strerror})"
            raise OSError(
                f"port={port} on host={host} {reason}: pass another port (port=8001), or stop what holds it."
            ) from err


if __name__ == "__main__":
    main()
