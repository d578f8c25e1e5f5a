"""Test helpers importable by name: pytest's importlib mode puts no test folder on
``sys.path``, so ``tests/offline_hub.py``, ``tests/testenv.py`` (the repository root
and the offline environment several files share) and ``tests/real_templates.py`` (real
chat templates with their tokenizers) are registered here, once, by name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

for _name in ("offline_hub", "testenv", "real_templates"):
    if _name not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(f"{_name}.py"))
        assert _spec is not None and _spec.loader is not None
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _module
        _spec.loader.exec_module(_module)
