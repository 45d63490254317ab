# The two commands of the README: `make demo` and `make test`. Both build their own venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv browser-deps clean

$(STAMP): pyproject.toml
	@command -v node >/dev/null || { echo "node (>=18) and npm are needed to build the widget front-end (js/): apt-get install nodejs npm"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# Chromium for the browser tests (Debian's package; Playwright's own download does not work offline).
browser-deps:
	@if command -v chromium >/dev/null; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing and not root: browser tests will be skipped (sudo apt-get install chromium)"; fi

demo: $(STAMP)
	$(PY) -m fgs_widgets.archive.sample
	$(PY) -m jupyterlab notebooks/quickstart.ipynb $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: $(STAMP) browser-deps
	$(PY) -m ruff check fgs_widgets tests benchmarks notebooks/make_notebooks.py hatch_build.py
	$(PY) -m pytest -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist fgs_widgets/static js/node_modules .pytest_cache
