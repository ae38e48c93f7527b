# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,report,lint,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/clustermetrics quickstart

# Headless Chromium for the report's browser tests (Debian package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# the tests and the docstrings' examples; pytest's exit status 5 (nothing collected) fails too
test: $(STAMP)
	$(PY) -m pytest -n 2 -q --doctest-modules tests clustermetrics

lint: $(STAMP)
	$(VENV)/bin/ruff check clustermetrics tests benchmarks
	$(VENV)/bin/mypy

# the site: the CLI reference regenerated from --help (a test fails when it drifts), then
# `mkdocs build --strict` (any warning, a broken link or reference, fails) into site/; the
# build takes a screenshot of a report with chromium (`make browser`)
docs: $(STAMP)
	$(PY) -m clustermetrics.cli_reference docs/reference/cli.md
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_store.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_server.py
	$(PY) benchmarks/bench_dask.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .hypothesis
