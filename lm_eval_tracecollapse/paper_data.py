"""The paper's evaluation sets, shipped with the package (CC-BY 4.0, see data/ATTRIBUTION.md).

Used by ``task_yamls/paper/*.yaml`` as lm-eval ``custom_dataset`` hooks, so no
dataset hub is contacted.  ``data_file`` (from the task's ``dataset_kwargs`` or
``--metadata``) points a task at a file of your own with the same keys.

Example:
    >>> ds = gsm8k_256()
    >>> len(ds["test"]), sorted(ds["test"].column_names)
    (256, ['answer', 'prompt'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

from .samples.jsonl import iter_jsonl

__all__ = ["DATA_DIR", "chemistry_256", "evalplus", "gsm8k_256", "load_jsonl_dataset"]

DATA_DIR = Path(__file__).parent / "data"


def load_jsonl_dataset(path: str | Path, required: tuple[str, ...] = ("prompt", "answer")) -> datasets.DatasetDict:
    """A ``DatasetDict`` with one ``test`` split from a JSONL file, keys checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    rows = []
    for no, row in iter_jsonl(path, "dataset"):
        missing = [k for k in required if k not in row]
        if missing:
            raise ValueError(f"dataset: {path}:{no}: missing key(s) {missing}; each line needs {list(required)}")
        rows.append({k: row[k] if isinstance(row[k], str) else json.dumps(row[k]) for k in row})
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def _dataset(default: str, data_file: str | None) -> datasets.DatasetDict:
    return load_jsonl_dataset(data_file or DATA_DIR / default)


def gsm8k_256(data_file: str | None = None, **_: Any) -> datasets.DatasetDict:
    """The paper's 256 GSM8K test questions (``prompt``, ``answer``)."""
    return _dataset("gsm8k_256.jsonl", data_file)


def chemistry_256(data_file: str | None = None, **_: Any) -> datasets.DatasetDict:
    """The paper's 256 SciKnowEval Chemistry L-3 questions (``prompt`` with A–D, ``answer``)."""
    return _dataset("chemistry_256.jsonl", data_file)


def evalplus(data_file: str | None = None, **_: Any) -> datasets.DatasetDict:
    """A code set of the paper's evalplus_256 shape (``prompt``, ``entry_point``,
    ``test_code``), which we cannot ship: pass ``--metadata '{"data_file": "…"}'``."""
    if not data_file:
        raise ValueError(
            "tc_evalplus needs your JSONL file of {prompt, entry_point, test_code} problems: "
            'add --metadata \'{"data_file": "/path/to/evalplus_256.jsonl"}\''
        )
    return load_jsonl_dataset(data_file, required=("prompt", "entry_point", "test_code"))
