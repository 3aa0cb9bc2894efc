# Carnet: `make run` serves the portal and APIs on http://127.0.0.1:8000, `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run shell test lint typecheck test-sqlite test-postgres bench migrate demo clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  (echo "Carnet needs Python 3.11 or newer" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/carnet migrate
	$(BIN)/carnet demo --if-empty
	$(BIN)/carnet serve --host $(HOST) --port $(PORT)

# `carnet` lives in .venv/bin: a shell with it on the PATH (`exit` to leave).
shell: $(STAMP)
	@echo "carnet is on the PATH of this shell; exit to leave it."
	@PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $${SHELL:-/bin/sh} -i

migrate: $(STAMP)
	$(BIN)/carnet migrate

demo: $(STAMP)
	$(BIN)/carnet demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# The OpenID provider the federated sign-in tests start (npm's oidc-provider, tests/support/oidc.py).
# Without npm those tests are skipped, or fail when CARNET_TEST_REQUIRE_POSTGRES=1 (CI).
OIDC_PROVIDER := tests/support/oidc_provider

$(OIDC_PROVIDER)/node_modules: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "npm is missing: the federated sign-in tests cannot start their OpenID provider" >&2; \
	fi

# pytest exits 5 when it collected no test: that is a broken suite, so it fails the build too.
PYTEST = $(BIN)/python -m pytest -q -n auto; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no test: failing on purpose" >&2; fi; \
	exit $$status

test-sqlite: $(STAMP) $(OIDC_PROVIDER)/node_modules
	CARNET_TEST_DATABASE_URL= $(PYTEST)

# The same suite on PostgreSQL when one answers; CARNET_TEST_REQUIRE_POSTGRES=1 makes its absence fatal.
test-postgres: $(STAMP) $(OIDC_PROVIDER)/node_modules
	@if $(BIN)/python -m carnet.devtools.pgcheck "$(PG_TEST_URL)"; then \
	  CARNET_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/python -m pytest -q -n auto || exit $$?; \
	elif [ "$$CARNET_TEST_REQUIRE_POSTGRES" = "1" ]; then \
	  echo "PostgreSQL is required (CARNET_TEST_REQUIRE_POSTGRES=1) but does not answer at $(PG_TEST_URL)" >&2; exit 1; \
	else \
	  echo "SKIPPED: the PostgreSQL run (no server answers at $(PG_TEST_URL))"; \
	fi

test: lint typecheck test-sqlite test-postgres

$(VENV)/.bench-installed: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# Every figure beside its raw baseline of the same run (docs/performance.md); SECTIONS="reads roster"
# runs some; CARNET_BENCH_PROFILE=DIR adds py-spy profiles of the server under load.
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(SECTIONS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache $(OIDC_PROVIDER)/node_modules
