"""Small statistics for the reports: Wilson intervals (with a design-effect effective n for
documents of several responses), Student's t for mean lengths, Newcombe's paired interval
and McNemar's exact test, paired bootstrap differences (resampling vectorised with numpy,
which lm-eval already depends on: 2,000 resamples of 25,000 pairs take 0.5 s instead of a
minute).

Example:
    >>> lo, hi = wilson(8, 10)
    >>> round(lo, 3), round(hi, 3)
    (0.49, 0.943)
    >>> mcnemar_exact(0, 8)
    0.0078125
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Estimate", "bootstrap_ci", "design_wilson", "effective_n", "mcnemar_exact", "mean_interval",
           "newcombe_diff", "newcombe_paired", "paired_ratio_test", "wilson", "wilson_at"]  # fmt: skip


Z95 = 1.959964


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); ``(nan, nan)`` when n = 0."""
    return wilson_at(successes / n if n > 0 else math.nan, n, z)


def wilson_at(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed over ``n`` (an effective number
    of Bernoulli trials: it need not be an integer); ``(nan, nan)`` when n = 0.

    >>> [round(x, 3) for x in wilson_at(1.0, 2)]
    [0.342, 1.0]
    """
    if n <= 0 or p != p:
        return (math.nan, math.nan)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def effective_n(num: Any, den: Any, trials: Any = None) -> tuple[float, float]:
    """(ratio, effective number of trials) of ``Σ num / Σ den`` over documents, each
    document's ``num`` correct (or of a status) out of ``den`` correlated responses.

    The ratio estimator's variance over documents, ``v = n/(n-1) Σ (numᵢ - R·denᵢ)² / (Σ den)²``,
    against a binomial's ``R(1-R)/n_eff`` gives ``n_eff = R(1-R)/v`` (``Σ den / n_eff`` is
    the design effect), kept between Kish's ``(Σ den)²/Σ den²`` — every response of a document
    alike, the most two responses of one document can be correlated — and ``Σ trials``
    (default ``Σ den``: all responses independent).  Where the data cannot tell (R = 0 or 1,
    where every document agrees, or a single document), the lower end: the interval is then
    as wide as with one response per document.  Documents with ``den = 0`` are left out.

    >>> effective_n([1, 1], [1, 1]), effective_n([2, 2], [2, 2]), effective_n([1, 1], [2, 2])
    ((1.0, 2.0), (1.0, 2.0), (0.5, 4.0))
    """
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    keep = den > 0
    num, den = num[keep], den[keep]
    total = float(den.sum())
    if total <= 0:
        return (math.nan, 0.0)
    ratio = float(num.sum()) / total
    kish = total * total / float((den * den).sum())
    most = float(np.asarray(trials, dtype=float)[keep].sum()) if trials is not None else total
    n = len(den)
    if n < 2 or ratio <= 0.0 or ratio >= 1.0:
        return (ratio, kish)
    v = _ratio_variance(num, den, ratio)
    if v <= 0:  # every document at the same interior share: no between-document spread at all
        return (ratio, max(kish, most))
    return (ratio, min(max(ratio * (1 - ratio) / v, kish), max(kish, most)))


def _ratio_variance(num: Any, den: Any, ratio: float) -> float:
    """The variance of the ratio estimator ``Σ num / Σ den`` over n ≥ 2 documents,
    ``n/(n-1) Σ (numᵢ - R·denᵢ)² / (Σ den)²`` (each document a cluster of its ``den`` values)."""
    n, total = len(den), float(den.sum())
    return n / (n - 1) * float(((num - ratio * den) ** 2).sum()) / (total * total)


def mean_interval(num: Any, den: Any, alpha: float = 0.05) -> tuple[float, float]:
    """95 % interval of a mean of non-negative values (a length) ``Σ num / Σ den`` over
    documents, each document's ``num`` the sum of its ``den`` values: Student's t with n − 1
    degrees of freedom on the ratio estimator's variance over documents (:func:`effective_n`'s
    ``v``: a document's responses are one cluster; with one value per document exactly the
    one-sample t interval), its lower end not below 0.  Zero width only when every
    document's mean is the same (with one value each: every value equal); ``(nan, nan)``
    with fewer than two documents, where the spread cannot be estimated.

    >>> [round(x, 3) for x in mean_interval([4, 5, 6], [1, 1, 1])]  # 5 ± t(2) · 1/√3
    [2.516, 7.484]
    >>> mean_interval([5, 5, 5], [1, 1, 1]), mean_interval([10, 5], [2, 1])  # no spread at all
    ((5.0, 5.0), (5.0, 5.0))
    """
    from scipy.special import stdtrit  # scipy: lm-eval's, through scikit-learn

    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    keep = den > 0
    num, den = num[keep], den[keep]
    if len(den) < 2:
        return (math.nan, math.nan)
    ratio = float(num.sum()) / float(den.sum())
    half = float(stdtrit(len(den) - 1, 1 - alpha / 2)) * math.sqrt(_ratio_variance(num, den, ratio))
    return (max(0.0, ratio - half), ratio + half)


def design_wilson(num: Any, den: Any, trials: Any = None, z: float = Z95) -> tuple[float, float]:
    """Wilson interval of ``Σ num / Σ den`` over documents with the design-effect effective
    number of trials (:func:`effective_n`): exactly Wilson's when every document has one
    response, never of zero width at 0 or 1 (the percentile bootstrap there gives [1, 1]).

    >>> [round(x, 3) for x in design_wilson([1, 1], [1, 1])]  # 2 responses, both right
    [0.342, 1.0]
    >>> design_wilson([1, 0, 1], [1, 1, 1]) == wilson(2, 3)
    True
    """
    ratio, n = effective_n(num, den, trials)
    return wilson_at(ratio, n, z)


def _percentiles(values: list[float], alpha: float = 0.05) -> tuple[float, float]:
    values.sort()
    lo = values[math.floor(alpha / 2 * (len(values) - 1))]
    hi = values[math.ceil((1 - alpha / 2) * (len(values) - 1))]
    return (lo, hi)


#: index draws per chunk of resamples, to bound memory (8 bytes each)
_CHUNK = 4_000_000


def _resampled_means(values: Sequence[float], iters: int, rng: np.random.Generator) -> np.ndarray:
    """The means of ``iters`` bootstrap resamples of ``values``."""
    return _resampled_means_of([values], iters, rng)[0]


def _resampled_means_of(vectors: Sequence[Sequence[float]], iters: int, rng: np.random.Generator) -> list[np.ndarray]:
    """:func:`_resampled_means` of each of several equally long ``vectors`` with the same
    resamples (each one's means exactly as if it were resampled alone with ``rng``)."""
    xs = [np.asarray(v, dtype=float) for v in vectors]
    n = len(xs[0])
    per = max(1, _CHUNK // n)
    parts: list[list[np.ndarray]] = [[] for _ in xs]
    for i in range(0, iters, per):
        idx = rng.integers(0, n, size=(min(per, iters - i), n))
        for x, out in zip(xs, parts, strict=True):
            out.append(x[idx].mean(axis=1))
    return [np.concatenate(p) for p in parts]


def bootstrap_ci(values: Sequence[float], iters: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the mean; ``(nan, nan)`` for no values.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    if len(values) == 0:
        return (math.nan, math.nan)
    return _percentiles(_resampled_means(values, iters, np.random.default_rng(seed)).tolist())


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for the discordant counts ``b`` and ``c``: the exact
    integer ``Σ_{i<=min(b,c)} C(b+c, i)`` (each term from the one before, so linear in
    the count, not quadratic), divided once.

    >>> mcnemar_exact(3, 9), mcnemar_exact(0, 0)
    (0.14599609375, 1.0)
    """
    n = b + c
    if n == 0:
        return 1.0
    term = tail = 1  # C(n, 0)
    for i in range(min(b, c)):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        tail += term
    return min(1.0, 2 * (tail / 2**n))


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], iters: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of ``mean(b) - mean(a)`` for two independent samples.

    >>> bootstrap_diff_ci([0.0, 0.0], [1.0, 1.0])
    (1.0, 1.0)
    """
    if not a or not b:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(b, iters, rng) - _resampled_means(a, iters, rng)
    return _percentiles(diffs.tolist())


@dataclass(frozen=True)
class Estimate:
    """A value with its 95 % interval; ``n`` is what it is over: responses for the rates,
    documents for pass@1, valid-trace responses for rpass@1."""

    value: float
    lo: float
    hi: float
    n: int


def resampled_sums(columns: Any, iters: int = 2000, seed: int = 0, chunk_cells: int = 2_000_000) -> Iterator[Any]:
    """The column sums of ``iters`` resamples of the rows (documents) of ``columns`` (n x m),
    in chunks of resamples (arrays of chunk x m): one draw of documents for every column.

    >>> import numpy as np
    >>> [s.shape for s in resampled_sums(np.ones((3, 2)), iters=5)], float(next(resampled_sums(np.ones((3, 1))))[0, 0])
    ([(5, 2)], 3.0)
    """
    import numpy as np

    matrix = np.asarray(columns, dtype=float)
    n = len(matrix)
    rng = np.random.default_rng(seed)
    step = max(1, chunk_cells // max(n, 1))
    for start in range(0, iters, step):
        rows = min(step, iters - start)
        idx = rng.integers(0, n, size=(rows, n))
        # how often each document is drawn in each resample, then every column's sum at once
        counts = np.bincount((idx + np.arange(rows)[:, None] * n).ravel(), minlength=rows * n).reshape(rows, n)
        yield counts @ matrix


def newcombe_diff(
    a: float, a_ci: tuple[float, float], b: float, b_ci: tuple[float, float], phi: float = 0.0
) -> tuple[float, float]:
    """95 % interval of ``b - a`` from each proportion's own (Wilson) interval: Newcombe's
    square-and-add (1998, method 10; with ``phi``, the correlation of paired outcomes, his
    paired form), which keeps a width when both intervals do.

    >>> [round(x, 3) for x in newcombe_diff(0.375, (0.174, 0.630), 0.0, (0.0, 0.208))]
    [-0.63, -0.086]
    """
    (la, ua), (lb, ub) = a_ci, b_ci
    d = b - a
    lower = (b - lb) ** 2 - 2 * phi * (b - lb) * (ua - a) + (ua - a) ** 2
    upper = (ub - b) ** 2 - 2 * phi * (ub - b) * (a - la) + (a - la) ** 2
    return (max(-1.0, d - math.sqrt(max(lower, 0.0))), min(1.0, d + math.sqrt(max(upper, 0.0))))


def newcombe_paired(both: int, base_only: int, new_only: int, neither: int, z: float = Z95) -> tuple[float, float]:
    """95 % interval of Δ = p_new − p_base for one 0/1 outcome per document in each run
    (the paired 2×2 table: 1 in both, in the base only, in the new run only, in neither):
    Newcombe's method 10 (Stat. Med. 1998;17:2635–50), :func:`newcombe_diff` of the two
    margins' Wilson intervals with the table's phi, corrected as he does (a positive
    ``AD − BC`` less ``n/2``, not below 0; 0 when a margin is empty).  It keeps a width when
    no document changed, and holds 0 there; ``(nan, nan)`` for no document.

    >>> [round(x, 3) for x in newcombe_paired(100, 0, 0, 0)]  # 100 documents, right in both runs
    [-0.037, 0.037]
    >>> [round(x, 4) for x in newcombe_paired(59, 16, 6, 80)]  # Fagerland et al.'s Cavo et al. (2012) table
    [-0.1186, -0.0046]
    """
    n = both + base_only + new_only + neither
    if n <= 0:
        return (math.nan, math.nan)
    margins = (both + base_only, new_only + neither, both + new_only, base_only + neither)
    cross = both * neither - base_only * new_only
    phi = 0.0
    if 0 not in margins and (cross > n / 2 or cross < 0):
        phi = (cross - n / 2 if cross > 0 else cross) / math.sqrt(math.prod(margins))
    base, new = margins[0], margins[2]
    return newcombe_diff(base / n, wilson(base, n, z), new / n, wilson(new, n, z), phi)


#: per row, per document: (numerator base, denominator base, numerator new, denominator new)
PairedColumns = Mapping[str, Sequence[Any]]


def paired_ratio_test(
    cols: PairedColumns, iters: int = 2000, seed: int = 0, chunk_cells: int = 2_000_000
) -> dict[str, tuple[float, float, float]]:
    """Per row, the 95 % percentile interval of Δ = Σnb/Σdb − Σna/Σda and its two-sided
    paired bootstrap p-value, resampling documents (both runs together, the same resamples
    for every row; resamples where a side has no denominator are dropped): p is twice the
    smaller share of resampled Δ on either side of 0 (at least 1/iters), the test dual to
    the interval.  ``(nan, nan, nan)`` for a row without resamples.

    >>> r = paired_ratio_test({"x": ([1, 1, 1, 0], [1] * 4, [0, 0, 0, 0], [1] * 4)})["x"]
    >>> r[0] < r[1] < 0, r[2] < 0.01
    (True, True)
    """
    names = list(cols)
    if not names:
        return {}
    matrix = np.array([c for name in names for c in cols[name]], dtype=float).T  # n x 4·rows
    if matrix.shape[0] == 0:
        return dict.fromkeys(names, (math.nan, math.nan, math.nan))
    draws: list[list[Any]] = [[] for _ in names]
    for sums in resampled_sums(matrix, iters, seed, chunk_cells):  # the draws paired_deltas makes
        for j, out in enumerate(draws):
            na, da, nb, db = (sums[:, 4 * j + i] for i in range(4))
            ok = (da > 0) & (db > 0)
            out.append(nb[ok] / db[ok] - na[ok] / da[ok])
    result = {}
    for name, parts in zip(names, draws, strict=True):
        diffs = np.concatenate(parts)
        if not len(diffs):
            result[name] = (math.nan, math.nan, math.nan)
            continue
        lo, hi = (float(v) for v in np.quantile(diffs, [0.025, 0.975]))
        below, above = float((diffs <= 0).mean()), float((diffs >= 0).mean())
        result[name] = (lo, hi, min(1.0, max(2 * min(below, above), 1 / len(diffs))))
    return result
