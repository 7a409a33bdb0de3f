"""Load on the draw-a-digit server: `python benchmarks/serve_load.py [--model PATH] [--clients 8] [--requests 400]`.

Starts `python -m mnist_lightning.serve` on a free loopback port with the model (default: the newest best
checkpoint under outputs/), then `--clients` concurrent clients send `--requests` POST /predict in all, each a
280x280 PNG of an MNIST test digit drawn dark on white (what the page sends). Prints throughput, p50/p99 latency
and how many requests failed or got no answer, and writes benchmarks/results/serve_load.{json,md}. A benchmark,
not a test: the numbers depend on the machine, and only the same run's numbers compare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
from PIL import Image, ImageOps

from mnist_lightning.data.idx_files import MNIST, load_split
from mnist_lightning.inference.checkpoint import newest_checkpoint
from mnist_lightning.reporting.provenance import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(os.environ.get("MNIST_LIGHTNING_CACHE", "~/.cache/mnist_lightning")).expanduser()  # as conf/data


def uploads(count: int, cache_dir: Path) -> list[tuple[bytes, int]]:
    """`count` different test digits as the page sends them: 280x280 PNGs, dark ink on white."""
    images, labels = load_split(MNIST, train=False, cache_dir=cache_dir)
    made = []
    for i in range(count):
        picture = ImageOps.invert(Image.fromarray(images[i].numpy()).resize((280, 280), Image.BICUBIC))
        buffer = io.BytesIO()
        picture.save(buffer, "PNG")
        made.append((buffer.getvalue(), int(labels[i])))
    return made


def start(model: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnist_lightning.serve",
            f"ckpt_path={model}",
            f"port={port}",
            "hydra.run.dir=/tmp/mnist_lightning_serve_load",
            "hydra/job_logging=disabled",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in server.stdout:
        if "Uvicorn running on" in line:
            return server, f"http://127.0.0.1:{port}"
    raise RuntimeError("the server did not start; run the serve command by hand to see why")


def load(url: str, digits: list[tuple[bytes, int]], clients: int, requests: int) -> dict:
    def one(i: int) -> tuple[float, int | None, bool]:
        data, label = digits[i % len(digits)]
        start = time.perf_counter()
        try:
            response = client.post(f"{url}/predict", files={"file": ("digit.png", data, "image/png")}, timeout=60)
        except httpx.HTTPError:
            return time.perf_counter() - start, None, False
        ok = response.status_code == 200
        return time.perf_counter() - start, response.status_code, ok and response.json()["digit"] == label

    with httpx.Client(limits=httpx.Limits(max_connections=clients)) as client:
        for i in range(clients):  # warm-up: connections opened, the model's first call done
            one(i)
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - start
    latencies = sorted(seconds for seconds, status, _ in results if status == 200)
    return {
        "clients": clients,
        "requests": requests,
        "answered_200": len(latencies),
        "failed_or_lost": requests - len(latencies),
        "right_digit": sum(right for _, _, right in results),
        "throughput_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        type=Path,
        nargs="+",
        help="one or more .ckpt or .onnx files, measured one after another (default: the newest best "
        "checkpoint under outputs/)",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    models = args.model or [newest_checkpoint("outputs")]
    digits = uploads(100, args.cache_dir)
    rows = []
    for model in models:
        server, url = start(model)
        try:
            rows.append({"model": model.name, **load(url, digits, args.clients, args.requests)})
        finally:
            server.terminate()
            server.wait(30)
    command = f"python benchmarks/serve_load.py --clients {args.clients} --requests {args.requests}"
    table = [
        f"Hardware: {cpu_model()}, Python {platform.python_version()}. Command: `{command}` "
        f"(`--model` {', '.join(m.name for m in models)}).",
        "",
        "| model | clients | requests | answered | failed or lost | right digit | throughput | p50 | p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        table.append(
            f"| `{r['model']}` | {r['clients']} | {r['requests']} | {r['answered_200']} | {r['failed_or_lost']} | "
            f"{r['right_digit']} | {r['throughput_per_s']:.0f} requests/s | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(
        json.dumps({"hardware": cpu_model(), "command": command, "runs": rows}, indent=2)
    )
    (args.out / "serve_load.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
