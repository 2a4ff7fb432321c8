# The two commands of the README's quick start:
#   make demo   set up a virtual environment and encode/decode a bundled real image
#   make test   set up the same environment and the DICOM peers the tests start (DCMTK,
#               Orthanc: `make system-deps`), then run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps bench clean

# Debian packages of the DICOM peers that tests/test_dicom_node.py starts (DCMTK's tools,
# the Orthanc PACS) and openssl (its TLS certificate).  Installed with apt-get when one is
# missing and we are root; otherwise says what to install (the tests then fail under CI).
SYSTEM_TOOLS := storescu storescp echoscu findscu getscu movescu dcmdjpls Orthanc openssl
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || \
	    [ -x /usr/sbin/$$t ] || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing dcmtk orthanc openssl (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends dcmtk orthanc openssl >/dev/null; \
	else \
	    echo "missing:$$missing -- install the Debian packages dcmtk orthanc openssl" >&2; \
	fi

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

# two pytest workers, each test file on one of them (its module fixtures stay together)
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules -n 2 --dist loadfile mic tests

bench: $(STAMP)
	mkdir -p bench-out
	$(BIN)/python -m pytest -q benches --benchmark-only --benchmark-json=bench-out/benchmarks.json

clean:
	rm -rf $(VENV) build *.egg-info
