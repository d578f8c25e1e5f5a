"""The sample browser's data: one row per raw response, as compact columnar JSON.

Each samples line (a document under one filter pipeline of one run) is read with the
same reader as ``tracecollapse analyze`` (:func:`..samples.iter_parsed`: statuses,
correctness, pipeline, the same bad-line rules), and each of its k responses becomes a
row with its prompt, trace and answer apart (:func:`~lm_eval_tracecollapse.parse_trace`,
the split that gave the status).  Rows of a non-base run also carry the base run's
status of the same document (task + pipeline + ``doc_id``, as ``compare`` pairs them)
when both lines hold one response, for the transition filter.

Long texts are shortened in the data (:func:`shorten`: head and tail kept, the cut
length said in between); the caps come from a text budget for the whole page
(:class:`TextCaps`), so that 100,000 samples still make a file of tens of MB.

Example:
    >>> shorten("abcdefghij", 6)
    'abcd\\n… [4 characters cut] …\\nij'
    >>> TextCaps.for_budget(lines=100_000, budget_mb=32)
    TextCaps(prompt=240, trace=240, answer=120)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...samples.files import order_runs, sample_prompt
from ...samples.parallel import map_files
from ...samples.records import DocRecord, Problems, iter_set
from ...samples.runs import Run, SampleSet, find_runs
from ..summary import STATUSES, _task_key

__all__ = ["BrowserData", "TextCaps", "count_lines", "default_base", "order_runs", "read_browser_data", "shorten",
           "to_json"]  # fmt: skip


def shorten(text: str, cap: int) -> str:
    """``text`` when it has at most ``cap`` characters, else its first ⅔ and last ⅓ of
    ``cap`` with ``… [N characters cut] …`` between them (prompts end with the question,
    traces with the conclusion: both ends matter)."""
    if len(text) <= cap:
        return text
    head = cap * 2 // 3
    tail = cap - head
    return f"{text[:head]}\n… [{len(text) - cap:,} characters cut] …\n{text[len(text) - tail :]}"


@dataclass(frozen=True)
class TextCaps:
    """Characters kept per prompt, trace and answer in the page's data."""

    prompt: int = 4000
    trace: int = 4000
    answer: int = 1000

    @classmethod
    def for_budget(cls, lines: int, budget_mb: float) -> TextCaps:
        """Caps that keep about ``budget_mb`` MB of text for ``lines`` samples lines
        (40 % trace, 40 % prompt — prompts are stored once per document —, 20 % answer),
        never above the defaults nor below 240/240/120 characters."""
        if budget_mb <= 0:
            raise ValueError(f"the text budget (--max-text-mb) must be a positive number of MB, got {budget_mb}")
        per = budget_mb * 1_000_000 / max(lines, 1)
        top = cls()
        return cls(
            prompt=int(min(top.prompt, max(240, 0.4 * per))),
            trace=int(min(top.trace, max(240, 0.4 * per))),
            answer=int(min(top.answer, max(120, 0.2 * per))),
        )


def default_base(runs: list[str]) -> str | None:
    """The base run of the comparisons: one named ``base`` (or ending in ``_base``,
    ``-base``, ``/base``), else the first; None for a single run.

    >>> default_base(["m__arm0", "m__base"]), default_base(["step-1", "step-2"]), default_base(["a"])
    ('m__base', 'step-1', None)
    """
    if len(runs) < 2:
        return None
    return next((r for r in runs if re.search(r"(?:^|[_\-./])base$", r, re.IGNORECASE)), runs[0])


@dataclass
class BrowserData:
    """What the browser shows, column by column (one entry per response)."""

    runs: list[str]
    groups: list[tuple[str, str]]  # (task, pipeline)
    base: int | None  # index into runs of the transition filter's base run
    prompts: list[str] = field(default_factory=list)
    cols: dict[str, list[Any]] = field(default_factory=dict)
    docs: list[DocRecord] = field(default_factory=list)  # every line, for summarize()
    caps: TextCaps = field(default_factory=TextCaps)
    golds: list[str | None] = field(default_factory=list)  # the gold answer (lm-eval's target), per prompt

    @property
    def size(self) -> int:
        """Number of rows (responses)."""
        return len(self.cols.get("s", []))


_COLS = ("r", "g", "d", "i", "k", "s", "c", "b", "p", "x", "a")


def count_lines(files: list[Path]) -> int:
    """Lines in ``files`` (what the text budget is shared by), counted without parsing.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
    >>> _ = f.write_bytes(b'{}\\n{}\\n{}')
    >>> count_lines([f])
    3
    """
    total = 0
    for f in files:
        last = b"\n"
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 24):
                total += chunk.count(b"\n")
                last = chunk[-1:]
        total += last != b"\n"
    return total


#: a line's texts, shortened: (prompt, gold answer or None, [(trace or None, answer) per response])
Texts = tuple[str, str | None, list[tuple[str | None, str]]]


def gold_text(target: Any) -> str | None:
    """lm-eval's ``target`` of a samples line as text (a list of answers joined by `` | ``);
    None when the line has none.

    >>> gold_text("42"), gold_text(7), gold_text(["a", "b"]), gold_text(None)
    ('42', '7', 'a | b', None)
    """
    if target is None:
        return None
    if isinstance(target, list):
        return " | ".join(str(t) for t in target)
    return str(target)


def _read_set(job: tuple[SampleSet, str, bool, TextCaps]) -> tuple[list[DocRecord], list[Texts], Problems]:
    """One task's records in one run and their texts, shortened to the page's caps as they are
    read (so memory holds the page's text budget, not the file's)."""
    sample_set, fmt, strict, caps = job
    problems = Problems()
    docs: list[DocRecord] = []
    texts: list[Texts] = []
    for doc, rec, parsed in iter_set(sample_set, problems, fmt, strict):
        docs.append(doc)
        parts = [(None if t.reasoning is None else shorten(t.reasoning, caps.trace), shorten(t.answer, caps.answer))
                 for t in parsed]  # fmt: skip
        gold = gold_text(rec.get("target"))
        short_gold = None if gold is None else shorten(gold, caps.answer)
        texts.append((shorten(sample_prompt(rec) or "", caps.prompt), short_gold, parts))
    return docs, texts, problems


def read_browser_data(
    paths: list[str | Path],
    fmt: str = "auto",
    strict: bool = False,
    base: str | None = None,
    budget_mb: float = 32.0,
    workers: int | None = 1,
    progress: bool = False,
    runs: list[Run] | None = None,
) -> tuple[BrowserData, Problems]:
    """Every response under ``paths`` as browser rows (probe runs left out, as in
    ``analyze``); ``base`` names the transition filter's base run (default:
    :func:`default_base` of :func:`order_runs`); files read in ``workers`` processes
    (None: the CPU count), with a progress bar on stderr with ``progress``; ``runs``: those
    :func:`~...samples.runs.find_runs` found under ``paths``, when already found.

    Raises:
        ValueError: ``base`` is not one of the runs, or a bad line with ``strict``.
    """
    runs = find_runs(paths) if runs is None else runs
    caps = TextCaps.for_budget(count_lines([f for r in runs for f in r.files]), budget_mb)
    problems = Problems()
    docs: list[DocRecord] = []
    texts: list[Texts] = []
    jobs = [(s, fmt, strict, caps) for r in runs for s in r.sets]
    size = sum(f.stat().st_size for r in runs for f in r.files)
    for file_docs, file_texts, file_problems in map_files(_read_set, jobs, workers, progress, total_bytes=size):
        docs += file_docs
        texts += file_texts
        problems.merge(file_problems)
    names = order_runs(d.run for d in docs)
    if base is not None and base not in names:
        raise ValueError(f"base run {base!r} is not one of the runs: {', '.join(names) or 'none'}")
    base_run = base if base is not None else default_base(names)
    groups = list(dict.fromkeys((d.task, d.pipeline) for d in docs))
    data = BrowserData(names, groups, names.index(base_run) if base_run else None, caps=caps)
    _fill(data, docs, texts, base_run)
    return data, problems


def _fill(
    data: BrowserData,
    docs: list[DocRecord],
    texts: list[Texts],
    base_run: str | None,
) -> None:
    run_ix = {r: i for i, r in enumerate(data.runs)}
    group_ix = {g: i for i, g in enumerate(data.groups)}
    status_ix = {s: i for i, s in enumerate(STATUSES)}
    base_status = {
        (_task_key(d.task), d.pipeline, d.doc_id): status_ix[d.statuses[0]]
        for d in docs
        if d.run == base_run and d.k == 1
    }
    prompt_ix: dict[tuple[str, int], int] = {}
    cols: dict[str, list[Any]] = {c: [] for c in _COLS}
    for d, (prompt, gold, parts) in zip(docs, texts, strict=True):
        key = (d.task, d.doc_id)
        if key not in prompt_ix:
            prompt_ix[key] = len(data.prompts)
            data.prompts.append(prompt)
            data.golds.append(gold)
        other = d.run != base_run and d.k == 1
        b = base_status.get((_task_key(d.task), d.pipeline, d.doc_id), -1) if other else -1
        for i, (status, (trace, answer)) in enumerate(zip(d.statuses, parts, strict=True)):
            row = (run_ix[d.run], group_ix[(d.task, d.pipeline)], d.doc_id, i, d.k, status_ix[status], d.correct, b,
                   prompt_ix[key], trace, answer)  # fmt: skip
            for c, v in zip(_COLS, row, strict=True):
                cols[c].append(v)
    data.cols = cols
    data.docs = docs


def to_json(data: BrowserData) -> str:
    """The data as compact JSON, safe inside ``<script type="application/json">`` (every
    ``<`` escaped, so no text can close the element).

    >>> d = BrowserData(["r"], [("t", "none")], None, ["</script>"], {"s": []})
    >>> "</script>" in to_json(d), json.loads(to_json(d))["prompts"]
    (False, ['</script>'])
    """
    payload = {
        "runs": data.runs,
        "groups": [{"task": t, "pipeline": p} for t, p in data.groups],
        "statuses": list(STATUSES),
        "base": data.base,
        "caps": {"prompt": data.caps.prompt, "trace": data.caps.trace, "answer": data.caps.answer},
        "prompts": data.prompts,
        "golds": data.golds,
        "cols": data.cols,
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
