# The two commands of the README: `make run` and `make test`. Both create .venv from the pinned
# files when it is missing (or when the pinned files changed), then run inside it.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: run test install smoke viz mlflow-ui clean-data

$(VENV)/.installed: requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-lock.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/kedro run $(ARGS)
	@echo "Leaderboard: data/08_reporting/leaderboard.md  (report: data/08_reporting/report.html)"

smoke: install
	$(BIN)/kedro run --env=smoke $(ARGS)

test: install
	$(BIN)/python -m pytest $(ARGS)

viz: install
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1

# The MLflow UI of one environment: `make mlflow-ui` (mlflow.db), `make mlflow-ui ENV=smoke` (mlflow_smoke.db).
# One uvicorn worker and no job runner (the GenAI jobs this project does not use): 3 processes instead of 16.
mlflow-ui: install
	PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_WORKERS=1 MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	  $(BIN)/kedro mlflow ui --env=$(or $(ENV),local)
