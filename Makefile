# AfterCare — the two Quick start commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
ADDR ?= 127.0.0.1:8000
export AFTERCARE_ALLOW_DEV_SECRET ?= 1

.PHONY: setup run test test-sqlite test-postgres lint messages demo clean

$(UV):
	$(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced messages

messages: $(VENV)/.synced
	$(VENV)/bin/pybabel compile --statistics -d locale -D django 2>&1 | grep -v '^compiling' || true

demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

## make run: set up, migrate, seed the demo and serve http://127.0.0.1:8000 (SQLite by default)
run: demo
	DJANGO_DEBUG=1 $(PY) manage.py serve $(ADDR)

## make test: lint and the whole test suite, on the database DATABASE_URL names (SQLite by default)
test: setup lint
	$(VENV)/bin/pytest -n 2 --dist loadfile

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy aftercare
	DJANGO_DEBUG=1 $(PY) manage.py check
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
