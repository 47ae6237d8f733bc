# The two quick-start commands: `make p1` (the gate against the embedded stand-in) and `make test`.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: p1 test lint install system-deps

install:
	$(PIP) -e .

p1: install
	$(PYTHON) -m behave --tags=@p1 --stop

system-deps:
	bash scripts/install-system-deps

test: system-deps
	$(PIP) -e '.[test]'
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest -n 2

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
