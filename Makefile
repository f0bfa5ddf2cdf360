# The three commands of the README:
#   make run    runs the exporter on its embedded default config (libvirt test:///default)
#   make demo   exporter, Prometheus and Alertmanager on loopback with the shipped alerts
#   make test   installs what the tests need (as root, Debian 12) and runs lint, types and tests
PY := .venv/bin/python
LINT_PATHS := $(wildcard exporter harness tests benchmarks dashboards alerts)
ARGS ?=

.PHONY: run demo test lint unit venv bench dashboards render constraints

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

# The quick loop: under a minute, starts no peer (tests that start one are marked slow).
unit:
	$(PY) -m pytest -m "not slow" --hypothesis-profile=quick $(PYTEST_ARGS)

bench:
	$(PY) -m benchmarks.run

# Regenerates what is rendered from sources (the tests fail while a committed copy is stale):
# alerts/hypervisor.rules.yaml from alerts/src/ and the table alerts/thresholds.yaml,
# dashboards/*.json from dashboards/src (Grafana's foundation SDK, test extras), and their
# copies in the Helm chart's files/.
render:
	$(PY) scripts/render-rules.py -o alerts/hypervisor.rules.yaml
	$(PY) -m dashboards.src.build
	$(PY) scripts/sync-chart-files.py

dashboards: render

# Re-pins constraints.txt to what pip resolves for pyproject.toml today (see the script).
constraints:
	scripts/freeze-constraints.sh
