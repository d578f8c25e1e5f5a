"""Paired base → fine-tuned change of every row ``compare`` gates on, with a 95 % interval.

For documents paired by ``doc_id`` (each a base and a fine-tuned :class:`DocRecord`), each
row is a ratio of sums over documents: the status rates (responses of that status over
responses), ``pass@1`` (correctness summed over documents) and ``rpass@1`` (correct
valid-trace responses over valid-trace responses; NaN in the new run when it has no
valid trace left).  Its Δ is new − base.  Where every document has one response and the
row is 0/1 per document, the interval is Newcombe's paired score interval of the 2×2 table
(:func:`~.stats.newcombe_paired`: it keeps a width when no document changed) and the test
McNemar's exact one; otherwise (repeats, rpass@1) the interval resamples documents (both
runs together, the same resamples for every row: 2,000, seed 0) and recomputes both ratios.

Example:
    >>> from lm_eval_tracecollapse.samples.records import DocRecord
    >>> def doc(s, c): return DocRecord("r", "t", 0, None, (s,), 1, 0, c, "exact_match")
    >>> d = paired_deltas([(doc("valid", 1.0), doc("empty", 1.0)), (doc("valid", 0.0), doc("valid", 0.0))])
    >>> d["valid_rate"].base, d["valid_rate"].new, d["empty_rate"].delta, d["pass@1"].delta
    (1.0, 0.5, 0.5, 0.0)
    >>> [round(x, 3) for x in (d["pass@1"].lo, d["pass@1"].hi)]  # no document changed: a width, around 0
    [-0.573, 0.573]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..samples.records import DocRecord
from .stats import mcnemar_exact, newcombe_paired, paired_ratio_test

__all__ = ["GATED", "Delta", "deltas_from", "interval", "paired_deltas"]

#: the rows a gate can name, in table order
GATED = ("valid_rate", "empty_rate", "missing_rate", "truncated_rate", "pass@1", "rpass@1")
#: a paired 2×2 table: documents with the outcome in both runs, the base only, the new run only, neither
Table = tuple[int, int, int, int]


@dataclass(frozen=True)
class Delta:
    """One row's base and fine-tuned values, their difference and its 95 % interval."""

    metric: str
    base: float
    new: float
    lo: float
    hi: float
    mcnemar_p: float | None

    @property
    def delta(self) -> float:
        return self.new - self.base


def _columns(pairs: list[tuple[DocRecord, DocRecord]]) -> dict[str, tuple[list[float], ...]]:
    """Per row: (num_base, den_base, num_new, den_new) per document; absent when undefined."""
    cols: dict[str, tuple[list[float], ...]] = {}
    for status in ("valid", "empty", "missing", "truncated"):
        cols[f"{status}_rate"] = (
            [float(x.statuses.count(status)) for x, _ in pairs], [float(x.k) for x, _ in pairs],
            [float(y.statuses.count(status)) for _, y in pairs], [float(y.k) for _, y in pairs],
        )  # fmt: skip
    if all(x.correct is not None and y.correct is not None for x, y in pairs):
        ones = [1.0] * len(pairs)
        base, new = [float(x.correct or 0.0) for x, _ in pairs], [float(y.correct or 0.0) for _, y in pairs]
        cols["pass@1"] = (base, ones, new, ones)
    rv = [(x.valid_correct(), y.valid_correct()) for x, y in pairs]
    known = zip(rv, pairs, strict=True)
    if all((a is not None or x.valid == 0) and (b is not None or y.valid == 0) for (a, b), (x, y) in known):
        num_a = [(a or 0.0) * x.valid for (a, _), (x, _) in zip(rv, pairs, strict=True)]
        num_b = [(b or 0.0) * y.valid for (_, b), (_, y) in zip(rv, pairs, strict=True)]
        den_a, den_b = [float(x.valid) for x, _ in pairs], [float(y.valid) for _, y in pairs]
        if sum(den_a) > 0:  # (no valid trace left in the new run: its value is NaN, a gate fails)
            cols["rpass@1"] = (num_a, den_a, num_b, den_b)
    return cols


def _table(num_a: list[float], den_a: list[float], num_b: list[float], den_b: list[float]) -> Table | None:
    """The paired 2×2 table (1 in both, base only, new only, neither) of a row that is one
    0/1 outcome per document in both runs; None otherwise (repeats, a ratio, a length)."""
    if any(d != 1.0 for d in (*den_a, *den_b)) or any(v not in (0.0, 1.0) for v in (*num_a, *num_b)):
        return None
    cells = Counter(zip(num_a, num_b, strict=True))
    return (cells[1.0, 1.0], cells[1.0, 0.0], cells[0.0, 1.0], cells[0.0, 0.0])


def _mcnemar(num_a: list[float], den_a: list[float], num_b: list[float], den_b: list[float]) -> float | None:
    table = _table(num_a, den_a, num_b, den_b)
    return None if table is None else mcnemar_exact(table[1], table[2])


def interval(cols: Sequence[Sequence[float]], test: tuple[float, float, float]) -> tuple[float, float]:
    """Δ's 95 % interval of a row from its columns (num, den per document of base and new):
    Newcombe's paired score interval (:func:`~.stats.newcombe_paired`) where the row is one
    0/1 outcome per document, else the paired bootstrap's (``test``, of
    :func:`~.stats.paired_ratio_test`)."""
    table = _table(*(list(map(float, c)) for c in cols))
    return test[:2] if table is None else newcombe_paired(*table)


def paired_deltas(
    pairs: list[tuple[DocRecord, DocRecord]], iters: int = 2000, seed: int = 0, chunk_cells: int = 2_000_000
) -> dict[str, Delta]:
    """Every :data:`GATED` row defined on ``pairs`` (``rpass@1``: when both runs have a
    valid trace; ``pass@1``: when every document is scored) as a :class:`Delta`."""
    if not pairs:
        return {}
    cols = _columns(pairs)
    return deltas_from(cols, paired_ratio_test(cols, iters, seed, chunk_cells))


def deltas_from(
    cols: dict[str, tuple[list[float], ...]], tests: dict[str, tuple[float, float, float]]
) -> dict[str, Delta]:
    """The :class:`Delta` of each gated row from its columns and its :func:`~.stats.paired_ratio_test` result."""
    out = {}
    for name, (na, da, nb, db) in cols.items():
        lo, hi = interval((na, da, nb, db), tests[name])
        new = sum(nb) / sum(db) if sum(db) else math.nan
        out[name] = Delta(name, sum(na) / sum(da), new, lo, hi, _mcnemar(na, da, nb, db))
    return out
