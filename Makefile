# Everything sets itself up: a fresh Debian 12 machine as root needs nothing prepared.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# gcc, libc6-dev and python3-dev build the hub's one C extension (hub/files/resident_block.c).
APT_PACKAGES := postgresql mosquitto libzbar0 tesseract-ocr-eng fonts-ocr-b fonts-noto-cjk chromium gcc libc6-dev python3-dev
EXTRAS := edge,hub,dashboards,dev
PYTEST_ARGS ?=
DEMO_ARGS ?=
# Every Python package of the hub and the tests, pinned with hashes (x86_64 Linux, Python 3.11); `make lock`.
LOCK := requirements.lock
FUZZ_SECONDS ?= 120
FUZZ_EXAMPLES ?= 20000
FUZZ_TARGETS := voucher batch jws ack csv date certificate mqtt

.PHONY: test lint typecheck system-packages venv demo dashboards clean audit fuzz lock

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

# The locked versions first (hash-checked), then the project itself, which builds its C extension in place;
# the last line only adds what pyproject.toml gained since the lock was made (run `make lock` to pin it too).
$(VENV)/.installed: pyproject.toml hub/files/resident_block.c $(LOCK)
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

# Re-pin every dependency (newest versions pyproject.toml allows) with hashes; commit the result.
lock:
	test -x $(BIN)/pip-compile || $(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --allow-unsafe --extra $(EXTRAS) --generate-hashes --no-emit-index-url \
	    --no-emit-find-links --strip-extras -o $(LOCK) pyproject.toml

# Known vulnerabilities (PyPI advisory database) in the locked versions: fails on any, and (--strict) when a
# locked package could not be looked up at all, so an audit that saw nothing never passes.
audit: venv
	$(BIN)/pip-audit --requirement $(LOCK) --require-hashes --disable-pip --strict --progress-spinner off

# Coverage-guided fuzzing (atheris) of each parser for FUZZ_SECONDS, then the property tests of tests/fuzz
# with FUZZ_EXAMPLES examples each. Findings land in .fuzz/ (crash-*, timeout-*).
fuzz: venv
	mkdir -p .fuzz
	if $(BIN)/python -c 'import atheris' 2>/dev/null; then \
	    for t in $(FUZZ_TARGETS); do \
	        mkdir -p .fuzz/corpus/$$t; \
	        echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	        $(BIN)/python -m tests.fuzz.run_atheris $$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	            -rss_limit_mb=2048 -artifact_prefix=.fuzz/ .fuzz/corpus/$$t 2>.fuzz/$$t.log \
	            || { tail -40 .fuzz/$$t.log; exit 1; }; \
	        grep -h DONE .fuzz/$$t.log; \
	    done; \
	else echo "atheris is not available on this platform: property tests only"; fi
	VRS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -q -p no:cacheprovider

demo: system-packages venv
	$(BIN)/python -m provisioning.demo $(DEMO_ARGS)

# Renders dashboards/*.dashboard.py and the provisioning files; the results are committed.
dashboards: venv
	$(BIN)/vrs-provision grafana --out provisioning/grafana --sources dashboards

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build hub/files/*.so
