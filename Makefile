# `make test` and `make demo` work on a fresh machine: they create .venv and install
# everything.  torch is pinned to the CPU wheel 2.13.0 *before* the package, because
# an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: test test-fast demo faithfulness lint typecheck bench browser clean

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

# The HTML report's tests (tests/test_html_report.py) drive Debian's chromium through
# Playwright (no browser download): installed here when missing, as root on Debian;
# elsewhere install it yourself, or those tests are skipped with a note.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
	  else echo "make: no chromium (Debian: apt-get install chromium); the HTML report's browser tests are skipped" >&2; fi; }

# pytest exits 5 when it collected no test: that must fail loudly, never pass.
test: $(STAMP) browser lint typecheck
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED - pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# the edit loop: everything but the slow end-to-end tests (lm-eval runs, training); CI runs `make test`
test-fast: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: FAILED - pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# pinned before torch is imported: the AVX2 code paths of ATen and MKL (the same on every
# x86-64 CPU with AVX2, whichever wider ISA it has); DEMO_ARGS=--write-docs refreshes docs/
DEMO_ENV = ATEN_CPU_CAPABILITY=$${ATEN_CPU_CAPABILITY:-avx2} MKL_CBWR=$${MKL_CBWR:-AVX2} OMP_NUM_THREADS=2
# The demo is the study of the shipped tiny config (trains, monitors, evaluates, writes demo_out/
# with its tables, figures and report.html), then the demo's summary of it (parser samples,
# the table, the collapse curves' signature check; DEMO_ARGS=--write-docs copies it to docs/).
# demo_out/ is the cache: a second run only re-reads it (rm -rf demo_out for a cold run).
demo: $(STAMP)
	$(DEMO_ENV) $(BIN)/tracecollapse study studies/tiny_cpu.yaml
	$(DEMO_ENV) $(BIN)/python -m lm_eval_tracecollapse.demo $(DEMO_ARGS)

# faithfulness probes of the demo's checkpoints (runs `make demo` first when they are missing)
faithfulness: $(STAMP)
	@test -f demo_out/report.html || $(MAKE) demo
	$(DEMO_ENV) $(BIN)/python -m lm_eval_tracecollapse.demo.faithfulness

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
