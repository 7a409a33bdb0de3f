# Two commands do everything: `make train` and `make test`. Each creates the virtual environment in .venv
# when it is missing, reinstalls when pyproject.toml is newer than the last install, and reuses it otherwise.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: train eval predict export serve test test-slow lint benchmark tensorboard

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $(STAMP)

train: $(STAMP)  ## make train ARGS="model=cnn regularizer.dropout=0.3"
	$(BIN)/python -m mnist_lightning.train $(ARGS)

eval: $(STAMP)   ## make eval ARGS="ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt"
	$(BIN)/python -m mnist_lightning.eval $(ARGS)

predict: $(STAMP)  ## make predict ARGS="inputs=photos/"
	$(BIN)/python -m mnist_lightning.predict $(ARGS)

serve: $(STAMP)    ## make serve, then open http://127.0.0.1:8000 (ARGS="ckpt_path=... port=...")
	$(BIN)/python -m mnist_lightning.serve $(ARGS)

export: $(STAMP)   ## make export ARGS="ckpt_path=outputs/<date>/<time>/checkpoints/<best>.ckpt"
	$(BIN)/python -m mnist_lightning.export $(ARGS)

test: $(STAMP)   ## the fast suite (a few minutes on 2 cores), a worker per core (pytest-xdist)
	$(BIN)/python -m pytest -n auto $(ARGS)

lint: $(STAMP)   ## the gates CI runs before the tests (rules in pyproject.toml); `ruff format .` fixes layout
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-slow: $(STAMP)  ## the slow end-to-end tests (full training runs, install from a wheel)
	$(BIN)/python -m pytest -m slow $(ARGS)

benchmark: $(STAMP)  ## make benchmark ARGS=--quick
	$(BIN)/python benchmarks/benchmark.py $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir outputs
