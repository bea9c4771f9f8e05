# `make demo` and `make test` set everything up on a fresh machine (Python 3.10+; audio decoders come as wheels).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-slow test-ci-slow test-all install clean docs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/workbench demo

test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)

# the fast loop while you work: unit tests without papermill, browsers, Ray, UMAP compiles or the single heavy tests of
# tests/conftest.py (HEAVY_FILES, HEAVY_TESTS); 86 s of CPU (user+sys) against 211 s before the cut, so under 2 minutes idle
# the unit tests on every core (pytest-xdist; each worker builds its own tiny model in its own cache)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu and not heavy and not notebook and not browser" -q -n auto $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow" $(PYTEST_ARGS)

# the part of the slow suite CI runs on every submission (marker slow_ci): the Ray cluster's loss tests, the torch-free
# ONNX example, one Ctrl-C case
test-ci-slow: $(STAMP)
	$(PY) -m pytest -m "slow_ci" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# API reference from the docstrings (pdoc walks each subpackage listed), one page per module, into docs/api/ (git ignores it)
DOCS_OUT ?= docs/api
DOC_MODULES := workbench $(patsubst workbench/%.py,workbench.%,$(filter-out workbench/__init__.py workbench/__main__.py,$(sort $(wildcard workbench/*.py)))) $(patsubst workbench/%/__init__.py,workbench.%,$(sort $(wildcard workbench/*/__init__.py)))

docs: $(STAMP)
	$(PY) -m pdoc --docformat numpy -o $(DOCS_OUT) $(DOC_MODULES)
	@echo "API reference: $(DOCS_OUT)/index.html"

clean:
	rm -rf outputs .pytest_cache
