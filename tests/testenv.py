"""Constants and helpers several test files share (registered as ``testenv`` by
``conftest.py``): the repository root and the environment of a subprocess that must
not reach the model or dataset hub."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: no hub at run time: lm-eval, datasets and transformers stay offline
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def offline_env(**extra: str | Path) -> dict[str, str]:
    """``os.environ`` with :data:`OFFLINE` and ``extra`` (e.g. ``TRACECOLLAPSE_CACHE=tmp / "cache"``)."""
    return {**os.environ, **OFFLINE, **{k: str(v) for k, v in extra.items()}}
