# fervlm — the README's commands. `make` creates/reuses .venv/ and installs everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fervlm-installed
JOBS ?= 2

.PHONY: help setup demo test lint lab app sysdeps clean-venv

help:
	@echo "make demo   - set up on first use, then run the quick demo on the built-in synthetic data"
	@echo "make test   - set up on first use, then run the test suite"
	@echo "make lab    - start JupyterLab on notebooks/ (LAB_ARGS=--no-browser on a server)"
	@echo "make app    - start the Streamlit inference app (APP_ARGS=--headless on a server)"
	@echo "make lint   - ruff (code, tests, notebooks) and the import-layer contract; make test runs it first"

sysdeps:
	@bash .ci/sysdeps.sh

$(STAMP): pyproject.toml | sysdeps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e ".[all]"
	@$(PY) -c "import torch, torchvision, open3d, open_clip; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'open3d', open3d.__version__, 'open_clip', open_clip.__version__)"
	@touch $(STAMP)

setup: sysdeps $(STAMP)

demo: setup
	$(VENV)/bin/fervlm demo

test: lint
	$(PY) -m pytest -n $(JOBS) -q

# ruff (lint and format) over the package, the tests and the notebooks' code cells, then the import contract
# of pyproject.toml [tool.importlinter] (docs/design.md, "Layers").
lint: setup
	$(PY) -m ruff check fervlm tests notebooks
	$(PY) -m ruff format --check fervlm tests notebooks
	$(VENV)/bin/lint-imports

# JUPYTER_CONFIG_PATH adds the repository's .jupyter/ (fervlm/lab.py): notebooks saved without outputs,
# no "Build Recommended" prompt. LAB_ARGS=--no-browser on a server.
lab: setup
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS)

PORT ?= 8501
app: setup
	$(VENV)/bin/fervlm app --port $(PORT) $(APP_ARGS)

clean-venv:
	rm -rf $(VENV)
