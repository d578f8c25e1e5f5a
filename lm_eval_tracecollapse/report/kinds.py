"""The extra rows of :mod:`lm_eval_tracecollapse.metrics.failure_kinds` in ``analyze``/``compare``.

Each samples line is re-parsed (:mod:`.samples`) into a
:class:`~lm_eval_tracecollapse.metrics.failure_kinds.KindCounts` — the counts the lm-eval rows
are computed from, on the raw ``resps`` — and the
per-status accuracies come from the line's stored ``pass@1_<status>`` (the mean
correctness over its responses of that status), else, with one response per line,
from the line's correctness.  :class:`KindAcc` pools documents exactly as
``pooled_mean`` does, so ``analyze`` prints lm-eval's figures; intervals are Wilson's over the
documents' responses for shares and correct-among-a-status (design effect with repeats),
Student's t over documents for mean lengths (a document's responses one cluster).

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

import numpy as np

from ..metrics.failure_kinds import KIND_STATUSES, ROWS, KindCounts, KindRow, LengthUnit
from .stats import Estimate, design_wilson, mean_interval

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
    """Per-document columns of every extra row (:data:`~..metrics.failure_kinds.ROWS`), by
    name: its numerator and denominator per document (a share's denominator is the
    document's responses ``k``; NaN where a status's correctness is unknown)."""

    k: list[float] = field(default_factory=list)
    cols: dict[str, tuple[list[float], list[float]]] = field(
        default_factory=lambda: {row.name: ([], []) for row in ROWS}
    )
    unit: LengthUnit = "words"

    def add(self, d: DocRecord) -> None:
        c = d.kinds
        if c is None:
            return
        self.k.append(d.k)
        for row in ROWS:
            num, den = self.cols[row.name]
            if row.kind == "share":
                num.append(getattr(c, row.source))
                den.append(d.k)
            elif row.kind == "status_pass":
                n = d.statuses.count(row.source)
                r = _status_correct(d, row.source) if n else 0.0
                num.append(math.nan if r is None else r * n)
                den.append(n)
            else:
                total, count = c.length(row.source)
                num.append(total)
                den.append(count)

    def merge(self, other: KindAcc) -> None:
        self.k.extend(other.k)
        for name, (num, den) in other.cols.items():
            self.cols[name][0].extend(num)
            self.cols[name][1].extend(den)
        self.unit = other.unit if other.k else self.unit

    def values(self) -> dict[str, float | None]:
        """Point values of every extra row (None: N/A), named as lm-eval's rows."""
        return {name: (None if est is None else est.value) for name, est in self.estimates(cis=False).items()}

    def _name(self, row: KindRow) -> str:
        return f"{row.name}_{self.unit}" if row.kind == "length" else row.name

    def _columns(self) -> tuple[Any, dict[str, Any], dict[str, tuple[Any, Any]]]:
        """(k per document, share numerators, ratio (num, den)) as arrays."""
        k = np.array(self.k, dtype=float)
        cols = {
            name: (np.array(num, dtype=float), np.array(den, dtype=float)) for name, (num, den) in self.cols.items()
        }
        shares = {self._name(r): cols[r.name][0] for r in ROWS if r.kind == "share"}
        ratios = {self._name(r): cols[r.name] for r in ROWS if r.kind != "share"}
        return k, shares, ratios

    def paired_columns(self, other: KindAcc) -> dict[str, tuple[Any, Any, Any, Any]]:
        """Per extra row, (num, den) of this side and of ``other`` per paired document (the
        same documents in order): what ``compare`` resamples for each row's Δ interval."""
        k_a, shares_a, ratios_a = self._columns()
        k_b, shares_b, ratios_b = other._columns()
        cols = {n: (shares_a[n], k_a, shares_b[n], k_b) for n in shares_a}
        cols.update({n: (*ratios_a[n], *ratios_b[n]) for n in ratios_a})
        return cols

    def estimates(self, cis: bool = True) -> dict[str, Estimate | None]:
        """Every extra row as an :class:`~.stats.Estimate` (None: N/A), lm-eval's names: a share
        over all responses and a correct-among-a-status ratio by Wilson's interval over the
        documents' responses (:func:`~.stats.design_wilson`: exactly Wilson's with one response
        per document), a mean length by Student's t over documents (:func:`~.stats.mean_interval`:
        of zero width only when every document's mean length is the same)."""
        k, shares, ratios = self._columns()
        responses = float(k.sum())
        nan = (math.nan, math.nan)
        out: dict[str, Estimate | None] = {}
        # the shares first, then the ratios: the order analyze and compare have always printed
        for row in sorted(ROWS, key=lambda r: r.kind != "share"):
            name = self._name(row)
            if row.kind == "share":
                total = float(shares[name].sum())
                lo, hi = design_wilson(shares[name], k) if cis else nan
                out[name] = Estimate(total / responses, lo, hi, int(responses)) if responses else None
                continue
            num, den = ratios[name]
            if den.sum() <= 0 or np.isnan(num).any():
                out[name] = None
                continue
            if not cis:
                lo, hi = nan
            else:
                lo, hi = design_wilson(num, den) if row.kind == "status_pass" else mean_interval(num, den)
            out[name] = Estimate(float(num.sum()) / float(den.sum()), lo, hi, int(den.sum()))
        return out
