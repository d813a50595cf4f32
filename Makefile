# mmbench: the README's commands. Both create .venv and install what they need from nothing.
#   make bench   the default comparison (SQLite + every engine that can be started here)
#   make test    unit + conformance + engine smoke tests against real engines

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: bench test install engines-up engines-down clean package-check

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The package as a user installs it: build the wheel, install it into a fresh virtual
# environment WITHOUT extras (the CLI must work), then with the sql extra (a seed query on SQLite).
PKG := build/package-check
package-check: $(STAMP)
	rm -rf $(PKG) build/lib build/bdist.* && mkdir -p $(PKG)
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(PKG)/dist .
	$(PYTHON) -m venv $(PKG)/venv
	$(PKG)/venv/bin/pip install --quiet $(PKG)/dist/mmbench-*.whl
	$(PKG)/venv/bin/mmbench --version
	$(PKG)/venv/bin/mmbench --help > /dev/null
	$(PKG)/venv/bin/mmbench queries > /dev/null
	cd $(PKG) && ! venv/bin/python -c "import tests" 2>/dev/null  # the wheel ships no test packages
	cd $(PKG) && ! venv/bin/python -c "import benchmarks" 2>/dev/null
	$(PKG)/venv/bin/pip install --quiet "$$(ls $(PKG)/dist/mmbench-*.whl)[sql]"
	cd $(PKG) && MMBENCH_RUNTIME=$(CURDIR)/$(PKG)/state venv/bin/mmbench query variants_by_chromosome \
		--backend sqlite --dataset seed -p chromosome=4 --json | grep -q '"variant_id": "8"'
	@echo "package-check: the wheel installs and works without extras and with [sql]"

# Check the package, start every engine, run the tests, and stop the engines again, also when tests fail.
test: $(STAMP) package-check
	@status=0; \
	$(BIN)/mmbench up || status=$$?; \
	if [ $$status -eq 0 ]; then \
		$(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
		echo "conformance again on the second local DynamoDB emulator (moto)"; \
		MMBENCH_DYNAMODB_ENGINE=moto MMBENCH_TEST_BACKENDS=dynamodb MMBENCH_TEST_NAMESPACE=test_moto \
			$(BIN)/python -m pytest tests/conformance $(PYTEST_ARGS) || status=$$?; \
	fi; \
	$(BIN)/mmbench down || true; \
	exit $$status

# Start what can be started (saying what could not, and why), then run the default comparison:
# seed + synthetic scale 1, every query, sqlite + every engine that answers; prints the table,
# writes results/<timestamp>-<id>.json and the HTML report next to it.
BENCH_ARGS ?=
bench: $(STAMP)
	-@$(BIN)/mmbench up
	$(BIN)/mmbench run --out results --html --repeat 3 $(BENCH_ARGS)

engines-up: $(STAMP)
	$(BIN)/mmbench up

engines-down: $(STAMP)
	$(BIN)/mmbench down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
