# `make run` and `make test` work on a fresh clone: they create .venv and install what is needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-reliability lint format bench clean

$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(INSTALLED)

run: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py rundev --port $${PORT:-8000}

# The fast suite: everything but the long reliability scenarios (tests/reliability/), on the
# embedded defaults. Chromium, ChromeDriver, curl and jq are checked (installed where the machine
# allows) before anything else, so a missing one stops the run at once with what to do.
test:
	bash tests/prerequisites.sh browser
	$(MAKE) install
	$(PY) -m pytest -m "not reliability"

# Everything, the reliability scenarios included (docs/reliability.md), on PostgreSQL + Redis:
# DATABASE_URL and CACHE_URL, by default the local servers (started where the machine allows).
# The load scenario runs RELIABILITY_LOAD_SECONDS (default 300).
test-reliability: export DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres:postgres@127.0.0.1:5432/test)
test-reliability: export CACHE_URL := $(or $(CACHE_URL),redis://127.0.0.1:6379/1)
test-reliability:
	bash tests/prerequisites.sh browser services
	$(MAKE) install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The benchmarks themselves; bench/ also holds their settings, URLs and shared set-up.
BENCHMARKS := compile deploy events metrics scale

bench: install
	@for name in $(BENCHMARKS); do echo "== bench/$$name.py"; $(PY) bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
