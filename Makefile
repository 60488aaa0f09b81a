# npdrop: `make conformance` (the main job) and `make test` (every test) do all their own set-up.
#
# They build a virtual environment in $(VENV) from a bare Python, install torch (the CPU
# build) unless the environment already has torch >= $(TORCH_MIN), then npdrop with its extras.
# Point VENV at an existing environment to test there: a newer torch in it is kept as it is.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
TORCH_MIN   ?= 2.1
# torch is installed at this version from a wheel on local disk that pip's own configuration
# finds (--find-links), else from PyTorch's CPU wheel index (TORCH_INDEX) with pip's own
# configured index for its dependencies; never as an unpinned `torch`, which resolves to a
# multi-GB CUDA build.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP       := $(VENV)/.npdrop-installed
# pip would compile every module it installs to bytecode (about half of the install's time);
# Python compiles a module the first time it is imported instead, and only the ones imported
NO_COMPILE  := --no-compile
PYTEST      := $(PY) -m pytest

.PHONY: conformance test test-core bench frameworks clean help

help:
	@echo "make conformance   set up, then run the conformance suite against torch (pytest conformance/)"
	@echo "make test          set up, then run every test (tests/, conformance/, benchmarks/ without timing)"
	@echo "make bench         run the benchmarks for real: benchmarks/latest.json, its tables and latest.png"
	@echo "make frameworks    the suite on other libraries' own dropout (torch, jax, flax, equinox, haiku, keras, thinc,"
	@echo "                   tinygrad, MLX, Paddle, which it installs; TensorFlow where installed): frameworks/table.md"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml Makefile
	@if $(PY) -c "import sys, torch; v = tuple(int(n) for n in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < tuple(int(n) for n in '$(TORCH_MIN)'.split('.')))" 2>/dev/null; then \
		echo "using the installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif $(PY) -m pip download --quiet --no-deps --no-index --dest $(VENV)/.torch-wheel "$(TORCH_SPEC)" >/dev/null 2>&1; then \
		echo "installing $(TORCH_SPEC) from the wheel on local disk: $$(ls $(VENV)/.torch-wheel)"; \
		$(PY) -m pip install $(NO_COMPILE) $(VENV)/.torch-wheel/*.whl && rm -rf $(VENV)/.torch-wheel; \
	else \
		echo "installing $(TORCH_SPEC), CPU build, from $(TORCH_INDEX)"; \
		$(PY) -m pip install $(NO_COMPILE) "$(TORCH_SPEC)" --extra-index-url $(TORCH_INDEX); \
	fi
	$(PY) -m pip install $(NO_COMPILE) -e ".[dev]"
	@touch $(STAMP)

# Python's bytecode cache (__pycache__, git-ignored) is written during the tests even where
# PYTHONDONTWRITEBYTECODE is set: the many pytest processes the tests start would each
# compile the suite again and rewrite its asserts again (about 2.5 s of CPU each).
conformance test test-core: export PYTHONDONTWRITEBYTECODE =

conformance: $(STAMP)
	$(PYTEST) conformance/

# one pytest run per suite, then a summary of the three: its last lines; the exit status is
# the first failing suite's, else the summary's. Each suite runs on $(JOBS) pytest-xdist
# workers, a test file on one worker (--dist loadfile): a module's tests that share one
# costly set-up (the gallery's runs, an install) run it once. JOBS=0: no workers.
JOBS        ?= 2
XDIST       := $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadfile)
test: $(STAMP)
	@rm -rf .test-results; status=0; \
	for suite in tests conformance benchmarks; do \
		echo "== $(PYTEST) $$suite/ $(XDIST)"; \
		$(PYTEST) $$suite/ $(XDIST) --benchmark-disable --junitxml=.test-results/$$suite.xml || { rc=$$?; [ $$status -ne 0 ] || status=$$rc; }; \
	done; \
	$(PY) scripts/test_summary.py .test-results/tests.xml .test-results/conformance.xml .test-results/benchmarks.xml \
		|| { rc=$$?; [ $$status -ne 0 ] || status=$$rc; }; \
	exit $$status

test-core: $(STAMP)
	$(PYTEST) tests/

bench: $(STAMP)
	$(PYTEST) benchmarks/ --benchmark-only --benchmark-json=benchmarks/latest.json
	$(PY) benchmarks/plot.py benchmarks/latest.json benchmarks/latest.png

# PaddlePaddle and tinygrad (the `table` extra: large, or slow to run) only for the table,
# installed here once
TABLE_STAMP := $(VENV)/.npdrop-table-installed
$(TABLE_STAMP): $(STAMP)
	$(PY) -m pip install $(NO_COMPILE) -e ".[table]"
	@touch $(TABLE_STAMP)

frameworks: $(STAMP) $(TABLE_STAMP)
	$(PY) frameworks/table.py frameworks/table.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks .test-results benchmarks/latest.json benchmarks/latest.png
