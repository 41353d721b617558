# Quick start: `make demo`, `make test-fast` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench fuzz compat mutate field clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	bash scripts/demo.sh

# Everything: tests/unit and every integration test (real gcc, pip builds, interpreters).
# A run fails when it changed a file git sees (tests/conftest.py, tests/support/tracked.py).
test: setup lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The unit tier alone (tests/unit): no compiler, no network, no build, under a minute.
test-fast: setup
	$(BIN)/python -m pytest tests/unit

# The compatibility matrix alone (every test file that records a cell: tests/test_matrix_*.py,
# test_plugin_cmdclass.py, test_wrap_backends.py), then docs/compatibility.md from its
# results. A test run only records (.cache/compat/); after `make test`,
# `.venv/bin/python scripts/gen_compat.py` writes the document from that run instead.
COMPAT_TESTS = $(shell grep -l record_compat tests/test_*.py)
compat: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile $(COMPAT_TESTS)
	$(BIN)/python scripts/gen_compat.py

# Speed and memory against the inflate-only floor, auditwheel and readelf; writes
# docs/performance.md (benchmarks/run.py; ~15 minutes with the torch wheel).
bench: setup
	$(BIN)/python -m benchmarks

# Fuzz the ELF reader and the whole check/repair path (fuzz/fuzz_check.py; atheris when
# installed, else a mutation engine). Findings land in .cache/fuzz/{crashes,slow}, totals
# in .cache/fuzz/stats.json. `make test` runs a 30-second smoke of the same harness.
FUZZ_SECONDS ?= 300
fuzz: setup
	$(BIN)/python fuzz/fuzz_check.py --seconds $(FUZZ_SECONDS) --workdir .cache/fuzz

# Break central behaviours one at a time in a copy of the package and run the tests that
# must catch each (scripts/mutate.py); prints a table of caught/survived and the runtime.
mutate: setup
	$(BIN)/python scripts/mutate.py

# The field trial: 40 real PyPI sdists built without/with the plugin/with hostile LDFLAGS,
# 108 real wheels, each installed with its dependencies and imported, mutants of real modules; writes
# docs/field-trial.md (field/run.py, list in field/projects.toml, cache in .cache/field).
field: setup
	apt-get install -y -qq --no-install-recommends $$($(BIN)/python field/run.py --apt-packages) >/dev/null
	nice -n 10 $(BIN)/python field/run.py

# ruff, mypy --strict, and the layer check (scripts/check_layers.py: no upward import, no
# import cycle, CONTRIBUTING.md's Architecture list equal to its table); field/ too.
lint: setup
	$(BIN)/ruff check setuptools_nolibpython field devtools
	$(BIN)/mypy
	$(BIN)/mypy field devtools
	$(BIN)/python scripts/check_layers.py

clean:
	rm -rf $(VENV) build dist .cache *.egg-info sample_project/build
