# The two commands of the README:
#   make run    runs the exporter on its embedded default config (libvirt test:///default)
#   make demo   exporter, Prometheus and Alertmanager on loopback with the shipped alerts
#   make test   installs what the tests need (as root, Debian 12) and runs lint, types and tests
PY := .venv/bin/python
LINT_PATHS := $(wildcard exporter harness tests benchmarks dashboards)
ARGS ?=

.PHONY: run demo test lint unit venv bench dashboards constraints

venv:
	scripts/bootstrap.sh run

run: venv
	.venv/bin/hypervisor-exporter $(ARGS)

demo: venv
	scripts/demo.sh $(ARGS)

test:
	scripts/install-test-deps.sh
	$(MAKE) lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy

unit:
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench:
	$(PY) -m benchmarks.run

# Regenerates dashboards/*.json from dashboards/src (Grafana's foundation SDK, test extras).
dashboards:
	$(PY) -m dashboards.src.build

# Re-pins constraints.txt to what pip resolves for pyproject.toml today (see the script).
constraints:
	scripts/freeze-constraints.sh
