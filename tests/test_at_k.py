"""The @k rows' per-document definitions (metrics/at_k.py) against plain combinatorics."""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_eval_tracecollapse.metrics.at_k import (
    EXACT_SUBSETS,
    all_valid_at_k,
    k_values,
    majority_correct,
    pass_at_k,
    valid_at_k,
)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_pass_valid_all_valid_are_the_subset_probabilities(n: int, data: st.DataObject) -> None:
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-12)
    assert valid_at_k(n, c, k) == pass_at_k(n, c, k)
    assert all_valid_at_k(n, c, k) == pytest.approx(math.comb(c, k) / math.comb(n, k), abs=1e-15)


def _brute_majority(answers: list[str], correct: list[float], k: int) -> float:
    first = {}
    for a, c in zip(answers, correct, strict=True):
        first.setdefault(a, c)
    picks = list(combinations(range(len(answers)), k))
    return sum(first[Counter(answers[i] for i in p).most_common(1)[0][0]] for p in picks) / len(picks)


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.sampled_from("abc"), min_size=1, max_size=9), data=st.data())
def test_majority_is_the_mean_over_every_subset(answers: list[str], data: st.DataObject) -> None:
    correct = [1.0 if a == "a" else 0.0 for a in answers]
    k = data.draw(st.integers(1, len(answers)))
    assert majority_correct(answers, correct, k) == pytest.approx(_brute_majority(answers, correct, k))


def test_hand_computed_document() -> None:
    """n = 4 responses: answers 7, 8, 7, 9 (7 right); k = 2: of the 6 pairs in order, (7,8)
    (7,7) (7,9) (7,9) vote 7 (by count or as the first), (8,7) and (8,9) vote 8: 4/6.
    pass@2 = 1 - C(2,2)/C(4,2) = 5/6."""
    answers, correct = ["7", "8", "7", "9"], [1.0, 0.0, 1.0, 0.0]
    assert majority_correct(answers, correct, 2) == pytest.approx(4 / 6)
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)
    assert majority_correct(answers, correct, 4) == 1.0  # 7 twice
    assert majority_correct(["8", "7"], [0.0, 1.0], 2) == 0.0  # a tie: the first answer


def test_many_subsets_are_resampled_alike_for_every_document() -> None:
    n, k = 64, 8
    assert math.comb(n, k) > EXACT_SUBSETS
    answers = ["7"] * 40 + ["8"] * 24
    value = majority_correct(answers, [1.0] * 40 + [0.0] * 24, k)
    assert 0.6 < value < 1.0
    assert value == majority_correct(answers, [1.0] * 40 + [0.0] * 24, k)  # deterministic


def test_k_values() -> None:
    assert k_values(1, None) == [] and k_values(64, None) == [1, 2, 4, 8, 16, 32, 64]
    assert k_values(10, [16, 4, 1, 4]) == [1, 4]
    with pytest.raises(ValueError, match="tc_k must be a list of integers >= 1"):
        k_values(8, [0, 2])
