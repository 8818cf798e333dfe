# The two commands a new user needs are `make run` and `make test`; everything else is a step of them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data/dataset.csv
MODEL_DIR ?= models/d7
STAMP := $(VENV)/.installed
EXTRAS := test,notebook,embedded,mlflow,monitor

.PHONY: install run test test-fast lint train tune notebook bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# API + stream worker + rq worker; embedded Redis and SQLite unless REDIS_URL / DATABASE_URL
# are set (python -m ops run --help). Ctrl-C stops everything.
run: install
	$(BIN)/python -m ops run $(RUN_ARGS)

# Every tier (unit, integration, slow): what CI runs.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tier only (in-process, fakes): the inner loop.
test-fast: install
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

train: install
	$(BIN)/python -m scorer train --data $(DATA) --out $(MODEL_DIR)

tune: install
	$(BIN)/python -m scorer tune --data $(DATA) --out models/tuning.csv

notebook: install
	$(BIN)/python notebooks/execute.py

bench: install
	$(BIN)/python bench/predictor_bench.py --model $(MODEL_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
