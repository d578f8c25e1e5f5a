"""Write a :class:`~lm_eval_tracecollapse.training.monitor.TraceMeasurement` as an lm-eval samples file.

One line per prompt, in lm-eval's ``--log_samples`` layout (``doc_id``, ``doc``,
``target``, ``arguments.gen_args_0.arg_0`` = the rendered prompt, ``resps`` /
``filtered_resps``, ``filter: "none"``, ``metrics`` with our per-document ``pass@1`` and
``rpass@1``, the three hashes), plus ``finish_reason``.  The file is named
``samples_<task>_<date>.jsonl``, so ``tracecollapse analyze`` / ``compare`` / ``plot`` and
``tc_replay`` read it: ``analyze`` reports the same valid rate (it parses the same
response with the same prompt).

Example:
    >>> import tempfile
    >>> m = TraceMeasurement(valid_rate=1.0, empty_rate=0.0, missing_rate=0.0, truncated_rate=0.0,
    ...     answer_rate=1.0, pass_at_1=1.0, rpass_at_1=1.0, mean_trace_tokens=1.0, seconds=0.0,
    ...     prompts=("2+2",), responses=("<think>4</think>4",), finish_reasons=("stop",), correct=(True,),
    ...     golds=("4",), traces=(parse_trace("<think>4</think>4"),))
    >>> path = write_samples(m, tempfile.mkdtemp())
    >>> path.name.startswith("samples_trace_monitor_"), sample_records(m)[0]["rpass@1"]
    (True, 1.0)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from ...core.parse import parse_trace  # noqa: F401 - used by the doctest
from ...samples.files import sample_task
from .measure import TraceMeasurement

__all__ = ["sample_records", "write_samples"]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample_records(m: TraceMeasurement) -> list[dict[str, Any]]:
    """One lm-eval-style sample line per prompt of ``m``."""
    out = []
    golds = m.golds or (None,) * m.n
    for i, (prompt, response, reason, trace, gold) in enumerate(
        zip(m.prompts, m.responses, m.finish_reasons, m.traces, golds, strict=True)
    ):
        doc = {"prompt": prompt, **({} if gold is None else {"answer": gold})}
        target = "" if gold is None else str(gold)
        rec: dict[str, Any] = {
            "doc_id": i,
            "doc": doc,
            "target": target,
            "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"do_sample": False}}},
            "resps": [[response]],
            "filtered_resps": [response],
            "filter": "none",
            "metrics": [],
            "finish_reason": reason,
            "trace_status": trace.status.value,
            "doc_hash": _hash(json.dumps(doc, sort_keys=True, default=str)),
            "prompt_hash": _hash(prompt),
            "target_hash": _hash(target),
        }
        if m.correct is not None:
            ok = float(m.correct[i])
            rec["metrics"] = ["pass@1", "rpass@1"]
            rec["pass@1"] = ok
            rec["rpass@1"] = ok if trace.is_valid else None  # undefined without a valid trace
        out.append(rec)
    return out


def write_samples(m: TraceMeasurement, folder: str | os.PathLike[str], task: str = "trace_monitor") -> Path:
    """Write ``folder/samples_<task>_<date>.jsonl`` (the folder is created) and remove
    earlier ``samples_<task>_*.jsonl`` there, so a rerun into the same folder is not
    counted twice by ``analyze``; returns the path."""
    if not task or "/" in task or os.sep in task:
        raise ValueError(f"task must be a plain name for the samples file, got {task!r}")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
    target = path / f"samples_{task}_{stamp}.jsonl"
    for old in path.glob(f"samples_{task}_*.jsonl"):
        if sample_task(old) == task:
            old.unlink()
    with target.open("w", encoding="utf-8") as fh:
        for rec in sample_records(m):
            fh.write(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n")
    return target
