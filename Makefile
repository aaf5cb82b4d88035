# The two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What is type-checked and linted; examples/ is not installed, but held to the same bar.
CODE := actors supervisor stanchion examples

.PHONY: demo test test-long lint typecheck bench clean

# A .venv left by another Python (another version, or one since removed) cannot be
# used: ours (it has the .installed stamp) is rebuilt; any other is left to the user.
want_version := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv_version := $(if $(wildcard $(VENV)),$(or $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null),gone))
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),demo)),)
ifneq ($(venv_version),)
ifneq ($(venv_version),$(want_version))
ifneq ($(wildcard $(VENV)/.installed),)
$(info .venv was made by Python $(venv_version), not $(PYTHON) ($(want_version)): rebuilding it)
$(shell rm -rf $(VENV))
else
$(error .venv was made by Python $(venv_version), not $(PYTHON) ($(want_version)), and not by this Makefile: run `make clean` (it removes .venv), then make again)
endif
endif
endif
endif

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The demo's terminal view needs `rich`, the demo extra (dev includes it).
$(VENV)/.demo: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $@

demo: $(VENV)/.demo
	$(PY) demo.py $(ARGS)

# ruff, and the layers of docs/architecture.md (import-linter: [tool.importlinter]).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(CODE) tests benchmarks demo.py conftest.py
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict $(CODE)

test: lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# The property tests with 20x the examples and fresh random seeds (minutes, not seconds).
test-long: $(VENV)/.installed
	HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/hostile tests/saga/test_saga_properties.py tests/saga/test_saga_machine.py $(PYTEST_ARGS)

bench: $(VENV)/.installed
	taskset -c 0 $(PY) benchmarks/core.py
	$(PY) benchmarks/core.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
