# `make test` and `make demo` work on a fresh machine: they create .venv and install
# everything.  torch is pinned to the CPU wheel 2.13.0 *before* the package, because
# an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: test demo faithfulness lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.cfg
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check lm_eval_tracecollapse tests benchmarks
	$(BIN)/ruff format --check lm_eval_tracecollapse tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that must fail loudly, never pass.
test: $(STAMP) lint typecheck
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED - pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

demo: $(STAMP)
	DEMO_SIZE=$${DEMO_SIZE:-small} $(BIN)/python -m lm_eval_tracecollapse.demo

# faithfulness probes of the demo's checkpoints (runs `make demo` first when they are missing)
faithfulness: $(STAMP)
	@test -d demo_out/checkpoints/$${DEMO_SIZE:-small} || $(MAKE) demo
	$(BIN)/python -m lm_eval_tracecollapse.demo.faithfulness --size $${DEMO_SIZE:-small}

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
