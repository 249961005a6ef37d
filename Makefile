# The two README commands: `make demo` and `make test`. Both set everything up on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
SRC := langchain_ctxorch tests examples benchmarks

.PHONY: demo test install lint format typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)

format: $(STAMP)
	$(VENV)/bin/ruff format $(SRC)
	$(VENV)/bin/ruff check --fix $(SRC)

typecheck: $(STAMP)
	$(VENV)/bin/mypy langchain_ctxorch

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(PY) benchmarks/bench_pack.py
	$(PY) benchmarks/bench_recall.py
	$(PY) benchmarks/bench_retrieval.py --quick
	$(PY) benchmarks/bench_orchestrator.py
	$(PY) benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis dist build
