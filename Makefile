# The two commands the README promises: `make demo` and `make test`. Each does its own set-up.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
EXTRAS  ?= train,curate,serve,ray,test
TORCH   ?= torch==2.13.0

.PHONY: demo test setup browser lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# CPU torch first: a plain `torch` would pull several GB of CUDA packages.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

# Debian's chromium for the browser tests (playwright's own download cannot be reached), and espeak-ng to
# speak the test sentences of the talking-head world and the avatar.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed; browser tests will be skipped"
	@command -v espeak-ng >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null) \
	  || echo "espeak-ng could not be installed; tests with real speech will be skipped"

demo: setup
	$(BIN)/vitascope demo --out outputs/demo

test: setup browser
	$(BIN)/python -m pytest -q tests

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
