# matcher: `make demo` solves the shipped sample; `make test` runs the whole suite;
# `make test-fast` the same checks with fewer property-test examples.
# Both create .venv and (re)install the package with its dev extras when pyproject changes.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
DEMO_OUT ?= out/demo

.PHONY: install demo test test-fast lint typecheck unit unit-fast bench bench-quick sample clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "compiling the solver kernels (once) ..."
	$(BIN)/matcher solve instances/tiny --quiet > /dev/null
	$(BIN)/matcher solve instances/tiny --method stable --quiet > /dev/null
	$(BIN)/matcher transfer instances/transfer-tiny --quiet > /dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/matcher validate instances/sample --policy instances/policies/japan-2026.toml
	$(BIN)/matcher solve instances/sample --policy instances/policies/japan-2026.toml --out $(DEMO_OUT)
	$(BIN)/matcher verify instances/sample $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check matcher tests benchmarks
	$(BIN)/ruff format --check matcher tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy matcher

unit: $(STAMP)
	$(BIN)/pytest -q

# Every test with an eighth of the property-test examples: a few minutes, for editing.
unit-fast: $(STAMP)
	MATCHER_TEST_TIER=fast $(BIN)/pytest -q

test-fast: lint typecheck unit-fast

test: lint typecheck unit bench-quick

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick
	$(BIN)/python -m benchmarks.stable --quick
	$(BIN)/python -m benchmarks.transfer --quick
	$(BIN)/python -m benchmarks.core --quick
	$(BIN)/python -m benchmarks.policy --quick
	$(BIN)/python -m benchmarks.quality --quick

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.stable
	$(BIN)/python -m benchmarks.caps
	$(BIN)/python -m benchmarks.transfer
	$(BIN)/python -m benchmarks.core
	$(BIN)/python -m benchmarks.policy
	$(BIN)/python -m benchmarks.quality

# Regenerate the shipped sample (deterministic: same bytes every time).
sample: $(STAMP)
	$(BIN)/matcher generate instances/sample --candidates 2000 --employers 150 --seed 2026 --unlisted-share 0.1 --quiet

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
