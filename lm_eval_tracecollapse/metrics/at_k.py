"""Rows for several samples per document: pass@k, rpass@k, maj@k, rmaj@k, valid@k, all_valid@k.

With ``repeats: n`` a document has n responses; each has a trace status, an extracted
answer and a correctness (the task's own scoring of that response alone).  Per document,
for a k <= n (c correct, v valid-trace responses, c_v correct among them):

* ``pass@k`` — the unbiased estimator 1 − C(n−c, k)/C(n, k) (the chance that k draws
  without replacement hold a correct one), computed as HF ``code_eval`` computes it, so on
  ``humaneval`` it equals lm-eval's own ``pass@k`` on the same samples;
* ``rpass@k`` — the same over the valid-trace responses only (v and c_v); N/A when v < k
  (``rpass@k_coverage``: the share of documents with at least k valid responses);
* ``maj@k`` — the correctness of the majority answer of k responses (ties: the answer met
  first, as lm-eval's ``majority_vote`` filter breaks them), averaged over every k-subset
  when there are at most :data:`EXACT_SUBSETS` of them, else over :data:`RESAMPLES` seeded
  draws (the same draws for every document, so shards agree); ``rmaj@k`` over the
  valid-trace responses (N/A when v < k);
* ``valid@k`` / ``all_valid@k`` — the chance that at least one / all of k draws have a
  valid trace: 1 − C(n−v, k)/C(n, k) and C(v, k)/C(n, k).

``avg@k`` (the mean correctness of the n samples) is ``pass@1``: no row of its own.

Example:
    >>> pass_at_k(4, 1, 2), valid_at_k(4, 2, 2), all_valid_at_k(4, 2, 2)
    (0.5, 0.8333333333333333, 0.16666666666666666)
    >>> majority_correct(["7", "8", "7"], [1.0, 0.0, 1.0], 3)
    1.0
    >>> k_values(8, None), k_values(6, [1, 4, 16])
    ([1, 2, 4, 8], [1, 4])
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations

from .pooled import NotAvailable, Weighted

__all__ = [
    "EXACT_SUBSETS",
    "RESAMPLES",
    "all_valid_at_k",
    "at_k_names",
    "at_k_values",
    "count_values",
    "is_at_k",
    "k_values",
    "majority_correct",
    "pass_at_k",
    "valid_at_k",
]

#: maj@k averages over every k-subset up to this many of them, else over RESAMPLES draws
EXACT_SUBSETS = 2000
RESAMPLES = 1000


def k_values(repeats: int, chosen: Sequence[int] | int | None) -> list[int]:
    """The k's of the @k rows for ``repeats`` responses per document: ``chosen`` (metadata
    ``tc_k``: a list, or one k) up to ``repeats``, default the powers of two up to it; none
    below 2 repeats.

    >>> k_values(8, 4), k_values(1, [1, 2])
    ([4], [])
    """
    if repeats < 2:
        return []
    if chosen is None:
        return [2**i for i in range(repeats.bit_length()) if 2**i <= repeats]
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        chosen = [chosen]
    if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence):
        raise ValueError(f"tc_k must be a list of integers >= 1, got {chosen!r}")
    bad = [k for k in chosen if isinstance(k, bool) or not isinstance(k, int) or k < 1]
    if bad:
        raise ValueError(f"tc_k must be a list of integers >= 1, got {list(chosen)!r}")
    return sorted({k for k in chosen if k <= repeats})


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 − C(n−c, k)/C(n, k), as HF ``code_eval``'s ``estimate_pass_at_k`` computes it.

    >>> pass_at_k(10, 0, 5), pass_at_k(10, 10, 5), round(pass_at_k(10, 3, 1), 6)
    (0.0, 1.0, 0.3)
    """
    _check(n, c, k)
    if n - c < k:
        return 1.0
    import numpy as np

    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def valid_at_k(n: int, v: int, k: int) -> float:
    """The chance that at least one of k draws (of n, v valid) has a valid trace."""
    return pass_at_k(n, v, k)


def all_valid_at_k(n: int, v: int, k: int) -> float:
    """The chance that all k draws (of n, v valid) have a valid trace: C(v, k)/C(n, k)."""
    _check(n, v, k)
    return math.comb(v, k) / math.comb(n, k)


def majority_correct(answers: Sequence[Hashable], correct: Sequence[float], k: int) -> float:
    """maj@k of one document: the mean correctness of the majority answer of k of its
    responses (in their order; ties to the answer met first), over the k-subsets.

    >>> majority_correct(["a", "b"], [1.0, 0.0], 2)  # a tie: the first answer wins
    1.0
    >>> majority_correct(["a", "b", "b"], [1.0, 0.0, 0.0], 1)
    0.3333333333333333
    """
    n = len(answers)
    if len(correct) != n:
        raise ValueError(f"maj@{k}: {len(correct)} correctness values for {n} answers")
    _check(n, 0, k)
    # an answer's correctness: the first response that gave it (the vote picks an answer)
    score: dict[Hashable, float] = {}
    for a, c in zip(answers, correct, strict=True):
        score.setdefault(a, c)
    subsets = math.comb(n, k)
    if subsets <= EXACT_SUBSETS:
        picks: Sequence[Sequence[int]] = list(combinations(range(n), k))
    else:
        rng = random.Random(f"maj@{k}/{n}")  # the same draws for every document of this n
        picks = [sorted(rng.sample(range(n), k)) for _ in range(RESAMPLES)]
    total = 0.0
    for pick in picks:
        vote = Counter(answers[i] for i in pick).most_common(1)[0][0]
        total += score[vote]
    return total / len(picks)


_NAME = re.compile(r"(?:pass|rpass|maj|rmaj|valid|all_valid)@([0-9]+)(?:_coverage)?")
_KINDS = ("pass", "rpass", "rpass_coverage", "maj", "rmaj", "valid", "all_valid")


def _row(kind: str, k: int) -> str:
    return f"rpass@{k}_coverage" if kind == "rpass_coverage" else f"{kind}@{k}"


def at_k_names(ks: Sequence[int]) -> dict[str, bool]:
    """The @k row names for ``ks`` (k = 1 left out: pass@1, rpass@1 and valid_rate are its
    rows), each with ``higher_is_better``.

    >>> list(at_k_names([1, 2]))
    ['pass@2', 'rpass@2', 'rpass@2_coverage', 'maj@2', 'rmaj@2', 'valid@2', 'all_valid@2']
    """
    return {_row(kind, k): True for k in ks if k >= 2 for kind in _KINDS}


def is_at_k(name: str) -> bool:
    """Whether ``name`` is an @k row (k >= 2), e.g. ``maj@8`` or ``rpass@4_coverage``.

    >>> is_at_k("maj@8"), is_at_k("rpass@4_coverage"), is_at_k("pass@1"), is_at_k("pass@1_empty")
    (True, True, False, False)
    """
    m = _NAME.fullmatch(name)
    return m is not None and int(m.group(1)) >= 2


def count_values(n: int, v: int, ks: Sequence[int], c: int | None = None, c_v: int | None = None) -> dict[str, float]:
    """One document's @k rows that its counts give — every row but ``maj@k``/``rmaj@k``, which
    need each response's answer — from n responses, v of them valid, c correct (None: no 0/1
    correctness: ``valid@k``/``all_valid@k`` only) and c_v correct among the valid ones (None:
    unknown, no ``rpass@k`` rows).  ``analyze`` computes the rows of a samples line with it (the
    line keeps these counts, not each response's answer).

    >>> v = count_values(4, 3, [2, 4], c=3, c_v=1)
    >>> round(v["pass@2"], 4), round(v["rpass@2"], 4), v["rpass@4"], v["rpass@4_coverage"], v["all_valid@4"]
    (1.0, 0.6667, N/A, 0.0, 0.0)
    """
    out: dict[str, float] = {}
    for k in ks:
        if k < 2 or k > n:
            continue
        out[f"valid@{k}"] = Weighted(valid_at_k(n, v, k), 1)
        out[f"all_valid@{k}"] = Weighted(all_valid_at_k(n, v, k), 1)
        if c is None:
            continue
        out[f"pass@{k}"] = Weighted(pass_at_k(n, c, k), 1)
        if c_v is None:
            continue
        out[f"rpass@{k}_coverage"] = Weighted(float(v >= k), 1)
        out[f"rpass@{k}"] = Weighted(pass_at_k(v, c_v, k), 1) if v >= k else NotAvailable()
    return out


def at_k_values(
    answers: Sequence[Hashable], valid: Sequence[bool], correct: Sequence[float] | None, ks: Sequence[int]
) -> dict[str, float]:
    """One document's @k rows (per-document values weighted 1, as :class:`~.pooled.Weighted`,
    or ``N/A``) from its responses' answers, whether each has a valid trace, and their
    correctness (0/1; None or fractional: only ``valid@k``/``all_valid@k``): :func:`count_values`
    of its counts, and ``maj@k``/``rmaj@k`` of its answers.

    >>> v = at_k_values(["7", "8", "7", "9"], [True, True, False, True], [1.0, 0.0, 1.0, 0.0], [2, 4])
    >>> round(v["pass@2"], 4), round(v["maj@2"], 4), round(v["rpass@2"], 4), v["rpass@4"], v["valid@4"]
    (0.8333, 0.6667, 0.6667, N/A, 1.0)
    """
    n = len(answers)
    if len(valid) != n or (correct is not None and len(correct) != n):
        raise ValueError(f"@k rows: {n} answers, {len(valid)} statuses, {len(correct or [])} correctness values")
    v = sum(valid)
    if correct is None or not all(c in (0.0, 1.0) for c in correct):
        return count_values(n, v, ks)
    picked = [i for i in range(n) if valid[i]]
    out = count_values(n, v, ks, int(sum(correct)), int(sum(correct[i] for i in picked)))
    for k in ks:
        if k < 2 or k > n:
            continue
        out[f"maj@{k}"] = Weighted(majority_correct(answers, correct, k), 1)
        out[f"rmaj@{k}"] = NotAvailable() if v < k else Weighted(majority_correct(
            [answers[i] for i in picked], [correct[i] for i in picked], k), 1)  # fmt: skip
    return out


def _check(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"@k rows need 0 <= count <= n and 1 <= k <= n, got n={n}, count={c}, k={k}")
