# mmbench: the README's commands. Both create .venv and install what they need from nothing.
#   make bench   the default comparison (SQLite + every engine that can be started here)
#   make test    unit + conformance + engine smoke tests against real engines

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: bench test install engines-up engines-down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Start every engine, run the tests, and stop the engines again, also when tests fail.
test: $(STAMP)
	@status=0; \
	$(BIN)/mmbench up || status=$$?; \
	if [ $$status -eq 0 ]; then $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; fi; \
	$(BIN)/mmbench down || true; \
	exit $$status

# Start what can be started (saying what could not, and why), then run the default comparison:
# seed + synthetic scale 1, every query, sqlite + every engine that answers; prints the table,
# writes results/<timestamp>-<id>.json and the HTML report next to it.
BENCH_ARGS ?=
bench: $(STAMP)
	-@$(BIN)/mmbench up
	$(BIN)/mmbench run --out results --html $(BENCH_ARGS)

engines-up: $(STAMP)
	$(BIN)/mmbench up

engines-down: $(STAMP)
	$(BIN)/mmbench down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
