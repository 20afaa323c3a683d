# geoplan — two commands on a fresh machine:
#   make demo   create .venv, install geoplan, run the embedded Jinjiang demo study
#   make notebook  install the notebook extra (JupyterLab) and open the notebooks/ folder in it
#   make test   create .venv, install dev dependencies (and, as root, the Debian packages
#               the browser/chart tests need), start the test PostGIS server, lint, run the
#               whole test suite offline
#   make postgis       PostgreSQL 15 + PostGIS 3 + pgRouting (Debian) in .cache/pg, started,
#                      with the database geoplan_test; connect with the service file
#                      PGSERVICEFILE=.cache/pg_service.conf PGSERVICE=geoplan_test
#   make postgis-stop  stop that server

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo notebook test lint bench system-deps postgis postgis-stop clean

# The test database: a private cluster listening only on a Unix socket in its own folder.
PG_BIN     := /usr/lib/postgresql/15/bin
PG_DIR     := $(CURDIR)/.cache/pg
PG_PORT    ?= 5439
PG_DB      := geoplan_test
PG_SERVICE := $(CURDIR)/.cache/pg_service.conf
PG_DEBS    := postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting
# PostgreSQL refuses to run as root: as root, its commands run as the postgres user
PG_AS      := $(if $(filter 0,$(shell id -u)),runuser -u postgres -- env -C /,)

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e .
	touch $@

$(VENV)/.installed-notebook: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[notebook]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages for the tests: headless Chromium and a CJK font for it (browser map tests);
# charts, printed maps and PDFs use the font shipped as a Python dependency.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root or: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

postgis:
	@missing=""; for p in $(PG_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root or: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi
	@mkdir -p "$(CURDIR)/.cache"; dir="$(PG_DIR)"; \
	if [ $${#dir} -gt 80 ] || { [ "$$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(CURDIR)/.cache"; }; then \
	  dir="/var/tmp/geoplan-pg-$$(printf %s "$(CURDIR)" | md5sum | cut -c1-10)"; \
	  echo "the cluster lives in $$dir (the postgres user cannot reach $(PG_DIR), or its socket path is too long)"; \
	fi; \
	if [ ! -f "$$dir/PG_VERSION" ]; then \
	  mkdir -p "$$dir" && chmod 700 "$$dir"; \
	  if [ "$$(id -u)" = 0 ]; then chown postgres: "$$dir"; fi; \
	  $(PG_AS) $(PG_BIN)/initdb -D "$$dir" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null \
	    || { echo "initdb failed in $$dir"; exit 1; }; \
	fi; \
	if ! $(PG_AS) $(PG_BIN)/pg_ctl -D "$$dir" status >/dev/null 2>&1; then \
	  $(PG_AS) $(PG_BIN)/pg_ctl -D "$$dir" -l "$$dir/server.log" -w \
	    -o "-k '$$dir' -c listen_addresses='' -p $(PG_PORT)" start >/dev/null \
	    || { tail -20 "$$dir/server.log"; exit 1; }; \
	fi; \
	psql="env PGOPTIONS=-cclient_min_messages=warning psql -X -q -h $$dir -p $(PG_PORT) -U postgres -v ON_ERROR_STOP=1"; \
	$$psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(PG_DB)'" | grep -q 1 \
	  || $$psql -d postgres -c "CREATE DATABASE $(PG_DB)" || exit 1; \
	$$psql -d $(PG_DB) -c "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pgrouting" || exit 1; \
	printf '[$(PG_DB)]\nhost=%s\nport=$(PG_PORT)\nuser=postgres\ndbname=$(PG_DB)\n' "$$dir" > "$(PG_SERVICE)"; \
	echo "PostGIS test server running: PGSERVICEFILE=$(PG_SERVICE) PGSERVICE=$(PG_DB)"

postgis-stop:
	@if [ -f "$(PG_SERVICE)" ]; then \
	  dir="$$(sed -n 's/^host=//p' "$(PG_SERVICE)")"; \
	  $(PG_AS) $(PG_BIN)/pg_ctl -D "$$dir" -m fast stop || true; \
	fi

demo: $(VENV)/.installed
	$(BIN)/geoplan demo --out $(OUT)

notebook: $(VENV)/.installed-notebook
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check geoplan tests benchmarks data docs
	$(BIN)/lint-imports

test: $(VENV)/.installed-dev system-deps postgis lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: $(VENV)/.installed-dev postgis
	$(BIN)/python benchmarks/bench_access.py
	$(BIN)/python benchmarks/bench_siting.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
