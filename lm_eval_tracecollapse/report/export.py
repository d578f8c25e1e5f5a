"""``analyze --json`` and ``compare --json``: what the commands print, as JSON-ready data.

Every number is the one the text shows (unrounded); N/A is ``null`` (JSON has no NaN), an
interval ``[lo, hi]``.  The runs the command read come first, as on stderr.

Example:
    >>> from .summary import Estimate, TaskSummary
    >>> e = Estimate(0.5, 0.2, 0.8, 8)
    >>> s = TaskSummary("ckpt", "gsm8k", 8, {k: e for k in ("valid", "empty", "missing", "truncated", "answer")},
    ...                 e, None, 12.0, "exact_match")
    >>> row = summaries_json([s])[0]
    >>> row["run"], row["rates"]["valid_rate"], row["rpass@1"]
    ('ckpt', {'value': 0.5, 'ci': [0.2, 0.8], 'n': 8}, None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..samples.runs import Run
from .changes import RowChange
from .stats import Estimate
from .summary import Comparison, TaskSummary

__all__ = ["comparisons_json", "runs_json", "summaries_json", "write_json"]


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _estimate(e: Estimate | None) -> dict[str, Any] | None:
    if e is None or math.isnan(e.value):
        return None
    return {"value": e.value, "ci": [_num(e.lo), _num(e.hi)], "n": e.n}


def runs_json(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The runs read: name, folder, tasks (and each task's files, newest first)."""
    return [{"name": r.name, "folder": str(r.folder),
             "tasks": {s.task: [str(f) for f in s.files] for s in r.sets}} for r in runs]  # fmt: skip


def summaries_json(summaries: Sequence[TaskSummary]) -> list[dict[str, Any]]:
    """``analyze``'s blocks: one per run, task and filter pipeline (``at_k``: the @k rows, with repeats)."""
    return [
        {
            "run": s.run,
            "task": s.task,
            "pipeline": s.pipeline,
            "documents": s.n,
            "responses": s.responses or s.n,
            "correctness_from": s.correct_source,
            "pass@1": _estimate(s.pass_at_1),
            "rpass@1": _estimate(s.rpass_at_1),
            "rates": {f"{k}_rate": _estimate(v) for k, v in s.rates.items()},
            "mean_trace_chars": s.mean_trace_chars,
            "mean_trace_tokens": s.mean_trace_tokens,
            "extra": {k: _estimate(v) for k, v in s.kinds.items()},
            **({"at_k": {k: _estimate(v) for k, v in s.at_k.items()}} if s.at_k else {}),
        }
        for s in summaries
    ]


def _row(r: RowChange) -> dict[str, Any]:
    delta = r.delta
    return {"metric": r.metric, "label": r.label, "base": _num(r.base), "new": _num(r.new), "delta": _num(delta),
            "ci": [_num(r.lo), _num(r.hi)] if delta is not None else None, "p": _num(r.p),
            "test": r.test if r.p is not None else None}  # fmt: skip


def comparisons_json(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """``compare``'s blocks: per task and pipeline, every row and the transition matrix."""
    return [{"task": c.task, "pipeline": c.pipeline, "paired_documents": c.pairs,
             "rows": [_row(r) for r in c.changes.values()], "transitions": c.transitions}
            for c in comparisons]  # fmt: skip


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON at ``path`` (no NaN: ``allow_nan=False`` fails on one).

    Raises:
        ValueError: the folder of ``path`` does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist")
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
