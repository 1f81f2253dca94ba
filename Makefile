# earlyrisk: one entry point. Every target builds/updates the repo's own virtual
# environment from nothing (system packages included), idempotently.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= var/demo
DEMO_FAMILIES ?= 20000
# `make test`: two xdist workers on the two cores. A third worker was tried to run tests
# while the others wait for a server, a browser, a database, Spark or a subprocess: in the
# same fresh clone on a quiet machine, with the temp files in memory, the whole suite took
# 12 min 47 s with three workers against 11 min 55 s with two (1,557 tests), and in round
# 12 12 min 15 s against 11 min 40 s (1,572 tests; README.md, "Development checks"), so the waits are not what holds the run back and two workers
# (less memory, fewer start-up races under load) stay the default.
# `make test-fast` is unit tests, CPU-bound (README.md, "Development checks").
PYTEST_WORKERS ?= 2
FAST_WORKERS ?= 2

.PHONY: help install system-deps spark-deps postgres browser-deps demo test test-fast bench lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Debian packages the Python wheels need (LightGBM's OpenMP runtime, WeasyPrint's Pango)
	@if ! ldconfig -p | grep -q 'libgomp.so.1'; then \
		echo "installing libgomp1 (OpenMP runtime for LightGBM)"; \
		bash scripts/apt_install.sh libgomp1; \
	fi
	@if ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || ! ldconfig -p | grep -q 'libharfbuzz-subset.so.0' \
		|| ! fc-list 2>/dev/null | grep -qi 'DejaVu Sans'; then \
		echo "installing Pango, HarfBuzz and DejaVu fonts (WeasyPrint: the dossier's PDF, Cyrillic and Kazakh glyphs)"; \
		bash scripts/apt_install.sh libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fontconfig fonts-dejavu-core; \
	fi

spark-deps: ## Java 17 for --engine spark (pyspark itself comes with the Python install)
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
		echo "installing openjdk-17-jre-headless (Java for Spark)"; \
		bash scripts/apt_install.sh openjdk-17-jre-headless; \
	fi

postgres: ## PostgreSQL server binaries (Debian's postgresql) for the database tests and benchmark
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing postgresql (the tests start throwaway servers with initdb)"; \
		bash scripts/apt_install.sh postgresql; \
	fi

browser-deps: ## headless Chromium and its driver (Debian) for the review page's browser tests
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing chromium and chromium-driver (browser tests of /review)"; \
		bash scripts/apt_install.sh chromium chromium-driver; \
	fi

# The installer is uv (pinned in constraints.txt, bootstrapped into the venv by its pip):
# it installs the ~200 pinned wheels in parallel and links them from its cache, where pip
# unpacks them one at a time (a fresh clone's venv: README.md, "Development checks").
# pyspark is published as a source archive only, and uv rebuilds such an archive whenever
# the index does not let it reuse its cached build (110 s here); its wheel is built once per
# machine into WHEELHOUSE (outside the clone, like pip's and uv's caches) and taken from there.
# No --compile-bytecode: uv leaves the .pyc files unwritten, and each module is compiled when
# a process first imports it (the targets that run Python below let it write the file even
# where PYTHONDONTWRITEBYTECODE is set, as here: without that, every test's subprocess
# compiled mlflow, bentoml and pandas from source again, 17.6 min instead of 11.6). Compiling
# all 14,493 site-packages files at install cost 83 against 14 CPU-s without (92 s against
# 20 s wall, load ~5), and most of them no command imports: a fresh venv's first test
# collection compiled what it imports for 8.6 CPU-s (22.3 against 13.7 CPU-s on the next).
WHEELHOUSE ?= $(HOME)/.cache/earlyrisk/wheels
PYSPARK_PIN := $(shell sed -n 's/^pyspark==//p' constraints.txt)
$(STAMP): pyproject.toml constraints.txt | system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt uv
	@ls $(WHEELHOUSE)/pyspark-$(PYSPARK_PIN)-*.whl >/dev/null 2>&1 \
		|| $(BIN)/python -m pip wheel -q --no-deps -c constraints.txt -w $(WHEELHOUSE) pyspark
	$(BIN)/uv pip install -q --python $(BIN)/python --find-links $(WHEELHOUSE) -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create/update the virtual environment

demo: $(STAMP) ## synthesize, validate, build features, train, audit, then serve
	DEMO_DIR=$(DEMO_DIR) DEMO_FAMILIES=$(DEMO_FAMILIES) PATH=$(CURDIR)/$(BIN):$$PATH bash scripts/demo.sh

# The tests (and the demo and benchmarks, whose processes import the same libraries) write
# .pyc files even where PYTHONDONTWRITEBYTECODE is set (as on this machine):
# without them every xdist worker compiled the project's modules and rewrote the ~200 test
# modules' asserts again (pytest caches the rewrite as .pyc too), and so did every server,
# CLI and pytest process a test starts. Collecting the suite took 28.5 CPU-s without the
# files and 15.7 with them (README.md, "Development checks"). The files go to the
# git-ignored __pycache__ folders; a changed source is recompiled, as always.
test test-fast demo bench: export PYTHONDONTWRITEBYTECODE :=

# The tests' temporary files (pytest's tmp_path, the MLflow and SQLite stores, throwaway
# PostgreSQL clusters, servers' logs, Spark's scratch: everything that honours TMPDIR) go
# to a fresh folder in memory (/dev/shm) where the machine has one, removed afterwards.
# On this machine's disk every SQLite commit waits for its fsync (22 ms a commit, 0.4 ms in
# memory): the same two test files
# (model CLI, champion) took 186 and 262 s on disk against 120 and 167 s on /dev/shm, with
# the same CPU time (README.md, "Development checks"). TEST_TMP_ROOT=/tmp keeps them on disk.
TEST_TMP_ROOT ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
# The folder is traversable by others (711, not listable) as the system temp folder is, for
# the throwaway PostgreSQL clusters, whose server runs as the `postgres` user under root.
WITH_TEST_TMPDIR = tmp=$$(mktemp -d $(TEST_TMP_ROOT)/earlyrisk-tests.XXXXXX) && trap 'rm -rf "$$tmp"' EXIT \
	&& chmod 711 "$$tmp" && TMPDIR=$$tmp

test: $(STAMP) spark-deps postgres browser-deps ## run the whole test suite (what CI runs)
	$(WITH_TEST_TMPDIR) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=15

test-fast: $(STAMP) spark-deps postgres ## the quick lane: the suite without the slow and the server tests
	$(WITH_TEST_TMPDIR) $(BIN)/python -m pytest -n $(FAST_WORKERS) --dist loadfile -m "not slow and not server"

bench: $(STAMP) spark-deps postgres ## print the benchmark figures (large data; takes minutes)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m benchmarks

# mypy's cache lives outside the clone, once per machine: a fresh clone's mypy took 256 s
# with an empty cache and 5 s with this one (load average ~20; README.md "Development
# checks"). mypy checks every cached module against its source's hash, so a cache written
# from another clone or branch is never trusted for a changed file.
MYPY_CACHE ?= $(HOME)/.cache/earlyrisk/mypy
lint: $(STAMP) ## ruff, mypy, and the layering contracts (lint-imports; as .pre-commit-config.yaml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --cache-dir $(MYPY_CACHE)
	PYTHONPATH=. $(BIN)/lint-imports

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the environment and generated data
	rm -rf $(VENV) var mlflow.db mlruns mlartifacts .pytest_cache .mypy_cache
