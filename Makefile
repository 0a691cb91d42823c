# Two commands set up a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pasarela demo

# The suite, then its unit, contract and end-to-end parts again with the calendar 400 days ahead:
# a test that passes only around the day it was written fails here on that day.
SHIFTED := tests/unit tests/contract tests/e2e
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider
	$(BIN)/python tests/shifted_clock.py --days 400 -q -p no:cacheprovider $(SHIFTED)

# the PostgreSQL soaks (1, 2 and 3 gateway processes) need a server: PASARELA_TEST_PG_URL, as in .ci/run
soak: $(STAMP)
	PASARELA_SOAK=full PASARELA_TEST_PG_URL=$${PASARELA_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/pytest -q -p no:cacheprovider tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/canonical.py

clean:
	rm -rf $(VENV) build *.egg-info
