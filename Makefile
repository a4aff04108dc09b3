# Two commands matter: `make demo` and `make test`. Both set themselves up from a clean clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# No AWS account is needed for anything here: the tools only need a region and no telemetry.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export POWERTOOLS_DEV ?= false

.PHONY: venv test coverage test-long lint typecheck security template-check build unit integration e2e demo up demo-payments demo-stream bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# bandit: fails on any medium or high finding in shipped code, operator tools and benchmarks.
security: venv
	$(BIN)/bandit --quiet --recursive --severity-level medium functions layers/common/python/sluice_common scripts benchmarks

typecheck: venv
	$(BIN)/mypy functions/process_object functions/plan_batch functions/drain_lease \
		functions/execution_alert functions/alert_notifier functions/splunk_forwarder functions/metrics_sync \
		functions/validate_payment functions/process_payment functions/enrich_payment functions/process_stream \
		layers/common/python scripts/sluice_local scripts/sluice_ops scripts/sar_template.py

template-check: venv $(CHECKOV_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template-file template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	# checkov drops resources whose Condition is false with the defaults: scan all parts on too.
	$(BIN)/python tests/template/all_on_template.py .checkov/template-all-on.json
	$(CHECKOV_VENV)/bin/checkov --file .checkov/template-all-on.json --framework cloudformation --compact --quiet --skip-download

# checkov pins an older boto3 than aws-sam-cli: it gets a venv of its own.
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

build: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build --template-file template.yaml --build-dir .aws-sam/build

unit: venv
	$(BIN)/pytest tests/unit tests/template

# sam build runs inside pytest (tests/template/test_build.py), which also checks what it built.
# Two workers (the machines have two cores), one test file per worker at a time: module-scoped
# deployments stay in one process. The slowest tests are listed, to keep the run under budget.
# No coverage here: its tracer runs in every thread of the in-process emulator (measured: +18 %
# wall time on the e2e files) and starves the real-second downstream timeouts the e2e tests
# keep; `make coverage` gives the report.
PYTEST_ALL := $(BIN)/pytest -n 2 --dist loadfile -m "not slow"

test: lint typecheck security template-check
	$(PYTEST_ALL) --durations=15

coverage: venv
	$(PYTEST_ALL) --cov --cov-report=term-missing:skip-covered

# The property tests at 10,000 generated cases each (make test runs 150 each), with statistics.
test-long: venv
	SLUICE_HYPOTHESIS_PROFILE=long $(BIN)/pytest -p no:cacheprovider --hypothesis-show-statistics \
		tests/unit/process_object/test_parsing_properties.py tests/unit/plan_batch/test_batch_properties.py

demo: venv
	$(BIN)/sluice-local demo

# The stack served on http://127.0.0.1:4566 until Ctrl-C, for aws, boto3 and sluice (README "Operate").
up: venv
	$(BIN)/sluice-local up

# The payment events pipeline (EnablePaymentPipeline=true) end to end, locally.
demo-payments: venv
	$(BIN)/sluice-local payments

# The stream pipeline (EnableStreamPipeline=true) end to end, locally.
demo-stream: venv
	$(BIN)/sluice-local stream

# Each script prints its figures (README "Measured"); together they take about 25 minutes.
bench: venv
	$(BIN)/python benchmarks/handler_memory.py
	$(BIN)/python benchmarks/handler_speed.py
	$(BIN)/python benchmarks/local_run.py
	$(BIN)/python benchmarks/cost_model.py
	$(BIN)/python benchmarks/payment_throughput.py
	$(BIN)/python benchmarks/stream_throughput.py
	$(BIN)/python benchmarks/bound.py
	$(BIN)/python benchmarks/bound.py --latency-ms 200
	$(BIN)/python benchmarks/seed_pace.py
	$(BIN)/python benchmarks/large_object.py
	$(BIN)/python benchmarks/large_object.py --gzip
	$(BIN)/python benchmarks/large_object.py --memory
	$(BIN)/python benchmarks/cost_model.py --pipeline rows
	$(BIN)/python benchmarks/fault_injection.py

clean:
	rm -rf .aws-sam .checkov .pytest_cache .mypy_cache .ruff_cache .coverage
