"""Every row ``compare`` prints, with its Δ, 95 % interval and a paired test.

The gated rows — the four status rates, ``pass@1``, ``rpass@1`` — are
:func:`~.deltas.paired_deltas`'s (``Comparison.deltas``, what ``compare --gate`` checks) and
the extra rows (:mod:`.kinds`: loops, degenerate traces, accuracy per status, lengths) get
their Δ the same way (:func:`~.deltas.interval`).  Where every document has one response and
the row is 0/1 per document, the interval is Newcombe's paired score interval and the test
McNemar's exact one; otherwise (repeats, ``rpass@1``, accuracy among a status, lengths) a
paired bootstrap over documents, all rows from one pass over the same draws
(:func:`~.stats.paired_ratio_test` on :func:`~.stats.resampled_sums`), and its p-value, dual
to its interval.

Example:
    >>> from lm_eval_tracecollapse.samples.records import DocRecord
    >>> from .deltas import paired_deltas
    >>> def doc(s): return DocRecord("r", "t", 0, None, (s,), 1, 0, 1.0, "exact_match")
    >>> pairs = [(doc("valid"), doc("missing"))] * 6 + [(doc("valid"), doc("valid"))] * 2
    >>> deltas, rows = paired_changes(pairs, None)
    >>> deltas == paired_deltas(pairs)  # the gate's rows, from the same single pass
    True
    >>> r = rows["valid_rate"]
    >>> (r.label, r.base, r.new, r.test, round(r.p, 4))
    ('VR', 1.0, 0.25, 'McNemar', 0.0312)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .deltas import GATED, Delta, _columns, _mcnemar, deltas_from, interval
from .kinds import KindAcc
from .stats import paired_ratio_test

if TYPE_CHECKING:
    from ..samples.records import DocRecord

__all__ = ["LABELS", "RowChange", "paired_changes"]

#: rows' columns per document: (numerator base, denominator base, numerator new, denominator new)
Columns = dict[str, tuple[Any, Any, Any, Any]]

#: how ``compare`` names the gated rows
LABELS = {"valid_rate": "VR", "empty_rate": "ER", "missing_rate": "MR", "truncated_rate": "TR", "pass@1": "pass@1",
          "rpass@1": "Rpass@1"}  # fmt: skip


@dataclass(frozen=True)
class RowChange:
    """One row of ``compare``: base and fine-tuned values (None: N/A), Δ's 95 % interval,
    and the paired test's p-value (None when Δ is undefined)."""

    metric: str
    label: str
    base: float | None
    new: float | None
    lo: float
    hi: float
    p: float | None
    test: str  # "McNemar" or "bootstrap"

    @property
    def delta(self) -> float | None:
        """new − base, None when either is N/A."""
        return None if self.base is None or self.new is None else self.new - self.base


def _value(x: float) -> float | None:
    return None if x != x else x


def _row(name: str, label: str, cols: Sequence[Sequence[float]], test: tuple[float, float, float],
         delta: Delta | None = None) -> RowChange:  # fmt: skip
    """A row from its columns (and the gate's :class:`Delta` where there is one)."""
    na, da, nb, db = (list(map(float, c)) for c in cols)
    base = _value(sum(na) / sum(da)) if sum(da) else None
    new = _value(sum(nb) / sum(db)) if sum(db) else None
    mcnemar = delta.mcnemar_p if delta is not None else _mcnemar(na, da, nb, db)
    lo, hi = (delta.lo, delta.hi) if delta is not None else interval((na, da, nb, db), test)
    p = test[2]
    defined = base is not None and new is not None
    return RowChange(name, label, base, new, lo if defined else math.nan, hi if defined else math.nan,
                     (mcnemar if mcnemar is not None else p) if defined else None,
                     "McNemar" if mcnemar is not None else "bootstrap")  # fmt: skip


def paired_changes(
    pairs: list[tuple[DocRecord, DocRecord]], sides: dict[str, KindAcc] | None, more: Columns | None = None
) -> tuple[dict[str, Delta], dict[str, RowChange]]:
    """Every row of one comparison from one resampling pass: the gated rows defined on
    ``pairs`` as :class:`~.deltas.Delta` (equal to :func:`~.deltas.paired_deltas`'s: the same
    columns, draws and quantiles, not drawn twice), and every row in ``compare``'s order —
    the gated ones, then the extra rows of ``sides`` (``{"base": KindAcc, "new": KindAcc}``
    over the same documents, when the records carry failure kinds), then ``more`` (each
    row's columns over the same documents: the @k rows, :meth:`~.at_k.AtKAcc.paired_columns`)."""
    gated = _columns(pairs)
    extra = sides["base"].paired_columns(sides["new"]) if sides and sides["base"].k else {}
    extra = {**extra, **(more or {})}
    tests = paired_ratio_test({**gated, **extra})
    deltas = deltas_from(gated, tests)
    rows = {name: _row(name, LABELS[name], gated[name], tests[name], deltas[name]) for name in GATED
            if name in gated}  # fmt: skip
    rows.update({name: _row(name, name, cols, tests[name]) for name, cols in extra.items()})
    return deltas, rows
