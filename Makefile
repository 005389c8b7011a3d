# The README's two commands: `make demo` and `make test`. Each creates .venv and installs on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench bench-scale install clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/webrecall demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/run.py --repeat 2
	$(BIN)/python bench/stages.py --repeat 5

# crawl scale (~1 h on 2 quiet cores, ~3 GB of disk under data/): a 1 GiB WARC through two rounds over HTTP,
# PostgreSQL with 10M domain rows, then the whole-crawl projection from every bench result
bench-scale: $(STAMP)
	$(BIN)/python bench/fullsize.py
	$(BIN)/python bench/pg_scale.py
	$(BIN)/python bench/crawl_cost.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .mypy_cache
