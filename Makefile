# One virtualenv for everything; it is rebuilt when a requirements file changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv run demo test check test-terraform stress test-fast build deploy destroy clean bench bench-debounce bench-gateway cost plot-debounce

help:
	@echo "make run      - the whole gateway on this machine (moto), see README"
	@echo "make demo     - with make run going: a burst from two senders, then what reached the outbox"
	@echo "make test     - every test: unit, integration, end-to-end, Terraform (includes test-terraform; ~7 min on 2 cores)"
	@echo "make check    - the edit loop: unit, contract and one end-to-end test on moto (under 2 min)"
	@echo "make test-terraform - terraform fmt/init/validate, then apply -> plan -> a message end to end -> destroy on moto"
	@echo "make stress   - 10,000 messages, 500 conversations, 16 senders, faults injected"
	@echo "make bench    - benchmarks that print figures (bench-gateway: calls, delay, imports, bursts; bench-debounce: the debounce policies on typing traces)"
	@echo "make cost     - what the gateway costs per 1M messages, measured on moto and priced"
	@echo "make build    - build/package/ and build/lambda.zip for terraform"
	@echo "make validate - terraform init -backend=false + validate (no build, no AWS credentials)"
	@echo "make deploy   - build, then terraform init + apply"
	@echo "make destroy  - terraform init + destroy (no build needed)"

CHECKOV_VENV := $(VENV)/tools/checkov

$(STAMP): requirements/dev.txt requirements/lambda.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

# checkov pins an old boto3, so it gets a virtualenv of its own; only the tests need it.
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $(CHECKOV_STAMP)

venv: $(STAMP)

# The whole gateway on this machine, AWS emulated by moto in process; GATEWAY_PORT (8080) changes the port.
run: $(STAMP)
	$(PY) -m util.local_gateway

demo: $(STAMP)
	$(PY) util/demo.py

# Everything in tests/, tests/terraform (what test-terraform runs) included, three test files at a
# time (pytest-xdist; a file's tests stay in one worker, in order, so a
# module's fixtures such as the applied Terraform stack are made once). The files are handed out
# longest first (tests/terraform/longest_first.py; --no-loadscope-reorder keeps that order instead
# of xdist's most-tests-first): the Terraform cycle starts at once on one worker, the rest on the others.
# Three workers on two cores: the Terraform cycle mostly waits on the provider's pollers and the e2e
# tests on the state machine's Waits, so a third worker uses CPU that two leave idle (~8 min -> ~6.5).
# The two virtualenvs are made side by side (a fresh clone: ~40 s instead of ~80 s one after the
# other); .venv is made first, as `python -m venv` fails when another makes the folder meanwhile.
test:
	@mkdir -p $(VENV)
	@$(MAKE) -s -j2 $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder

# The edit loop: unit and contract tests, and one burst carried end to end by the real state machine
# on moto (no Terraform, no checkov). `make test` runs everything before a commit.
CHECK_E2E := tests/e2e/test_pipeline_e2e.py::test_a_burst_from_one_sender_reaches_the_app_once_with_the_texts_in_order
check: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests/unit tests/contract $(CHECK_E2E)

# The real terraform and AWS provider (TF_PLUGIN_MIRROR, default /opt/tf-plugins, else the registry;
# TF_CLI_CONFIG_FILE generated into build/): fmt -check -recursive, init -backend=false, validate,
# checkov; then the root applied to moto, planned again (no changes), read back, a webhook burst
# carried end to end, the observability switches flipped and back, destroyed. Fails, never skips,
# without terraform or a provider (~5 min on 2 cores).
test-terraform: $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m pytest -q tests/terraform

# The full stress run (10,000 messages, 500 conversations, 16 senders, faults injected);
# exits non-zero on any lost, duplicated or reordered message. `make test` runs a smaller size.
stress: $(STAMP)
	$(PY) -m tests.stress.harness --messages 10000 --conversations 500 --senders 16

bench: bench-gateway bench-debounce

# webhook-path calls, dispatch delay / quiet period, cold imports, 1,000- vs 100-message bursts (~3 min).
bench-gateway: $(STAMP)
	$(PY) util/bench.py

# $ per 1M messages, STANDARD and EXPRESS beside the original project's pattern (--json key "seed"), from an instrumented run on moto (~1 min).
cost: $(STAMP)
	$(PY) -m util.cost

# Replays synthetic typing traces through the debounce rule (simulated clock, no AWS): the README table.
bench-debounce: $(STAMP)
	$(PY) util/bench_debounce.py

# Redraws docs/adaptive-wait.png from the rule.
plot-debounce: $(STAMP)
	$(PY) util/plot_debounce.py

build: $(STAMP)
	$(PY) util/build.py

# Terraform runs with the CLI config the tests generate (build/terraformrc): the AWS provider from
# the filesystem mirror $(TF_PLUGIN_MIRROR) (default /opt/tf-plugins) when it holds one, else the
# registry. ~/.terraformrc is never touched.
TF := TF_CLI_CONFIG_FILE=$(CURDIR)/build/terraformrc terraform

.PHONY: tf-config validate
tf-config: $(STAMP)
	$(PY) -c 'import sys; sys.path.insert(0, "tests/terraform"); import harness; harness.write_cli_config()'

# terraform init (no backend) + validate: needs no build and no AWS credentials.
validate: tf-config
	$(TF) init -backend=false -input=false
	$(TF) validate

deploy: build tf-config
	$(TF) init -input=false
	$(TF) apply

# Needs no build: works on a fresh clone and after `make clean`.
destroy: tf-config
	$(TF) init -input=false
	$(TF) destroy

clean:
	rm -rf build .pytest_cache .hypothesis
