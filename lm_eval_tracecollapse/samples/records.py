"""Stream lm-eval ``--log_samples`` files into compact per-document records.

lm-eval writes ``<output>/<model>/samples_<task>_<date>.jsonl`` with one line per
(document, filter pipeline): ``filter`` names the pipeline and ``resps`` is
``[[raw_1, ..., raw_k]]`` (k = the task's ``repeats``).  :func:`iter_file` reads such
files line by line (constant memory) and makes one :class:`DocRecord` per line — every
pipeline of every document — re-parsing **each** of the k raw responses (``resps``, not
``filtered_resps``) with :func:`~lm_eval_tracecollapse.parse_trace`.  Correctness comes
from the line's stored scores: our ``pass@1`` (the mean correctness over its k
responses) and ``rpass@1`` (the mean over its valid-trace responses) when the run used
our metrics, else the task's own first metric (e.g. ``exact_match``) — the record says
which.  Broken lines (bad JSON, missing fields, a ``doc_id`` that is not an integer, a
correctness that is not a number in [0, 1]) are counted with their file and line, or
raise with ``strict=True``.

Example:
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> d.mkdir()
    >>> line = {"doc_id": 0, "resps": [["<think>x</think>4"]], "filter": "none",
    ...         "metrics": ["exact_match"], "exact_match": 1.0, "prompt_hash": "h"}
    >>> _ = (d / "samples_mytask_2026-01-01T00-00-00.jsonl").write_text(json.dumps(line) + "\\n")
    >>> recs, problems = read_file(next(d.glob("*.jsonl")))
    >>> [str(s) for s in recs[0].statuses], recs[0].correct, recs[0].correct_source, recs[0].pipeline, problems.skipped
    (['valid'], 1.0, 'exact_match', 'none', 0)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..core.formats import get_format
from ..core.parse import Trace, TraceStatus, parse_trace
from ..metrics.at_k import is_at_k
from ..metrics.failure_kinds import KIND_STATUSES, FailureOptions, KindCounts
from .files import (
    PROBE_TASK,
    find_sample_files,
    is_probe_file,
    sample_prompt,
    sample_responses,
    sample_task,
    task_and_run,
)
from .jsonl import loads_line
from .parallel import report_bytes
from .runs import SampleSet

__all__ = [
    "PROBE_TASK",
    "DocRecord",
    "Problems",
    "check_fmt",
    "find_sample_files",
    "is_probe_file",
    "iter_file",
    "iter_set",
    "loads_line",
    "read_file",
    "sample_prompt",
    "sample_responses",
    "sample_task",
    "task_and_run",
]

_BLOCK = 1 << 22  # bytes of whole lines read at a time
_PREFERRED = ("pass@1", "exact_match", "math_verify", "acc", "pass_at_1")
DEFAULT_PIPELINE = "none"  # lm-eval's name for a task without filters


@dataclass(frozen=True)
class DocRecord:
    """One line of a samples file: one document of one run under one filter pipeline,
    with the trace status of each of its k raw responses and the line's correctness.

    ``correct`` is the line's ``pass@1`` (a fraction with repeats) or, for runs without
    our metrics, the task's own first metric; ``rpass_at_1`` is the stored ``rpass@1``
    (mean correctness over the line's valid-trace responses), None when absent.
    """

    run: str
    task: str
    doc_id: int
    prompt_hash: str | None
    statuses: tuple[TraceStatus, ...]  # one per raw response, in order
    answered: int  # responses with a non-blank answer part
    trace_chars: int  # reasoning characters, summed over the responses
    correct: float | None
    correct_source: str | None
    reasoning: tuple[str | None, ...] | None = None  # per response, with keep_reasoning
    pipeline: str = DEFAULT_PIPELINE
    rpass_at_1: float | None = None
    kinds: KindCounts | None = None  # loops, degenerate traces, lengths (report/kinds.py)
    status_pass: dict[str, float] | None = None  # stored pass@1_<status>, runs with our metrics
    # the @k rows a run with our metrics stored on a line of k >= 2 responses (NaN: N/A; {}: none), else None
    at_k: dict[str, float] | None = None

    @property
    def k(self) -> int:
        """Number of raw responses (the run's ``repeats``)."""
        return len(self.statuses)

    @property
    def valid(self) -> int:
        """Number of responses with a valid trace (the line's weight in rpass@1)."""
        return self.statuses.count("valid")

    def valid_correct(self) -> float | None:
        """Mean correctness over the valid responses: the stored ``rpass@1``, else (runs
        without it) the line's correctness; None when unknown or nothing is valid."""
        if self.valid == 0:
            return None
        if self.rpass_at_1 is not None:
            return self.rpass_at_1
        return self.correct


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


def check_fmt(fmt: str) -> str:
    """``fmt`` when it is ``"auto"`` or a known reasoning format, else the ValueError
    listing the known ones (once, before any file is read)."""
    if fmt != "auto":
        get_format(fmt)
    return fmt


def _fraction(value: Any) -> float | None:
    """``value`` as a correctness in [0, 1] (a bool counts as 0/1), else None (NaN, inf,
    out of range, text, ...)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    return None


def _correctness(rec: dict[str, Any]) -> tuple[float | None, str | None]:
    """The line's correctness and its metric: the first of ``pass@1``, ``exact_match``,
    ``math_verify``, ``acc``, ``pass_at_1`` present on the line — whose value must then
    be a number in [0, 1] (a bool counts), never silently replaced by another metric —
    else the first of the line's ``metrics`` whose value is such a number (a task's
    other scores, e.g. BLEU, are not correctness).

    Raises:
        ValueError: a preferred metric is present with another value (NaN, inf, 5, "1").
    """
    for name in _PREFERRED:
        if name in rec:
            value = _fraction(rec[name])
            if value is None:
                raise ValueError(f"{name} is {rec[name]!r}, not a correctness in [0, 1]")
            return value, name
    metrics = rec.get("metrics", [])
    for name in metrics if isinstance(metrics, list) else []:
        if isinstance(name, str) and (value := _fraction(rec.get(name))) is not None:
            return value, name
    return None, None


def _doc_id(rec: dict[str, Any]) -> int:
    """The line's ``doc_id``: an integer (not a bool, a float or text)."""
    if "doc_id" not in rec:
        raise ValueError("no doc_id")
    doc_id = rec["doc_id"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, int):
        raise ValueError(f"doc_id is {doc_id!r}, not an integer")
    return doc_id


def _rpass(rec: dict[str, Any], name: str = "rpass@1") -> float | None:
    """The stored ``rpass@1`` (or another conditional accuracy, ``name``): None when
    absent or NaN/null (no response of that status), else a number in [0, 1]."""
    value = rec.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    checked = _fraction(value)
    if checked is None:
        raise ValueError(f"{name} is {value!r}, not a correctness in [0, 1]")
    return checked


def _status_pass(rec: dict[str, Any]) -> dict[str, float]:
    """The stored ``pass@1_empty``/``_missing``/``_truncated`` present on the line."""
    found = {s: _rpass(rec, f"pass@1_{s}") for s in KIND_STATUSES}
    return {s: v for s, v in found.items() if v is not None}


def _stored_at_k(rec: dict[str, Any], responses: int) -> dict[str, float] | None:
    """The @k rows (:mod:`~..metrics.at_k`) a run with our metrics stored on a line of several
    responses, NaN for N/A (``{}``: it stored none); None for one response or another run's line."""
    if responses < 2 or "valid_rate" not in rec:
        return None
    metrics = rec.get("metrics")
    names = [m for m in metrics if isinstance(m, str) and is_at_k(m)] if isinstance(metrics, list) else []
    return {name: math.nan if (value := _rpass(rec, name)) is None else value for name in names}


#: failure-kind counts already computed in one file, by :func:`_responses_key`
KindsMemo = dict[bytes, KindCounts]


def _responses_key(responses: list[str], prompt: str | None) -> bytes:
    """A digest of what a line's counts depend on (its responses and the prompt their parse
    reads), so the other pipelines of a document, which carry the same raw responses,
    reuse the counts instead of running loop detection again."""
    h = hashlib.blake2b(digest_size=16)
    for text in ("" if prompt is None else "\x00" + prompt, *responses):
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def _kinds(
    rec: dict[str, Any],
    responses: list[str],
    prompt: str | None,
    traces: list[Trace],
    options: FailureOptions,
    memo: KindsMemo,
) -> KindCounts:
    """The line's failure-kind counts: the rows the run stored when usable, else those
    computed for another pipeline of the same responses, else computed now."""
    stored = KindCounts.from_stored(rec, traces, options)
    if stored is not None:
        return stored
    key = _responses_key(responses, prompt)
    if key not in memo:
        memo[key] = KindCounts.of(traces, options)
    return memo[key]


def _parsed_record(
    rec: dict[str, Any],
    task: str,
    run: str,
    fmt: str,
    keep_reasoning: bool,
    options: FailureOptions | None = None,
    memo: KindsMemo | None = None,
) -> tuple[DocRecord, list[Trace]]:
    """The line's record and its parsed responses (``memo``: counts computed for earlier
    lines of the same file)."""
    doc_id = _doc_id(rec)
    if not isinstance(rec.get("resps"), list) or not rec["resps"]:
        raise ValueError("no resps (raw responses)")
    responses = sample_responses(rec)
    if not responses:
        raise ValueError("no raw responses in resps")
    for r in responses:
        if not isinstance(r, str):
            raise ValueError(f"response is {type(r).__name__}, not a string")
    prompt = sample_prompt(rec)
    traces = [parse_trace(r, prompt, fmt) for r in responses]
    correct, source = _correctness(rec)
    pipeline = rec.get("filter")
    doc = DocRecord(
        run=run,
        task=task,
        doc_id=doc_id,
        prompt_hash=rec.get("prompt_hash"),
        statuses=tuple(t.status for t in traces),
        answered=sum(t.has_answer for t in traces),
        trace_chars=sum(len(t.reasoning or "") for t in traces),
        correct=correct,
        correct_source=source,
        reasoning=tuple(t.reasoning for t in traces) if keep_reasoning else None,
        pipeline=pipeline if isinstance(pipeline, str) and pipeline else DEFAULT_PIPELINE,
        rpass_at_1=_rpass(rec) if source == "pass@1" else None,
        kinds=_kinds(rec, responses, prompt, traces, options or FailureOptions(), {} if memo is None else memo),
        status_pass=_status_pass(rec) if source == "pass@1" else None,
        at_k=_stored_at_k(rec, len(responses)),
    )
    return doc, traces


def read_file(
    path: Path, fmt: str = "auto", strict: bool = False, keep_reasoning: bool = False
) -> tuple[list[DocRecord], Problems]:
    """Every line of one samples file (each document under each filter pipeline), and the bad lines.

    Raises:
        ValueError: with ``strict``, at the first bad line (``file:line: why``).
    """
    problems = Problems()
    return list(iter_file(path, problems, fmt, strict, keep_reasoning)), problems


def iter_file(
    path: Path,
    problems: Problems,
    fmt: str = "auto",
    strict: bool = False,
    keep_reasoning: bool = False,
    options: FailureOptions | None = None,
) -> Iterator[DocRecord]:
    """Stream the lines of one samples file, one record per (document, filter pipeline)
    (constant memory apart from the set of those seen; a repeated pair keeps its first
    line), counting bad lines into ``problems``; ``options`` (loop thresholds, the
    tokenizer for lengths) for the extra rows."""
    for doc, _, _ in iter_parsed(path, problems, fmt, strict, keep_reasoning, options):
        yield doc


#: what :func:`iter_parsed` yields: the record, its JSON line, its parsed responses
Parsed = tuple[DocRecord, dict[str, Any], list[Trace]]


def iter_parsed(path: Path, problems: Problems, fmt: str = "auto", strict: bool = False, keep_reasoning: bool = False,
                options: FailureOptions | None = None, *, run: str | None = None,
                seen: set[tuple[int, str]] | None = None) -> Iterator[Parsed]:  # fmt: skip
    """:func:`iter_file` with each record's JSON line and its parsed responses (what the
    HTML report shows), so nothing is read or parsed twice.  ``run``: the run's name (default
    the file's folder name); ``seen``: (doc_id, pipeline) pairs already read (a newer file of
    the same task, :func:`iter_set`), whose lines are skipped."""
    task, folder = task_and_run(path)
    run = folder if run is None else run
    seen = set() if seen is None else seen
    memo: KindsMemo = {}
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    no = 0
    with fh:
        # whole lines, about 4 MB at a time: the bytes read are reported once per block (the
        # progress bar of parallel.map_files), nothing is added per line
        for block in iter(partial(fh.readlines, _BLOCK), []):
            for raw in block:
                no += 1
                if not raw.strip():
                    continue
                where = f"{path}:{no}"
                try:
                    rec = loads_line(raw)
                    if not isinstance(rec, dict):
                        raise ValueError("not a JSON object")
                    doc, traces = _parsed_record(rec, task, run, fmt, keep_reasoning, options, memo)
                    if (doc.doc_id, doc.pipeline) in seen:
                        continue
                except (ValueError, TypeError, KeyError) as exc:
                    why = str(exc)
                    if strict:
                        raise ValueError(f"{where}: {why}") from None
                    problems.add(where, why)
                    continue
                seen.add((doc.doc_id, doc.pipeline))
                yield doc, rec, traces
            report_bytes(sum(map(len, block)))


def iter_set(
    sample_set: SampleSet,
    problems: Problems,
    fmt: str = "auto",
    strict: bool = False,
    keep_reasoning: bool = False,
    options: FailureOptions | None = None,
) -> Iterator[Parsed]:
    """:func:`iter_parsed` over a task's files in one run, newest first: each (document,
    pipeline) from the newest file that has it (lm-eval run again into one folder)."""
    seen: set[tuple[int, str]] = set()
    for path in sample_set.files:
        yield from iter_parsed(path, problems, fmt, strict, keep_reasoning, options, run=sample_set.run, seen=seen)
