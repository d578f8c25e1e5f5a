"""The @k rows of :mod:`lm_eval_tracecollapse.metrics.at_k` in ``analyze``/``compare``/``report``.

A samples line of a task with ``repeats`` ≥ 2 keeps each response's raw text (re-parsed:
its trace status) and the line's scores, but not each response's extracted answer or
correctness.  Per document, n responses and v valid ones come from the re-parsed statuses, c
correct from the stored ``pass@1`` (the mean of n 0/1 scores: ours, or the task's own
``pass@1`` such as ``humaneval``'s), c_v correct among the valid ones from the stored
``rpass@1`` (a run with our metrics), and the rows from
:func:`~lm_eval_tracecollapse.metrics.at_k.count_values` — the function the run's own rows
are computed with.  ``maj@k``/``rmaj@k`` need each response's answer: they are read from
the line where a run with our metrics stored them.  The k's are the run's (those of the
rows it stored: metadata ``tc_k``), else the powers of two up to n.

A row is the mean over documents (``rpass@k``/``rmaj@k``: over those with at least k valid
responses, ``rpass@k_coverage`` their share), as lm-eval's ``pooled_mean``; its interval is
Wilson's over the documents it averages (:func:`~.stats.design_wilson` with one trial per
document): a per-document chance in [0, 1] varies at most as a 0/1 outcome does, so the
interval is never narrower than the documents warrant and keeps a width at 0 and 1.

Example:
    >>> from lm_eval_tracecollapse.samples.records import DocRecord
    >>> d = DocRecord("r", "t", 0, None, ("valid", "valid", "missing", "valid"), 4, 0, 0.5, "pass@1",
    ...               rpass_at_1=2 / 3, at_k={"valid@2": 1.0, "pass@2": 5 / 6, "maj@2": 0.5, "rmaj@2": 2 / 3})
    >>> v = doc_values(d)
    >>> round(v["pass@2"], 4), round(v["rpass@2"], 4), v["maj@2"], v["all_valid@2"]
    (0.8333, 1.0, 0.5, 0.5)
    >>> acc = AtKAcc()
    >>> acc.add(d)
    >>> e = acc.estimates()["pass@2"]
    >>> round(e.value, 4), e.n
    (0.8333, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..metrics.at_k import count_values, k_values
from .stats import Estimate, design_wilson

if TYPE_CHECKING:
    from ..samples.records import DocRecord

__all__ = ["KINDS", "AtKAcc", "doc_values", "row_k"]

#: the @k rows in the order the reports list them (each for k = 2, 4, ...)
KINDS = ("pass", "rpass", "rpass_coverage", "maj", "rmaj", "valid", "all_valid")


def row_k(name: str) -> int:
    """The k of an @k row.

    >>> row_k("rpass@16_coverage"), row_k("all_valid@2")
    (16, 2)
    """
    return int(name.partition("@")[2].removesuffix("_coverage"))


def _kind(name: str) -> str:
    kind = name.partition("@")[0]
    return f"{kind}_coverage" if name.endswith("_coverage") else kind


def _order(name: str) -> tuple[int, int]:
    return (KINDS.index(_kind(name)), row_k(name))


def _count(share: float | None, n: int) -> int | None:
    """``share × n`` when it is a whole number of responses (0/1 scores), else None."""
    if share is None:
        return None
    count = share * n
    whole = round(count)
    return whole if abs(count - whole) < 1e-6 and 0 <= whole <= n else None


def doc_values(d: DocRecord) -> dict[str, float]:
    """One samples line's @k rows (NaN: N/A), see the module docstring; ``{}`` for one response."""
    n, v = d.k, d.valid
    if n < 2:
        return {}
    stored = d.at_k or {}
    ks = sorted({row_k(name) for name in stored}) or k_values(n, None)
    # a run with our metrics stores pass@k and maj@k only for 0/1 scores
    scored = d.correct_source == "pass@1" and (not stored or any(_kind(m) in ("pass", "maj") for m in stored))
    c = _count(d.correct, n) if scored else None
    c_v = None
    if c is not None and d.at_k is not None:  # rpass@1 is stored by our metrics (NaN: nothing valid)
        c_v = 0 if v == 0 else _count(d.rpass_at_1, v)
        c_v = c_v if c_v is not None and c_v <= c and c - c_v <= n - v else None
    out = {name: float(value) for name, value in count_values(n, v, ks, c, c_v).items()}
    out.update({name: value for name, value in stored.items() if _kind(name) in ("maj", "rmaj") and row_k(name) <= n})
    return out


@dataclass
class AtKAcc:
    """Per-document columns of every @k row, by name: its value and 1 per document where it
    is defined, 0 and 0 where not (N/A, or k above the document's responses)."""

    docs: int = 0
    cols: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def add(self, d: DocRecord) -> None:
        values = doc_values(d)
        self._new_rows(values)
        for name, (num, den) in self.cols.items():
            value = values.get(name, math.nan)
            num.append(0.0 if value != value else value)
            den.append(0.0 if value != value else 1.0)
        self.docs += 1

    def merge(self, other: AtKAcc) -> None:
        self._new_rows(other.cols)
        for name, (num, den) in self.cols.items():
            more = other.cols.get(name, ([0.0] * other.docs, [0.0] * other.docs))
            num.extend(more[0])
            den.extend(more[1])
        self.docs += other.docs

    def _new_rows(self, names: Iterable[str]) -> None:
        """Columns for the rows in ``names`` not seen yet, undefined on the documents before."""
        for name in names:
            if name not in self.cols:
                self.cols[name] = ([0.0] * self.docs, [0.0] * self.docs)

    def names(self) -> list[str]:
        """The rows present, in :data:`KINDS` order, then by k."""
        return sorted(self.cols, key=_order)

    def estimates(self) -> dict[str, Estimate | None]:
        """Every row's mean over the documents it is defined on, with Wilson's interval over them; None: N/A."""
        out: dict[str, Estimate | None] = {}
        for name in self.names():
            num, den = (np.array(c, dtype=float) for c in self.cols[name])
            total = float(den.sum())
            out[name] = Estimate(float(num.sum()) / total, *design_wilson(num, den), int(total)) if total else None
        return out

    def paired_columns(self, other: AtKAcc) -> dict[str, tuple[list[float], list[float], list[float], list[float]]]:
        """Per row, (num, den) of this side and of ``other`` per paired document (the same
        documents in order): what ``compare`` resamples for each row's Δ interval."""
        empty = ([0.0] * self.docs, [0.0] * self.docs)
        names = sorted(self.cols.keys() | other.cols.keys(), key=_order)
        return {name: (*self.cols.get(name, empty), *other.cols.get(name, empty)) for name in names}
