# geoplan — two commands on a fresh machine:
#   make demo   create .venv, install geoplan, run the embedded Jinjiang demo study
#   make test   create .venv, install dev dependencies (and, as root, the Debian packages
#               the browser/chart tests need), lint, run the whole test suite offline

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test lint bench system-deps clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages for the tests: headless Chromium (map tests) and a CJK font (charts).
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

demo: $(VENV)/.installed
	$(BIN)/geoplan demo --out $(OUT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check geoplan tests benchmarks data
	$(BIN)/lint-imports

test: $(VENV)/.installed-dev system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_access.py
	$(BIN)/python benchmarks/bench_siting.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
