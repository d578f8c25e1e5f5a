"""Test helpers importable by name: pytest's importlib mode puts no test folder on
``sys.path``, so ``tests/offline_hub.py`` is registered here, once, as ``offline_hub``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "offline_hub" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("offline_hub", Path(__file__).with_name("offline_hub.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["offline_hub"] = _module
    _spec.loader.exec_module(_module)
