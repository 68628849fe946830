# The two set-up commands of the README:
#   make demo   build the venv and run `quotad demo` (SQLite + a simulated programme)
#   make test   build the venv, start the test services, run lint, types and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint venv bench clean fuzz rehearse

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quotad demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP)
	deploy/dev/test-services
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

# The property-based fuzz tests with the long, freshly random profile (`make test` runs them with the short,
# fixed-seed "ci" profile); see tests/fuzz_profiles.py.
fuzz: $(STAMP)
	deploy/dev/test-services
	HYPOTHESIS_PROFILE=fuzz QUOTAD_FUZZ_PROFILE=fuzz $(BIN)/pytest -m fuzz -p no:cacheprovider

# Only the wheel build and the deployment rehearsal (deploy/README.md, "The rehearsal"); `make test` runs them too.
rehearse: $(STAMP)
	deploy/dev/test-services
	$(BIN)/pytest -m deploy tests/deploy

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
