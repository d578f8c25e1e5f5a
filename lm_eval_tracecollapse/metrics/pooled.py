"""Pooled values and their standard errors: the arithmetic of every row we add.

A per-document value is a :class:`Weighted` float (its weight in the pool);
:func:`pooled_mean` (lm-eval's aggregation ``pooled_mean``) returns a :class:`Pooled`
value that remembers its total weight and document count, which is what a group
needs to pool its subtasks (:func:`pool_leaves`); :class:`NotAvailable` is the
``N/A`` of a row with nothing to pool.  No lm-eval import.

Example:
    >>> pooled_mean([Weighted(1.0, 3), Weighted(0.0, 1)])
    0.75
    >>> pool_leaves([(pooled_mean([Weighted(1.0, 1), Weighted(0.0, 1)]), 0.5)], weight_by_size=True)[0]
    0.5
"""

from __future__ import annotations

import logging
import math
from typing import Any

from typing_extensions import Self

__all__ = ["NotAvailable", "Pooled", "Weighted", "pool_leaves", "pooled_mean", "pooled_stderr"]

log = logging.getLogger(__name__)


class Weighted(float):
    """A per-document value with the weight it carries in :func:`pooled_mean`.

    >>> w = Weighted(0.5, 4)
    >>> w, w.weight, w + 1
    (0.5, 4.0, 1.5)
    """

    weight: float

    def __new__(cls, value: float, weight: float = 1.0) -> Self:
        obj = super().__new__(cls, value)
        obj.weight = float(weight)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (float(self), self.weight))


class NotAvailable(Weighted):
    """A NaN of weight 0 that lm-eval's table prints as ``N/A`` and arithmetic keeps as itself.

    >>> f"{NotAvailable():.4f}", sum([NotAvailable()]) / 1, NotAvailable().weight
    ('N/A', N/A, 0.0)
    """

    def __new__(cls, value: float = math.nan, weight: float = 0.0) -> Self:
        return super().__new__(cls, math.nan, 0.0)

    def __reduce__(self) -> tuple[Any, ...]:
        return (NotAvailable, ())

    def __deepcopy__(self, memo: dict[int, Any]) -> NotAvailable:
        return self

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __repr__(self) -> str:
        return "N/A"

    __str__ = __repr__

    def _same(self, *_: object) -> NotAvailable:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = _same


class Pooled(Weighted):
    """An aggregated value: its total weight and how many documents it pools
    (what a group needs to pool subtasks; see :mod:`.groups`)."""

    count: int

    def __new__(cls, value: float, weight: float = 1.0, count: int = 1) -> Self:
        obj = super().__new__(cls, value, weight)
        obj.count = int(count)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pooled, (float(self), self.weight, self.count))


def _weighted(items: list[Any]) -> list[tuple[float, float]]:
    pairs = []
    for item in items:
        weight = float(getattr(item, "weight", 1.0))
        if weight > 0 and not math.isnan(item):
            pairs.append((float(item), weight))
    return pairs


def pooled_mean(items: list[Any]) -> float:
    """Σ weight·value / Σ weight over the documents that carry weight (``N/A`` if none)."""
    pairs = _weighted(items)
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return NotAvailable()
    return Pooled(sum(v * w for v, w in pairs) / total, total, len(pairs))


def pooled_stderr(items: list[Any]) -> float | str:
    """Standard error of :func:`pooled_mean` over documents (the ratio estimator's:
    √(n/(n-1) · Σ wᵢ²(xᵢ − R)²) / Σ wᵢ), equal to ``mean_stderr`` for equal weights."""
    pairs = _weighted(items)
    n = len(pairs)
    if n < 2:
        return "N/A"
    total = sum(w for _, w in pairs)
    ratio = sum(v * w for v, w in pairs) / total
    return math.sqrt(n / (n - 1) * sum((w * (v - ratio)) ** 2 for v, w in pairs)) / total


def _warn_plain(value: Any, size: int) -> None:
    log.warning(
        "group pooling: a leaf's value %r is a plain number, not the Pooled value pooled_mean returns (a "
        "process_results or aggregation replaced ours?); it is weighted by its sample_len %d, which changes "
        "rpass@1 when its weight is not the document count",
        value, size,
    )  # fmt: skip


def _number(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def pool_leaves(
    parts: list[tuple[Any, Any]], weight_by_size: bool, sizes: list[int] | None = None
) -> tuple[float, Any]:
    """(value, stderr) of a group from its leaves' (value, stderr) pairs.

    A leaf's weight and document count come from its :class:`Pooled` value
    (``sizes`` — lm-eval's ``sample_len`` — for a plain number).
    """
    rows = []
    for i, (value, stderr) in enumerate(parts):
        v = _number(value)
        if v is None:
            continue  # N/A: this leaf has nothing to pool
        size = sizes[i] if sizes else 1
        if not isinstance(value, Pooled):
            _warn_plain(value, size)
        weight = getattr(value, "weight", size)
        count = getattr(value, "count", size)
        if weight <= 0:
            continue
        rows.append((v, float(weight), int(count), _number(stderr)))
    if not rows:
        return NotAvailable(), "N/A"
    if weight_by_size:
        total = sum(w for _, w, _, _ in rows)
        n = sum(c for _, _, c, _ in rows)
        value = Pooled(sum(v * w for v, w, _, _ in rows) / total, total, n)
        if n - len(rows) <= 0 or any(s is None and c > 1 for _, _, c, s in rows):
            return value, "N/A"
        # lm-eval's pooled_sample_stderr, a one-document leaf adding no variance
        var = sum((c - 1) * (s or 0.0) ** 2 * c for _, _, c, s in rows) / (n - len(rows))
        return value, math.sqrt(var / n)
    value = Pooled(sum(v for v, _, _, _ in rows) / len(rows), len(rows), sum(c for _, _, c, _ in rows))
    if any(s is None for *_, s in rows):
        return value, "N/A"
    return value, math.sqrt(sum(s**2 for *_, s in rows if s is not None)) / len(rows)
