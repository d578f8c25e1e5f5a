"""Test helpers importable by name: pytest's importlib mode puts no test folder on
``sys.path``, so ``tests/offline_hub.py``, ``tests/testenv.py`` (the repository root
and the offline environment several files share) and ``tests/real_templates.py`` (real
chat templates with their tokenizers) are registered here, once, by name."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

for _name in ("offline_hub", "testenv", "real_templates"):
    if _name not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(f"{_name}.py"))
        assert _spec is not None and _spec.loader is not None
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _module
        _spec.loader.exec_module(_module)

# Under pytest-xdist (`make test` runs `-n auto`), each worker gets its share of the cores:
# a torch or OpenMP pool as wide as the machine in every worker oversubscribes it, and
# OpenMP's spinning threads then slow both workers several-fold.  Subprocesses inherit it.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))
    if "torch" in sys.modules:  # imported before this file: set its pool directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


#: test files that run for minutes on one worker: collected first, so pytest-xdist hands each
#: to a worker at the start rather than last (with --dist loadfile a file stays on one worker,
#: and one started late ends the run alone)
LONG_FIRST = ("test_engines_live.py",)


def pytest_collection_modifyitems(items: list) -> None:
    items.sort(key=lambda item: item.path.name not in LONG_FIRST)  # stable: the rest keep their order
