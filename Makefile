# The two commands of the README's quick start:
#   make demo   set up a virtual environment and encode/decode a bundled real image
#   make test   set up the same environment and run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU PyTorch first and pinned: a bare 'torch' would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,train,bench]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py
	@echo "The mic command is $(BIN)/mic: 'source $(BIN)/activate' puts it on PATH (README: Command line)."

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules mic tests

bench: $(STAMP)
	$(BIN)/python -m pytest -q benches --benchmark-only --benchmark-json=bench-out/benchmarks.json

clean:
	rm -rf $(VENV) build *.egg-info
