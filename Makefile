# Everything sets itself up: a fresh Debian 12 machine as root needs nothing prepared.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := postgresql mosquitto libzbar0 tesseract-ocr-eng fonts-ocr-b fonts-noto-cjk chromium
EXTRAS := edge,hub,dashboards,dev
PYTEST_ARGS ?=

.PHONY: test lint typecheck system-packages venv demo dashboards clean

test: system-packages venv lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

# Installs only what is missing, so a warm run costs one dpkg query.
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

demo: system-packages venv
	$(BIN)/python -m provisioning.demo

# Renders dashboards/*.dashboard.py and the provisioning files; the results are committed.
dashboards: venv
	$(BIN)/vrs-provision grafana --out provisioning/grafana --sources dashboards

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
