# The two quick-start commands: `make p1` (the gate against the embedded stand-in) and `make test`.
# Both install into the active virtualenv when there is one, else into the project's own `.venv`
# (made on first use): stock Debian's Python refuses `pip install` outside a virtualenv
# (externally-managed-environment), and CI runs this as root on a fresh machine.
BASE_PYTHON ?= python3
# Options for `python -m venv`, e.g. --system-site-packages to reuse what the machine has.
VENV_OPTIONS ?=
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
PYTHON := $(VENV)/bin/python
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: p1 test lint install install-test system-deps

$(VENV)/bin/python:
	$(BASE_PYTHON) -m venv $(VENV_OPTIONS) $(VENV) || { rm -rf .venv; echo "make: $(BASE_PYTHON) \
	-m venv failed; on Debian or Ubuntu, apt-get install python3-venv" >&2; exit 1; }

install: $(VENV)/bin/python
	$(PIP) -e .

p1: install
	$(PYTHON) -m behave --tags=@p1 --stop

system-deps:
	bash scripts/install-system-deps

install-test: system-deps $(VENV)/bin/python
	$(PIP) -e '.[test]'

test: install-test
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest -n 2

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
