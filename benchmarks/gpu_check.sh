#!/usr/bin/env bash
# For the day a CUDA GPU is at hand: do training (bf16), export and serving work on it, and how fast?
#   bash benchmarks/gpu_check.sh [train overrides for both runs, e.g. trainer.max_epochs=3]
# Trains the default MLP and the CNN into outputs/gpu_check/<date>_<time>/{mlp,cnn}/, prints each run's wall time,
# test accuracy and device, exports the MLP to ONNX (export/), serves that file and asks it about one test digit.
# Exit status: 0 all worked; 77 no usable GPU here (nothing was run; 77 is "skipped" to automake-style harnesses);
# anything else: the step that failed (set -e stops at it, and its output is above).
set -euo pipefail
cd "$(dirname "$0")/.."  # the repository root: conf/ and outputs/ are relative to it
PY=${PYTHON:-.venv/bin/python}
[[ -x $PY ]] || PY=python3

# 1. A GPU, or stop. Without one, accelerator=auto would quietly train on the CPU, where bf16 is emulated and
# 13-77x slower (docs/speed.md): a check that "passes" there says nothing about a GPU.
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or finds none); run it on a machine with a CUDA GPU." >&2
  exit 77
fi
if ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: nvidia-smi lists a GPU but torch cannot use it: $("$PY" -c 'import torch; print("torch", torch.__version__, "built for CUDA", torch.version.cuda)')." >&2
  echo "A CPU-only torch build, or a driver older than that CUDA: see nvidia-smi's 'CUDA Version'." >&2
  exit 77
fi
command -v curl >/dev/null || { echo "gpu_check: needs curl to talk to the server" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

RUN=outputs/gpu_check/$(date +%Y-%m-%d_%H-%M-%S)  # a new folder each time: an old run's checkpoints never mix in
mkdir -p "$RUN"

# 2. Train and score. The wall time includes start-up, data loading and test scoring; metrics.json's train_seconds
# is fit() alone. The record must say cuda: a run that fell back to the CPU is a failure here.
train() {  # train <name> <overrides...>
  local name=$1 start ms
  shift
  start=$(date +%s%N)
  "$PY" -m mnist_lightning.train "hydra.run.dir=$RUN/$name" trainer.accelerator=auto trainer.precision=bf16-mixed \
    trainer.enable_progress_bar=false "$@" > "$RUN/$name.log" 2>&1 || { tail -n 30 "$RUN/$name.log"; return 1; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "== $name: $((ms / 1000)).$((ms % 1000 / 100)) s wall (log: $RUN/$name.log)"
  "$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
p = m["provenance"]
print("   test acc %.2f %%, val acc %.2f %%, %s epochs, fit %s s"
      % (100 * m["test/acc"], 100 * m.get("val/acc", float("nan")), m["epochs"], m["train_seconds"]))
print("   device %s, gpu %s, torch %s, lightning %s" % (m["device"], p["gpu"], p["torch"], p["lightning"]))
sys.exit(0 if m["device"].startswith("cuda") else "   trained on %s, not the GPU" % m["device"])
' "$RUN/$name/metrics.json"
}
train mlp "$@"
train cnn model=cnn "$@"

# 3. Export the MLP's chosen checkpoint. The exporter checks onnxruntime against PyTorch on all 10,000 test images.
BEST=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["best_checkpoint"])' "$RUN/mlp/metrics.json")
"$PY" -m mnist_lightning.export "ckpt_path=$BEST" "hydra.run.dir=$RUN/export" | tail -n 3
MODEL=$RUN/export/model.onnx

# 4. Serve the .onnx on a free loopback port and ask about one test digit, drawn as the page sends it (280x280,
# dark ink on white), so the picture goes through the same preprocessing as a user's.
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m mnist_lightning.serve "ckpt_path=$MODEL" "port=$PORT" "hydra.run.dir=$RUN/serve" > "$RUN/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT  # the server stops however this script ends
for i in $(seq 60); do  # up to 60 s to load the model and listen
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  if ! kill -0 "$SERVER" 2>/dev/null || ((i == 60)); then
    echo "gpu_check: the server is not answering on port $PORT:" >&2; tail -n 20 "$RUN/serve.log" >&2; exit 1
  fi
  sleep 1
done
LABEL=$("$PY" -c '
import os, sys
from PIL import Image, ImageOps
from mnist_lightning.data.idx_files import MNIST, load_split
images, labels = load_split(MNIST, train=False, cache_dir=os.environ.get("MNIST_LIGHTNING_CACHE", "~/.cache/mnist_lightning"))
ImageOps.invert(Image.fromarray(images[0].numpy()).resize((280, 280), Image.BICUBIC)).save(sys.argv[1])
print(int(labels[0]))' "$RUN/digit.png")
echo "== serve $MODEL on port $PORT: POST /predict $RUN/digit.png (a $LABEL)"
curl -sS -f -o "$RUN/answer.json" -F "file=@$RUN/digit.png" "http://127.0.0.1:$PORT/predict"
"$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))
print("   answer %s with probability %.4f, unsure: %s" % (a["digit"], a["probability"], a["unsure"]))
sys.exit(0 if a["digit"] == int(sys.argv[2]) else "   wrong digit")' "$RUN/answer.json" "$LABEL"
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true  # the status of a server stopped by a signal is no failure of the check
echo "gpu_check: all steps passed; outputs in $RUN"
