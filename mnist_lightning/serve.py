"""The draw-a-digit page: `python -m mnist_lightning.serve [ckpt_path=...]`, then open http://127.0.0.1:8000.

Serves a checkpoint, or an .onnx file from `mnist_lightning.export` (run by onnxruntime), with the page and API of
web/app.py on uvicorn. It listens on this machine only unless `host=` says otherwise.
"""

from __future__ import annotations

import hydra
import uvicorn
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.checkpoint import model_to_use
from mnist_lightning.inference.loading import load_model
from mnist_lightning.inference.model_card import model_card
from mnist_lightning.web.app import create_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
def main(cfg: DictConfig) -> None:
    if not 0 < cfg.max_upload_mb <= 100:
        raise ValueError(f"max_upload_mb must be in (0, 100], got {cfg.max_upload_mb}.")
    path = model_to_use(cfg.ckpt_path, cfg.search_dir)
    model = load_model(path)
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


if __name__ == "__main__":
    main()
