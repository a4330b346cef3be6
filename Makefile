# The two commands of the README's Quickstart are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := cimrca
JOBS ?=

.PHONY: help venv demo test test-fast lint format lab sample bench clean

help:
	@echo "make demo     build packets for every LEA of data/sample into out/"
	@echo "make test     run the whole test suite (notebooks included)"
	@echo "make lint     ruff check and format check"
	@echo "make lab      JupyterLab on notebooks/ with the project's kernel"
	@echo "make sample   regenerate data/sample with the seeded generator"
	@echo "make bench    run the benchmarks in benchmarks/"

# The environment is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (cimrca)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/cimrca batch data/sample --out out $(if $(JOBS),--jobs $(JOBS))

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check cimrca tests benchmarks
	$(BIN)/ruff format --check cimrca tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format cimrca tests benchmarks
	$(BIN)/ruff check --fix cimrca tests benchmarks

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

sample: $(STAMP)
	$(BIN)/cimrca sample data/sample --leas 50 --years 5 --seed 2024

bench: $(STAMP)
	$(BIN)/python benchmarks/compute.py
	$(BIN)/python benchmarks/batch.py

clean:
	rm -rf out build dist *.egg-info .pytest_cache .hypothesis .ruff_cache
