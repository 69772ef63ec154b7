# The two commands a new user needs: `make lab` and `make test`.
# Each one sets itself up: virtual environment, install, demo data.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := data/opskit.db
# The demo data is written around this instant; the lab and the notebooks run at it.
DEMO_NOW := 2026-07-01T09:00:00Z
NB_DB := build/notebooks.db
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Debian's Chromium, which the browser suite (tests/browser) drives through Playwright
CHROMIUM ?= /usr/bin/chromium

.PHONY: dashboard lab test lint unit notebooks notebook-demo notebook-outputs package browser bench stress clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "opskit needs Python 3.11 or newer on PATH"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(DEMO_DB): $(STAMP) $(wildcard opskit/demo/*.csv)
	$(BIN)/opskit demo --db sqlite:///$(DEMO_DB)

lab: $(STAMP) $(DEMO_DB)
	cd notebooks && OPSKIT_DATABASE_URL=sqlite:///$(CURDIR)/$(DEMO_DB) \
		OPSKIT_NOW=$${OPSKIT_NOW:-$(DEMO_NOW)} \
		$(CURDIR)/$(BIN)/jupyter lab $(ROOT_FLAG) --notebook-dir=$(CURDIR)/notebooks

# The owners' dashboard (dashboards/owners.ipynb) over the demo data, read-only, by Voila:
# no code shown, none runnable from the page. http://127.0.0.1:$(VOILA_PORT)/
VOILA_PORT ?= 8866
dashboard: $(STAMP) $(DEMO_DB)
	OPSKIT_DATABASE_URL=sqlite:///$(CURDIR)/$(DEMO_DB) OPSKIT_NOW=$${OPSKIT_NOW:-$(DEMO_NOW)} \
		$(BIN)/voila $(CURDIR)/dashboards/owners.ipynb --no-browser --port=$(VOILA_PORT) \
		--Voila.ip=127.0.0.1 --strip_sources=True --show_tracebacks=False

lint: $(STAMP)
	$(BIN)/ruff check opskit tests benchmarks tools
	$(BIN)/ruff format --check opskit tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/python tools/check_notebooks.py notebooks/*.ipynb

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q -m "not browser" tests

# Each notebook runs under nbval on its own fresh copy of the demo, at the frozen clock,
# so one notebook's changes (03 can apply a bulk run) never reach another's outputs.
FRESH_NB_COPY = cp $(NB_DB) build/nbval.db; rm -f build/nbval.db-wal build/nbval.db-shm
NB_ENV = OPSKIT_DATABASE_URL=sqlite:///$(CURDIR)/build/nbval.db OPSKIT_NOW=$(DEMO_NOW)

notebook-demo: $(STAMP)
	@mkdir -p build
	rm -f $(NB_DB) $(NB_DB)-wal $(NB_DB)-shm
	OPSKIT_NOW=$(DEMO_NOW) $(BIN)/opskit demo --db sqlite:///$(CURDIR)/$(NB_DB)

notebooks: notebook-demo
	@set -e; for nb in notebooks/*.ipynb; do \
		$(FRESH_NB_COPY); echo "nbval $$nb"; \
		$(NB_ENV) $(BIN)/pytest -q -p no:xdist -p no:cacheprovider --nbval $$nb; \
	done

# The committed outputs come only from here: the run nbval compares against, from the
# top, then stripped of widget state and timings (tools/check_notebooks.py).
# NB=notebooks/03_bulk_offboarding.ipynb regenerates one.
notebook-outputs: notebook-demo
	@set -e; for nb in $(or $(NB),notebooks/*.ipynb); do \
		$(FRESH_NB_COPY); echo "run $$nb"; \
		$(NB_ENV) $(BIN)/jupyter nbconvert --log-level WARN --to notebook --execute --inplace $$nb; \
	done
	$(BIN)/python tools/check_notebooks.py --strip $(or $(NB),notebooks/*.ipynb)

# What a user gets from `pip install 'opskit[lab]'`: a wheel built from this tree, installed
# into a new virtual environment in a temporary folder, then `opskit demo` and papermill
# over each notebook, run outside the repository (tools/check_package.py).
package:
	@test -n "$(PYTHON)" || { echo "opskit needs Python 3.11 or newer on PATH"; exit 2; }
	$(PYTHON) tools/check_package.py

# JupyterLab in headless Chromium, in one process (the tests share one server). Without
# Chromium it is skipped, saying so; with OPSKIT_REQUIRE_BROWSER=1 (CI) that is a failure.
browser: $(STAMP)
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser suite: JupyterLab in $(CHROMIUM) (screenshots in test-artifacts/browser/)"; \
		OPSKIT_CHROMIUM="$(CHROMIUM)" $(BIN)/pytest -p no:xdist -q -rs -m browser tests/browser; \
	elif [ "$$OPSKIT_REQUIRE_BROWSER" = 1 ]; then \
		echo "browser suite: $(CHROMIUM) not found and OPSKIT_REQUIRE_BROWSER=1"; exit 1; \
	else \
		echo "*** browser suite SKIPPED: $(CHROMIUM) not found (apt-get install -y chromium) ***"; \
	fi

test: lint unit notebooks package browser

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm

# The full-size reliability run (issue 7): concurrency, duels, SIGKILLed and disconnected
# runs on PostgreSQL and SQLite, then the hostile-input properties with many examples.
# STRESS_ARGS overrides the sizes, e.g. STRESS_ARGS="--workers 8 --kills 60 --seed 42".
stress: $(STAMP)
	$(BIN)/python -m tests.stress.stress $(or $(STRESS_ARGS),--workers 6 --iterations 200 --kills 40)
	OPSKIT_HYPOTHESIS_PROFILE=stress $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_hostile_input.py
