"""Per-(run, task, pipeline) summaries and paired checkpoint comparisons, as plain dataclasses.

Every filter pipeline of a task is its own summary.  Rates are per **response** (with
``repeats: k`` each line holds k raw responses, all re-parsed); ``pass@1`` is the mean
over documents of each line's correctness; ``rpass@1`` pools the valid-trace responses
(each line's stored ``rpass@1`` weighted by its number of valid responses).  Intervals:
Wilson's, exactly, when every document has one response (Rpass@1 over its valid-trace
responses); with repeats Wilson's over the design-effect effective number of responses
(:func:`~.stats.design_wilson`: a document's correlated responses count for less than
independent ones, never for less than one), so they neither overstate what repeats add
nor collapse to zero width at 0 or 1 as a percentile bootstrap does.

Example:
    >>> from lm_eval_tracecollapse.samples.records import DocRecord
    >>> docs = [DocRecord("run", "t", i, None, (s,), 1, 5, c, "exact_match")
    ...         for i, (s, c) in enumerate([("valid", 1.0), ("valid", 0.0), ("missing", 1.0)])]
    >>> [s] = summarize(docs)
    >>> round(s.rates["valid"].value, 3), s.pass_at_1.value, s.rpass_at_1.value, s.pipeline
    (0.667, 0.6666666666666666, 0.5, 'none')
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..metrics.failure_kinds import FailureOptions, LengthUnit, load_tokenizer
from ..samples.files import order_runs
from ..samples.parallel import map_files
from ..samples.records import DocRecord, Problems, check_fmt, iter_set
from ..samples.runs import Run, SampleSet, find_runs, one_run
from .at_k import AtKAcc
from .changes import RowChange, paired_changes
from .deltas import Delta
from .kinds import KindAcc
from .stats import Estimate, design_wilson

__all__ = [
    "Comparison", "Estimate", "Keyed", "TaskSummary", "analyze", "analyze_runs", "compare", "compare_records",
    "compare_runs", "in_run_order", "keyed_records", "read_keyed", "read_run", "summarize",
]  # fmt: skip

STATUSES = ("valid", "empty", "missing", "truncated")
_RATES = (*STATUSES, "answer")  # TaskSummary.rates keys, in _Acc row order after k


@dataclass
class TaskSummary:
    """What ``tracecollapse analyze`` prints for one filter pipeline of one task of one run."""

    run: str
    task: str
    n: int  # documents (lines of this pipeline)
    rates: dict[str, Estimate]  # valid, empty, missing, truncated, answer: shares of all responses
    pass_at_1: Estimate | None  # mean over documents; None when the samples carry no correctness
    rpass_at_1: Estimate | None  # pooled over valid-trace responses; None when nothing is valid
    mean_trace_chars: float  # per response
    correct_source: str | None
    mean_trace_tokens: float | None = None  # per response, with a tokenizer
    pipeline: str = "none"  # lm-eval's filter pipeline name
    responses: int = 0  # raw responses over all documents (n × repeats); 0: unknown
    # the extra rows (pass@1_empty, loop_rate, ..., trace_length_<unit>), named as lm-eval's; None: N/A
    kinds: dict[str, Estimate | None] = field(default_factory=dict)
    length_unit: LengthUnit = "words"
    # with repeats >= 2: the @k rows (report/at_k.py), named as lm-eval's; None: N/A
    at_k: dict[str, Estimate | None] = field(default_factory=dict)

    @property
    def repeats(self) -> float:
        """Responses per document (the task's ``repeats``; a mean if they differ)."""
        return self.responses / self.n if self.n and self.responses else 1.0


@dataclass
class _Acc:
    """One (run, task, pipeline) as a few numbers per line (constant per document, so
    the cluster bootstrap can resample documents): ``(k, valid, empty, missing,
    truncated, answered, correct, rpass × valid, valid)``, NaN where unknown."""

    rows: list[tuple[float, ...]] = field(default_factory=list)
    chars: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    tokens: int | None = None
    kinds: KindAcc = field(default_factory=KindAcc)
    at_k: AtKAcc = field(default_factory=AtKAcc)

    def add(self, d: DocRecord, tokenizer: Any = None) -> None:
        self.kinds.unit = "words" if tokenizer is None else "tokens"
        self.kinds.add(d)
        self.at_k.add(d)
        if tokenizer is not None:  # the line's traces were measured in this tokenizer's tokens (KindCounts)
            if d.kinds is None:
                raise ValueError("a samples record read with a tokenizer carries no trace lengths (kinds)")
            self.tokens = (self.tokens or 0) + d.kinds.trace_len
        counts = [d.statuses.count(s) for s in STATUSES]
        w = d.valid
        r = d.valid_correct()
        rw = 0.0 if w == 0 else (math.nan if r is None else r * w)
        correct = math.nan if d.correct is None else d.correct
        self.rows.append((d.k, *counts, d.answered, correct, rw, w))
        self.chars += d.trace_chars
        if d.correct is not None:
            self.sources[d.correct_source or "?"] += 1

    def merge(self, other: _Acc) -> None:
        self.rows.extend(other.rows)
        self.chars += other.chars
        self.sources.update(other.sources)
        self.kinds.merge(other.kinds)
        self.at_k.merge(other.at_k)
        if other.tokens is not None:
            self.tokens = (self.tokens or 0) + other.tokens


def _summary(run: str, task: str, pipeline: str, acc: _Acc) -> TaskSummary:
    import numpy as np

    a = np.array(acc.rows, dtype=float).reshape(-1, 9)
    n = len(acc.rows)
    k = a[:, 0]
    responses = int(k.sum())
    correct = a[:, 6]
    has_pass = n > 0 and not bool(np.isnan(correct).any())
    w, rw = a[:, 8], a[:, 7]
    has_rpass = has_pass and w.sum() > 0 and not bool(np.isnan(rw).any())

    # the point values in plain Python sums, so that they are exactly the pooled ratios;
    # intervals: Wilson's with each document's responses as a cluster (stats.design_wilson)
    totals = {name: sum(int(row[1 + j]) for row in acc.rows) for j, name in enumerate(_RATES)}
    rates = {}
    for j, name in enumerate(_RATES):
        lo, hi = design_wilson(a[:, 1 + j], k)
        rates[name] = Estimate(totals[name] / responses if responses else math.nan, lo, hi, responses)
    pass1 = None
    if has_pass:
        total = sum(float(row[6]) for row in acc.rows)
        lo, hi = design_wilson(correct, np.ones(n), trials=k)  # a document's pass@1 is over its k responses
        pass1 = Estimate(total / n, lo, hi, n)
    rpass = None
    if has_rpass:
        weight = sum(int(row[8]) for row in acc.rows)
        lo, hi = design_wilson(rw, w)
        rpass = Estimate(sum(float(row[7]) for row in acc.rows) / weight, lo, hi, weight)
    source = acc.sources.most_common(1)[0][0] if acc.sources else None
    tokens = acc.tokens / responses if acc.tokens is not None and responses else None
    chars = acc.chars / responses if responses else 0.0
    kinds = acc.kinds.estimates()
    return TaskSummary(
        run, task, n, rates, pass1, rpass, chars, source, tokens, pipeline, responses, kinds, acc.kinds.unit,
        acc.at_k.estimates(),
    )  # fmt: skip


def summarize(records: Iterable[DocRecord]) -> list[TaskSummary]:
    """One summary per (run, task, pipeline), in first-seen order."""
    accs: dict[tuple[str, str, str], _Acc] = {}
    for d in records:
        accs.setdefault((d.run, d.task, d.pipeline), _Acc()).add(d)
    return [_summary(run, task, pipe, acc) for (run, task, pipe), acc in accs.items()]


def _set_acc(job: tuple[SampleSet, str, bool, str | None, bool]) -> tuple[str, str, dict[str, _Acc], Problems]:
    sample_set, fmt, strict, tokenizer_name, recompute = job
    problems = Problems()
    accs: dict[str, _Acc] = {}
    tok = load_tokenizer(tokenizer_name) if tokenizer_name else None
    options = FailureOptions(tokenizer=tok, stored=not recompute)
    for d, _, _ in iter_set(sample_set, problems, fmt, strict, options=options):
        accs.setdefault(d.pipeline, _Acc()).add(d, tok)
    return sample_set.run, sample_set.task, accs, problems


def analyze(
    paths: list[str | Path],
    fmt: str = "auto",
    strict: bool = False,
    workers: int | None = None,
    progress: bool = True,
    tokenizer: str | None = None,
    recompute: bool = False,
) -> tuple[list[TaskSummary], Problems]:
    """Summaries of every (run, task, filter pipeline) in the samples files under
    ``paths``, runs in :func:`in_run_order`; files are read in parallel (``workers``
    processes, default: CPU count) and streamed line by line.  With ``tokenizer`` (a
    local path or hub name), mean trace length is also in tokens.  The failure-kind rows a
    run stored on its lines are read, not recomputed, where the options match (``recompute``
    recomputes every one).  Every folder holding samples files is a run
    (:func:`~..samples.runs.find_runs`)."""
    check_fmt(fmt)
    return analyze_runs(find_runs(paths), fmt, strict, workers, progress, tokenizer, recompute)


def analyze_runs(
    runs: list[Run],
    fmt: str = "auto",
    strict: bool = False,
    workers: int | None = None,
    progress: bool = True,
    tokenizer: str | None = None,
    recompute: bool = False,
) -> tuple[list[TaskSummary], Problems]:
    """:func:`analyze` of runs already found (``tracecollapse analyze`` lists them first);
    a task's several files in one run are read by document, newest first."""
    check_fmt(fmt)
    if tokenizer:
        load_tokenizer(tokenizer)  # a bad name fails here, once, not in every worker
    jobs = [(s, fmt, strict, tokenizer, recompute) for r in runs for s in r.sets]
    accs: dict[tuple[str, str, str], _Acc] = {}
    problems = Problems()
    size = sum(f.stat().st_size for r in runs for f in r.files)
    results = map_files(_set_acc, jobs, workers, progress, total_bytes=size)
    for run, task, by_pipe, probs in results:
        for pipe, acc in by_pipe.items():
            accs.setdefault((run, task, pipe), _Acc()).merge(acc)
        problems.merge(probs)
    return in_run_order([_summary(run, task, pipe, acc) for (run, task, pipe), acc in accs.items()]), problems


def in_run_order(summaries: list[TaskSummary]) -> list[TaskSummary]:
    """``summaries`` with their runs in :func:`~lm_eval_tracecollapse.samples.files.order_runs`
    order (``step-20`` before ``step-100`` when every run name carries a number, else as
    first seen), each run's tasks and pipelines in the order they were."""
    rank = {run: i for i, run in enumerate(order_runs(s.run for s in summaries))}
    return sorted(summaries, key=lambda s: rank[s.run])


@dataclass
class Comparison:
    """Paired base → fine-tuned comparison of one filter pipeline of one task
    (``tracecollapse compare``).  ``vr``, ``pass_at_1``, their ``*_delta_ci`` and
    ``*_mcnemar_p`` are :attr:`deltas`' ``valid_rate`` and ``pass@1`` rows (one paired
    bootstrap over documents, :mod:`.deltas`); McNemar needs one 0/1 outcome per document:
    None with repeats."""

    task: str
    pairs: int
    vr: tuple[float, float]  # base, fine-tuned
    vr_delta_ci: tuple[float, float]
    vr_mcnemar_p: float | None
    pass_at_1: tuple[float, float] | None
    pass_delta_ci: tuple[float, float] | None
    pass_mcnemar_p: float | None
    # base status -> fine-tuned status -> documents; with repeats, the expected count
    # when one response of each run is drawn per document (Σ share_base × share_ft)
    transitions: dict[str, dict[str, float]]
    pipeline: str = "none"
    # the extra rows (report/kinds.py) over the paired documents: (base, fine-tuned), None: N/A
    kinds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # every gated row (report/deltas.py): base, fine-tuned, Δ's interval, McNemar p
    deltas: dict[str, Delta] = field(default_factory=dict)
    # every row compare prints (report/changes.py): Δ, its interval and a paired test
    changes: dict[str, RowChange] = field(default_factory=dict)


Keyed = dict[tuple[str, str], dict[Any, DocRecord]]


def keyed_records(records: Iterable[DocRecord]) -> Keyed:
    """(task, pipeline) -> doc_id -> record, what :func:`compare_records` pairs (a later
    record of the same document replaces an earlier one)."""
    out: Keyed = defaultdict(dict)
    for d in records:
        out[(_task_key(d.task), d.pipeline)][d.doc_id] = d
    return out


def read_run(run: Run, fmt: str = "auto", strict: bool = False, problems: Problems | None = None) -> Keyed:
    """:func:`keyed_records` of one run (a task's several files read by document, newest first)."""
    problems = problems if problems is not None else Problems()
    return keyed_records(d for s in run.sets for d, _, _ in iter_set(s, problems, fmt, strict))


def read_keyed(paths: list[str | Path], fmt: str = "auto", strict: bool = False,
               problems: Problems | None = None) -> Keyed:  # fmt: skip
    """:func:`read_run` of the one run under ``paths`` (ValueError naming them when there are several)."""
    return read_run(one_run(paths, "given"), fmt, strict, problems)


def _task_key(task: str) -> str:
    return re.sub(r"\s+", "", task)


def compare(
    base: list[str | Path], finetuned: list[str | Path], fmt: str = "auto", strict: bool = False
) -> tuple[list[Comparison], Problems]:
    """Pair documents of the same task and filter pipeline by ``doc_id`` (checked
    against the prompt hash): :func:`compare_records` of the two runs' files.  Each side must
    be one run (a folder holding several is refused with their list: :func:`~..samples.runs.one_run`)."""
    check_fmt(fmt)
    return compare_runs(one_run(base, "base"), one_run(finetuned, "fine-tuned"), fmt, strict)


def compare_runs(
    base: Run, finetuned: Run, fmt: str = "auto", strict: bool = False
) -> tuple[list[Comparison], Problems]:
    """:func:`compare` of two runs already found."""
    check_fmt(fmt)
    problems = Problems()
    a, b = read_run(base, fmt, strict, problems), read_run(finetuned, fmt, strict, problems)
    return compare_records(a, b, problems)


def compare_records(a: Keyed, b: Keyed, problems: Problems | None = None) -> tuple[list[Comparison], Problems]:
    """:func:`compare` on records already read (:func:`read_keyed`, :func:`keyed_records`):
    a base run's records can be compared with several runs without reading them again."""
    problems = problems if problems is not None else Problems()
    out = []
    for key in [t for t in a if t in b]:
        task, pipeline = key
        ids = [i for i in a[key] if i in b[key]]
        pairs = [(a[key][i], b[key][i]) for i in sorted(ids)]
        mismatched = [
            i
            for i, (x, y) in zip(sorted(ids), pairs, strict=True)
            if x.prompt_hash and y.prompt_hash and x.prompt_hash != y.prompt_hash
        ]
        if mismatched:
            problems.add(
                f"{task} [{pipeline}]",
                f"{len(mismatched)} doc_ids have different prompts in the two runs (doc {mismatched[0]})",
            )
        if not pairs:
            continue
        trans: dict[str, dict[str, float]] = {s: dict.fromkeys(STATUSES, 0) for s in STATUSES}
        for x, y in pairs:
            for s in set(x.statuses):
                for t in set(y.statuses):
                    share = x.statuses.count(s) * y.statuses.count(t)
                    trans[s][t] += share if x.k == y.k == 1 else share / (x.k * y.k)
        sides, at_k = (KindAcc(), KindAcc()), (AtKAcc(), AtKAcc())
        for x, y in pairs:
            sides[0].add(x)
            sides[1].add(y)
            at_k[0].add(x)
            at_k[1].add(y)
        base_kinds, ft_kinds = (side.values() for side in sides)
        # one resampling pass: the gate's rows (deltas, equal to paired_deltas(pairs)) and every printed row
        deltas, changes = paired_changes(pairs, {"base": sides[0], "new": sides[1]}, at_k[0].paired_columns(at_k[1]))
        vr, p1 = deltas["valid_rate"], deltas.get("pass@1")
        out.append(
            Comparison(
                task=task,
                pairs=len(pairs),
                vr=(vr.base, vr.new),
                vr_delta_ci=(vr.lo, vr.hi),
                vr_mcnemar_p=vr.mcnemar_p,
                pass_at_1=None if p1 is None else (p1.base, p1.new),
                pass_delta_ci=None if p1 is None else (p1.lo, p1.hi),
                pass_mcnemar_p=None if p1 is None else p1.mcnemar_p,
                transitions=trans,
                pipeline=pipeline,
                kinds={name: (value, ft_kinds.get(name)) for name, value in base_kinds.items()},
                deltas=deltas,
                changes=changes,
            )
        )
    return out, problems
