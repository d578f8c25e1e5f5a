"""Stream lm-eval ``--log_samples`` files into compact per-document records.

lm-eval writes ``<output>/<model>/samples_<task>_<date>.jsonl`` with one line per
(document, filter pipeline).  :func:`iter_records` reads such files line by line
(constant memory), keeps the first line of each document, re-parses the **raw**
responses (``resps``, not ``filtered_resps``) with :func:`~lm_eval_tracecollapse.parse_trace`,
and takes correctness from the sample's stored scores: our ``pass@1`` when the run
used our metrics, else the task's own first metric (e.g. ``exact_match``) — the record
says which.  Broken lines (bad JSON, missing fields) are counted with their file and
line, or raise with ``strict=True``.

Example:
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> d.mkdir()
    >>> line = {"doc_id": 0, "resps": [["<think>x</think>4"]], "filter": "none",
    ...         "metrics": ["exact_match"], "exact_match": 1.0, "prompt_hash": "h"}
    >>> _ = (d / "samples_mytask_2026-01-01T00-00-00.jsonl").write_text(json.dumps(line) + "\\n")
    >>> recs, problems = read_file(next(d.glob("*.jsonl")))
    >>> recs[0].status, recs[0].correct, recs[0].correct_source, problems.skipped
    ('valid', 1.0, 'exact_match', 0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..parse import parse_trace

__all__ = [
    "PROBE_TASK",
    "DocRecord",
    "Problems",
    "find_sample_files",
    "is_probe_file",
    "iter_file",
    "read_file",
    "sample_prompt",
    "sample_task",
    "task_and_run",
]

PROBE_TASK = "tc_probe"  # its samples hold faithfulness probes, not trace statuses

_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.:]+)$")
_PREFERRED = ("pass@1", "exact_match", "math_verify", "acc", "pass_at_1")
# lm-eval writes doc_id first: lines of a document already read (its other filter
# pipelines) are skipped before paying for json.loads
_DOC_ID = re.compile(rb'^\s*\{\s*"doc_id"\s*:\s*(\d+)\s*,')


@dataclass(frozen=True)
class DocRecord:
    """One document of one run: its (first) response's trace status and correctness."""

    run: str
    task: str
    doc_id: int
    prompt_hash: str | None
    status: str
    answered: bool
    trace_chars: int
    correct: float | None
    correct_source: str | None
    reasoning: str | None = None


@dataclass
class Problems:
    """Lines that could not be used: how many, and where the first ones are."""

    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {why}")

    def merge(self, other: Problems) -> None:
        self.skipped += other.skipped
        self.examples.extend(other.examples[: 5 - len(self.examples)])


def find_sample_files(paths: list[str | Path]) -> list[Path]:
    """Every ``samples_*.jsonl`` under the given folders, plus files named directly."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("samples_*.jsonl") if q.is_file()))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist (give lm-eval output folders or samples_*.jsonl files)")
    if not found:
        raise FileNotFoundError(
            f"no samples_*.jsonl under {', '.join(map(str, paths))} (run lm-eval with --log_samples)"
        )
    return found


def sample_task(path: Path) -> str | None:
    """The task in an lm-eval samples file name ``samples_<task>_<date>.jsonl``, else None.

    >>> sample_task(Path("out/m/samples_gsm8k_cot_2026-01-01T00-00-00.000000.jsonl")), sample_task(Path("x.jsonl"))
    ('gsm8k_cot', None)
    """
    m = _NAME.match(path.stem)
    return m.group("task") if m else None


def task_and_run(path: Path) -> tuple[str, str]:
    """(task, run) from lm-eval's file layout: ``<run>/samples_<task>_<date>.jsonl``."""
    return sample_task(path) or path.stem, path.parent.name


def is_probe_file(path: Path) -> bool:
    """Whether ``path`` is the samples file of a ``tc_probe`` run (scored by
    :mod:`lm_eval_tracecollapse.probes`, left out of the trace-status reports)."""
    return task_and_run(path)[0] == PROBE_TASK


def _correctness(rec: dict[str, Any]) -> tuple[float | None, str | None]:
    names = [n for n in rec.get("metrics", []) if isinstance(n, str)]
    for name in (*_PREFERRED, *names):
        value = rec.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return float(value), name
        if isinstance(value, bool):
            return float(value), name
    return None, None


def sample_prompt(rec: dict[str, Any]) -> str | None:
    """The prompt of a replay line (``prompt``) or of an lm-eval sample line (the first
    argument of ``arguments.gen_args_0``, else of its first request); None if absent.

    >>> sample_prompt({"arguments": {"gen_args_0": {"arg_0": "Q?", "arg_1": {}}}})
    'Q?'
    """
    if isinstance(rec.get("prompt"), str):
        return str(rec["prompt"])
    args = rec.get("arguments")
    if isinstance(args, dict):
        first = args.get("gen_args_0") or next(iter(args.values()), None)
        if isinstance(first, dict) and isinstance(first.get("arg_0"), str):
            return str(first["arg_0"])
    return None


def sample_fields(rec: dict[str, Any]) -> tuple[str | None, Any]:
    """(prompt, first raw response) of an lm-eval sample line, or of a replay line
    (``prompt``/``response``); the prompt may be None, the response None or of the wrong type."""
    resps = rec.get("resps")
    if isinstance(resps, list) and resps:
        first = resps[0][0] if isinstance(resps[0], list) and resps[0] else resps[0]
    else:
        first = rec.get("response")
    return sample_prompt(rec), first


def _record(rec: dict[str, Any], task: str, run: str, fmt: str, keep_reasoning: bool) -> DocRecord:
    if "doc_id" not in rec:
        raise ValueError("no doc_id")
    if not isinstance(rec.get("resps"), list) or not rec["resps"]:
        raise ValueError("no resps (raw responses)")
    prompt, first = sample_fields(rec)
    if not isinstance(first, str):
        raise ValueError(f"response is {type(first).__name__}, not a string")
    trace = parse_trace(first, prompt, fmt)
    correct, source = _correctness(rec)
    reasoning = trace.reasoning
    return DocRecord(
        run=run,
        task=task,
        doc_id=int(rec["doc_id"]),
        prompt_hash=rec.get("prompt_hash"),
        status=trace.status.value,
        answered=trace.has_answer,
        trace_chars=len(reasoning or ""),
        correct=correct,
        correct_source=source,
        reasoning=reasoning if keep_reasoning else None,
    )


def read_file(
    path: Path, fmt: str = "auto", strict: bool = False, keep_reasoning: bool = False
) -> tuple[list[DocRecord], Problems]:
    """All documents of one samples file (first line per document), and the bad lines.

    Raises:
        ValueError: with ``strict``, at the first bad line (``file:line: why``).
    """
    problems = Problems()
    return list(iter_file(path, problems, fmt, strict, keep_reasoning)), problems


def iter_file(
    path: Path, problems: Problems, fmt: str = "auto", strict: bool = False, keep_reasoning: bool = False
) -> Iterator[DocRecord]:
    """Stream the documents of one samples file (constant memory apart from the set of
    document ids seen), counting bad lines into ``problems``."""
    task, run = task_and_run(path)
    seen: set[int] = set()
    with path.open("rb") as fh:
        for no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            head = _DOC_ID.match(raw)
            if head is not None and int(head.group(1)) in seen:
                continue
            where = f"{path}:{no}"
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                if rec.get("doc_id") in seen:
                    continue  # another filter pipeline of a document already read
                doc = _record(rec, task, run, fmt, keep_reasoning)
            except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                if strict:
                    raise ValueError(f"{where}: {why}") from None
                problems.add(where, why)
                continue
            seen.add(doc.doc_id)
            yield doc
