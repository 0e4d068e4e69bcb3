# The two commands of the README:
#   make demo   set everything up, simulate the default night and run the workflow on it
#   make test   set everything up and run the test suite
# `make setup` alone is idempotent and takes a second when nothing changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := wsclean aoflagger
TEST_APT_PACKAGES := chromium  # tests/workflow/test_report.py opens the report in it (headless)
SNAKEMAKE := $(BIN)/snakemake
PYTEST_ARGS ?=

.PHONY: setup apt test-apt demo test browse lock clean-demo

setup: apt $(VENV)/.setup-stamp

# Debian packages: checked every time (a few ms), installed when missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing; \
	fi
endef

apt:
	$(call apt_install,$(APT_PACKAGES),)

test-apt:
	$(call apt_install,$(TEST_APT_PACKAGES),--no-install-recommends)

# The virtual environment, from the pinned lock file, plus this package (editable).
$(VENV)/.setup-stamp: requirements.lock pyproject.toml config/casasiteconfig.py contimg/casa_setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m contimg.casa_setup config/config.yaml
	@touch $@

demo: setup
	$(SNAKEMAKE) inventory
	$(SNAKEMAKE)

# Both cores: pytest-xdist, a module per worker at a time (module fixtures built once);
# session work areas are built once and shared (tests/README.md). The 15 slowest are listed.
test: setup test-apt
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)

# The demo's products index in a web browser: http://127.0.0.1:8001/products (Ctrl-C stops it).
browse: setup
	$(BIN)/contimg-browse --db work/products.sqlite

# Re-pin every dependency from requirements.in (needs the package registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r requirements.in
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean-demo:
	rm -rf work .snakemake
