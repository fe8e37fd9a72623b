# Every target creates the virtual environment on first use; TORCH pins the CPU wheel this project is tested with
# (override it, e.g. `make demo TORCH=torch`, on a machine where you want a CUDA build).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install demo test test-wheel test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[dev,demo]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/inductive-zoo demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src conversion model_cards tests training benchmarks
	$(BIN)/ruff format --check src conversion model_cards tests training benchmarks
	$(BIN)/lint-imports

test: lint test-wheel
	$(BIN)/python -m pytest $(ARGS)

# The built wheel, installed outside the source tree, runs the demo, publish and convert.
test-wheel: $(STAMP)
	VENV=$(VENV) .ci/check_wheel.sh

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/augmentation.py $(ARGS)

clean:
	rm -rf $(VENV) outputs
