"""Per-task summaries and paired checkpoint comparisons, as plain dataclasses.

Example:
    >>> from lm_eval_tracecollapse.report.samples import DocRecord
    >>> docs = [DocRecord("run", "t", i, None, s, True, 5, c, "exact_match")
    ...         for i, (s, c) in enumerate([("valid", 1.0), ("valid", 0.0), ("missing", 1.0)])]
    >>> [s] = summarize(docs)
    >>> round(s.rates["valid"].value, 3), s.pass_at_1.value, s.rpass_at_1.value
    (0.667, 0.6666666666666666, 0.5)
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .samples import DocRecord, Problems, find_sample_files, is_probe_file, iter_file, task_and_run
from .stats import mcnemar_exact, paired_bootstrap_ci, wilson

__all__ = ["Comparison", "Estimate", "TaskSummary", "analyze", "compare", "summarize"]

STATUSES = ("valid", "empty", "missing", "truncated")


@dataclass(frozen=True)
class Estimate:
    """A rate with its 95 % interval over ``n`` documents."""

    value: float
    lo: float
    hi: float
    n: int


@dataclass
class TaskSummary:
    """What ``tracecollapse analyze`` prints for one task of one run."""

    run: str
    task: str
    n: int
    rates: dict[str, Estimate]  # valid, empty, missing, truncated, answer (Wilson)
    pass_at_1: Estimate | None  # Wilson; None when the samples carry no correctness
    rpass_at_1: Estimate | None  # bootstrap over documents; None when nothing is valid
    mean_trace_chars: float
    correct_source: str | None
    mean_trace_tokens: float | None = None  # with a tokenizer


@dataclass
class _Acc:
    n: int = 0
    status: Counter[str] = field(default_factory=Counter)
    answered: int = 0
    chars: int = 0
    known: int = 0
    correct: float = 0.0
    valid_correct: float = 0.0
    sources: Counter[str] = field(default_factory=Counter)
    tokens: int | None = None

    def add(self, d: DocRecord, tokenizer: Any = None) -> None:
        if tokenizer is not None:
            n_tokens = len(tokenizer.encode(d.reasoning or "", add_special_tokens=False)) if d.reasoning else 0
            self.tokens = (self.tokens or 0) + n_tokens
        self.n += 1
        self.status[d.status] += 1
        self.answered += d.answered
        self.chars += d.trace_chars
        if d.correct is not None:
            self.known += 1
            self.correct += d.correct
            if d.status == "valid":
                self.valid_correct += d.correct
            self.sources[d.correct_source or "?"] += 1


def _rpass(acc: _Acc, iters: int = 2000, seed: int = 0) -> Estimate | None:
    valid = acc.status["valid"]
    if valid == 0 or acc.known < acc.n:
        return None
    import numpy as np

    vc = acc.valid_correct
    probs = [vc / acc.n, (valid - vc) / acc.n, (acc.n - valid) / acc.n]
    draws = np.random.default_rng(seed).multinomial(acc.n, probs, size=iters)
    ok = draws[:, 0] + draws[:, 1] > 0
    ratios = np.sort(draws[ok, 0] / (draws[ok, 0] + draws[ok, 1]))
    lo, hi = np.quantile(ratios, [0.025, 0.975]) if len(ratios) else (math.nan, math.nan)
    return Estimate(vc / valid, float(lo), float(hi), valid)


def _summary(run: str, task: str, acc: _Acc) -> TaskSummary:
    def est(k: float) -> Estimate:
        lo, hi = wilson(round(k), acc.n)
        return Estimate(k / acc.n, lo, hi, acc.n)

    rates = {s: est(acc.status[s]) for s in STATUSES}
    rates["answer"] = est(acc.answered)
    pass1 = est(acc.correct) if acc.known == acc.n and acc.n else None
    source = acc.sources.most_common(1)[0][0] if acc.sources else None
    tokens = acc.tokens / acc.n if acc.tokens is not None and acc.n else None
    return TaskSummary(run, task, acc.n, rates, pass1, _rpass(acc), acc.chars / acc.n if acc.n else 0.0, source, tokens)


def summarize(records: Iterable[DocRecord]) -> list[TaskSummary]:
    """One summary per (run, task), in first-seen order."""
    accs: dict[tuple[str, str], _Acc] = {}
    for d in records:
        accs.setdefault((d.run, d.task), _Acc()).add(d)
    return [_summary(run, task, acc) for (run, task), acc in accs.items()]


@lru_cache(maxsize=2)
def _tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name)


def _file_acc(job: tuple[Path, str, bool, str | None]) -> tuple[str, str, _Acc, Problems]:
    path, fmt, strict, tokenizer_name = job
    problems = Problems()
    acc = _Acc()
    tok = _tokenizer(tokenizer_name) if tokenizer_name else None
    for d in iter_file(path, problems, fmt, strict, keep_reasoning=tok is not None):
        acc.add(d, tok)
    task, run = task_and_run(path)  # the same names iter_file gives every record
    return run, task, acc, problems


def _merge(a: _Acc, b: _Acc) -> None:
    a.n += b.n
    a.status.update(b.status)
    a.answered += b.answered
    a.chars += b.chars
    a.known += b.known
    a.correct += b.correct
    a.valid_correct += b.valid_correct
    a.sources.update(b.sources)
    if b.tokens is not None:
        a.tokens = (a.tokens or 0) + b.tokens


def analyze(
    paths: list[str | Path],
    fmt: str = "auto",
    strict: bool = False,
    workers: int | None = None,
    progress: bool = True,
    tokenizer: str | None = None,
) -> tuple[list[TaskSummary], Problems]:
    """Summaries of every samples file under ``paths``; files are read in parallel
    (``workers`` processes, default: CPU count) and streamed line by line.  With
    ``tokenizer`` (a local path or hub name), mean trace length is also in tokens."""
    import os
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    files = [f for f in find_sample_files(paths) if not is_probe_file(f)]
    jobs = [(f, fmt, strict, tokenizer) for f in files]
    n_workers = min(len(jobs), workers or os.cpu_count() or 1)
    accs: dict[tuple[str, str], _Acc] = {}
    problems = Problems()
    if n_workers > 1:
        with get_context("spawn").Pool(n_workers) as pool:
            results = list(
                tqdm(pool.imap(_file_acc, jobs), total=len(jobs), desc="reading samples", disable=not progress)
            )
    else:
        results = [_file_acc(j) for j in tqdm(jobs, desc="reading samples", disable=not progress)]
    for run, task, acc, probs in results:
        _merge(accs.setdefault((run, task), _Acc()), acc)
        problems.merge(probs)
    return [_summary(run, task, acc) for (run, task), acc in accs.items()], problems


@dataclass
class Comparison:
    """Paired base → fine-tuned comparison of one task (``tracecollapse compare``)."""

    task: str
    pairs: int
    vr: tuple[float, float]  # base, fine-tuned
    vr_delta_ci: tuple[float, float]
    vr_mcnemar_p: float
    pass_at_1: tuple[float, float] | None
    pass_delta_ci: tuple[float, float] | None
    pass_mcnemar_p: float | None
    transitions: dict[str, dict[str, int]]  # base status -> fine-tuned status -> count


def _by_key(paths: list[str | Path], fmt: str, strict: bool, problems: Problems) -> dict[str, dict[Any, DocRecord]]:
    out: dict[str, dict[Any, DocRecord]] = defaultdict(dict)
    for f in find_sample_files(paths):
        if is_probe_file(f):
            continue
        for d in iter_file(f, problems, fmt, strict):
            out[_task_key(d.task)][d.doc_id] = d
    return out


def _task_key(task: str) -> str:
    return re.sub(r"\s+", "", task)


def compare(
    base: list[str | Path], finetuned: list[str | Path], fmt: str = "auto", strict: bool = False
) -> tuple[list[Comparison], Problems]:
    """Pair documents of the same task by ``doc_id`` (checked against the prompt hash)."""
    problems = Problems()
    a, b = _by_key(base, fmt, strict, problems), _by_key(finetuned, fmt, strict, problems)
    out = []
    for task in [t for t in a if t in b]:
        ids = [i for i in a[task] if i in b[task]]
        pairs = [(a[task][i], b[task][i]) for i in sorted(ids)]
        mismatched = [
            i
            for i, (x, y) in zip(sorted(ids), pairs, strict=True)
            if x.prompt_hash and y.prompt_hash and x.prompt_hash != y.prompt_hash
        ]
        if mismatched:
            problems.add(
                task, f"{len(mismatched)} doc_ids have different prompts in the two runs (doc {mismatched[0]})"
            )
        if not pairs:
            continue
        va = [float(x.status == "valid") for x, _ in pairs]
        vb = [float(y.status == "valid") for _, y in pairs]
        trans: dict[str, dict[str, int]] = {s: dict.fromkeys(STATUSES, 0) for s in STATUSES}
        for x, y in pairs:
            trans[x.status][y.status] += 1
        has_correct = all(x.correct is not None and y.correct is not None for x, y in pairs)
        ca = [float(x.correct or 0.0) for x, _ in pairs]
        cb = [float(y.correct or 0.0) for _, y in pairs]
        n = len(pairs)

        def discordant(u: list[float], v: list[float]) -> float:
            return mcnemar_exact(
                sum(x > y for x, y in zip(u, v, strict=True)), sum(x < y for x, y in zip(u, v, strict=True))
            )

        out.append(
            Comparison(
                task=task,
                pairs=n,
                vr=(sum(va) / n, sum(vb) / n),
                vr_delta_ci=paired_bootstrap_ci(va, vb),
                vr_mcnemar_p=discordant(va, vb),
                pass_at_1=(sum(ca) / n, sum(cb) / n) if has_correct else None,
                pass_delta_ci=paired_bootstrap_ci(ca, cb) if has_correct else None,
                pass_mcnemar_p=discordant(ca, cb) if has_correct else None,
                transitions=trans,
            )
        )
    return out, problems
