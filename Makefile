# Everything starts from a plain Python: the first target that needs .venv creates it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
DATA   ?= ./vecdb-data

.PHONY: run test test-slow bench lint fmt proto clean demo

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[server]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(PY) -m vecdb serve --data $(DATA)

demo: $(STAMP_RUN)
	$(PY) -m vecdb demo --data $(DATA)

test: $(STAMP_DEV)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP_DEV)
	$(PY) -m pytest -q -m slow

bench: $(STAMP_DEV)
	$(PY) -m pytest -q benchmarks --benchmark-only

lint: $(STAMP_DEV)
	$(PY) -m ruff check vecdb server benchmarks tests
	$(PY) -m ruff format --check vecdb server benchmarks tests
	$(PY) -m mypy

fmt: $(STAMP_DEV)
	$(PY) -m ruff format vecdb server benchmarks tests
	$(PY) -m ruff check --fix vecdb server benchmarks tests

proto: $(STAMP_DEV)
	$(PY) -m vecdb_server.protogen

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build *.egg-info
