# `make run` starts the engine on its embedded default; `make test` runs `make lint` (ruff and mypy),
# then the tests.
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TURSO := tests/turso/node_modules/.installed

.PHONY: run lint test bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	LOG_FORMAT=$${LOG_FORMAT:-console} $(BIN)/cryptobot serve

# The Turso server the sync tests run against (the `turso` npm package).
$(TURSO): tests/turso/package.json tests/turso/package-lock.json
	@if command -v npm >/dev/null; then \
		npm --prefix tests/turso install --no-audit --no-fund --loglevel=error && touch $(TURSO); \
	else echo "npm not found: the Turso sync tests will be skipped"; fi

# ruff (style, imports, likely bugs) and mypy (strict on engine/, checked on the rest); see pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy engine actors api persistence bench tests

# lint comes first, so CI fails on a lint or type error before it spends time on the tests.
test: $(STAMP) $(TURSO)
	$(MAKE) lint
	$(BIN)/python -m pytest

# Benchmarks: one JSON line per figure; never fails the build (see bench/RESULTS.md).
# BENCH_QUICK=1 make bench: a smaller, shorter run. The HTTP figures need wrk.
bench: $(STAMP)
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; \
		else echo "wrk not found: install it (Debian/Ubuntu: sudo apt-get install -y wrk); the HTTP figures are skipped"; fi; }
	-$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
