# The two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-long lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) demo.py $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check actors supervisor tests benchmarks demo.py conftest.py

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict actors supervisor

test: lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# The property tests with 20x the examples and fresh random seeds (minutes, not seconds).
test-long: $(VENV)/.installed
	HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/hostile tests/test_saga_properties.py tests/test_saga_machine.py $(PYTEST_ARGS)

bench: $(VENV)/.installed
	taskset -c 0 $(PY) benchmarks/actor_throughput.py
	$(PY) benchmarks/actor_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
