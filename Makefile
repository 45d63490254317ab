# The two commands of the README: `make demo` and `make test`. Both build their own venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv browser-deps hub-deps clean
CHP := $(VENV)/bin/configurable-http-proxy

# System packages (Debian; README "Two commands"):
#   apt-get install make python3 python3-venv nodejs npm chromium
$(STAMP): pyproject.toml
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node (>= 18) and npm build the widget front-end (js/): apt-get install nodejs npm"; exit 1; }
	@test -x $(PY) || command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found (Python >= 3.11 is needed): apt-get install python3 python3-venv"; exit 1; }
	@test -x $(PY) || $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed (Debian 12 or newer: apt-get install python3 python3-venv; or make PYTHON=python3.12)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "$(PYTHON) -m venv is unavailable (no ensurepip): apt-get install python3-venv"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# lightkurve 2.x pins pandas < 3: tests/test_astropy_tables.py runs again in a venv of its
# own with lightkurve (and pandas 2), so the main one keeps the pandas a plain install gets
LK_VENV ?= .venv-lightkurve
LK_STAMP := $(LK_VENV)/.installed
$(LK_STAMP): pyproject.toml | $(STAMP)
	test -x $(LK_VENV)/bin/python || $(PYTHON) -m venv $(LK_VENV)
	$(LK_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(LK_VENV)/bin/python -m pip install --quiet -e ".[test,lightkurve]"
	touch $(LK_STAMP)

# Chromium for the browser tests (Debian's package; Playwright's own download does not work offline).
# As root it is installed here; otherwise the browser tests skip (or fail with FGS_REQUIRE_BROWSER=1).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing and not root: browser tests will be skipped (as root: apt-get install chromium)"; fi

# JupyterHub's proxy, for tests/browser/test_hub_browser.py (an npm package, Node.js >= 18):
# installed into the venv (bin/ and lib/node_modules/), where the test harness looks first;
# `make clean` removes it with the venv.
$(CHP): | $(STAMP)
	npm install --global --prefix $(VENV) --no-audit --no-fund --loglevel=error \
		configurable-http-proxy@5

hub-deps: $(CHP)

demo: $(STAMP)
	$(PY) -m fgs_widgets warmup --sample
	$(PY) -m jupyterlab notebooks/quickstart.ipynb $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: $(STAMP) $(LK_STAMP) browser-deps hub-deps
	$(PY) -m ruff check fgs_widgets tests benchmarks notebooks/make_notebooks.py hatch_build.py
	$(PY) -m pytest -q
	$(LK_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_astropy_tables.py

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LK_VENV) build dist fgs_widgets/static js/node_modules .pytest_cache
