"""The extra rows of :mod:`lm_eval_tracecollapse.metrics.failure_kinds` in ``analyze``/``compare``.

Each samples line is re-parsed (:mod:`.samples`) into a
:class:`~lm_eval_tracecollapse.metrics.failure_kinds.KindCounts` — the counts the lm-eval rows
are computed from, on the raw ``resps`` — and the
per-status accuracies come from the line's stored ``pass@1_<status>`` (the mean
correctness over its responses of that status), else, with one response per line,
from the line's correctness.  :class:`KindAcc` pools documents exactly as
``pooled_mean`` does, so ``analyze`` prints lm-eval's figures; intervals are Wilson
for shares with one response per document, else a bootstrap over documents.

Example:
    >>> from lm_eval_tracecollapse.metrics.failure_kinds import FailureOptions
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> KindCounts.of([parse_trace("<think>Okay.</think>4")], FailureOptions())
    KindCounts(loops=0, truncated_loops=0, degenerate=1, trace_len=1, traced=1, answer_len=1, answered=1, truncated=0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..metrics.failure_kinds import KIND_STATUSES, KindCounts, LengthUnit
from .stats import Estimate, cluster_cis, wilson

if TYPE_CHECKING:
    from ..samples.records import DocRecord

__all__ = ["KIND_STATUSES", "KindAcc", "KindCounts"]


def _status_correct(d: DocRecord, status: str) -> float | None:
    """Mean correctness over the line's responses of ``status`` (None: unknown)."""
    stored = (d.status_pass or {}).get(status)
    if stored is not None:
        return stored
    if d.correct is not None and d.statuses and all(s == status for s in d.statuses):
        return d.correct
    return None


@dataclass
class KindAcc:
    """Per-document rows ``(k, loops, truncated loops, truncated, degenerate, then
    (Σ correct, n) per status in :data:`KIND_STATUSES`, trace length, traced,
    answer length, answered)`` — NaN where a status's correctness is unknown."""

    rows: list[tuple[float, ...]] = field(default_factory=list)
    unit: LengthUnit = "words"

    def add(self, d: DocRecord) -> None:
        c = d.kinds
        if c is None:
            return
        row: list[float] = [d.k, c.loops, c.truncated_loops, d.statuses.count("truncated"), c.degenerate]
        for status in KIND_STATUSES:
            n = d.statuses.count(status)
            r = _status_correct(d, status) if n else 0.0
            row += [math.nan if r is None else r * n, n]
        row += [c.trace_len, c.traced, c.answer_len, c.answered]
        self.rows.append(tuple(row))

    def merge(self, other: KindAcc) -> None:
        self.rows.extend(other.rows)
        self.unit = other.unit if other.rows else self.unit

    def values(self) -> dict[str, float | None]:
        """Point values of every extra row (None: N/A), named as lm-eval's rows."""
        return {name: (None if est is None else est.value) for name, est in self.estimates(cis=False).items()}

    def estimates(self, cis: bool = True) -> dict[str, Estimate | None]:
        """Every extra row as an :class:`~.summary.Estimate` (None: N/A), lm-eval's names."""
        import numpy as np

        a = np.array(self.rows, dtype=float).reshape(-1, 15)
        k = a[:, 0]
        responses = float(k.sum())
        single = len(self.rows) > 0 and bool((k == 1).all())
        shares = {
            "loop_rate": a[:, 1],
            "truncated_loop_rate": a[:, 2],
            "truncated_progress_rate": a[:, 3] - a[:, 2],
            "degenerate_rate": a[:, 4],
        }
        ratios: dict[str, tuple[Any, Any]] = {
            f"pass@1_{s}": (a[:, 5 + 2 * j], a[:, 6 + 2 * j]) for j, s in enumerate(KIND_STATUSES)
        }
        ratios[f"trace_length_{self.unit}"] = (a[:, 11], a[:, 12])
        ratios[f"answer_length_{self.unit}"] = (a[:, 13], a[:, 14])
        out: dict[str, Estimate | None] = {}
        boot = {n: (num, k) for n, num in shares.items()} if not single else {}
        boot.update({n: p for n, p in ratios.items() if p[1].sum() > 0 and not np.isnan(p[0]).any()})
        intervals = dict(zip(boot, cluster_cis(list(boot.values())), strict=True)) if cis and boot else {}
        for name, num in shares.items():
            total = float(num.sum())
            lo, hi = wilson(round(total), round(responses)) if single else intervals.get(name, (math.nan,) * 2)
            out[name] = Estimate(total / responses, lo, hi, int(responses)) if responses else None
        for name, (num, den) in ratios.items():
            if name not in boot:
                out[name] = None
                continue
            lo, hi = intervals.get(name, (math.nan, math.nan))
            out[name] = Estimate(float(num.sum()) / float(den.sum()), lo, hi, int(den.sum()))
        return out
