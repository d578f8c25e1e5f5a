"""Math grading: math-verify on the final claim, last-number fallback, counted timeouts."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from lm_eval_tracecollapse.scoring.math_grade import grade_math, last_number, math_timeout_metric, math_verify_metric


@pytest.mark.parametrize(
    ("answer", "gold", "correct"),
    [
        ("$1,200.00", "1200", True),
        ("They raised $1,200.00 in total.", "1200", True),
        ("\\boxed{72}", "72", True),
        ("The answer is 72.", "72", True),
        ("#### 72", "72", True),
        ("Answer: 72", "72", True),
        ("**72**", "72", True),
        ("I first got 70 and then checked: the answer is 72.", "72", True),
        ("The answer is 70. I am sure.", "72", False),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("The answer is 1/2", "0.5", True),
        ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", True),
        ("The answer is 40,000.", "40,000", True),
        ("The answer is 71.", "72", False),
        ("", "72", False),
        ("no number here", "72", False),
    ],
)
def test_grade(answer: str, gold: str, correct: bool) -> None:
    assert grade_math(answer, gold).correct is correct


def test_last_number() -> None:
    assert last_number("Kim has $1,200.00 and 3.5 bags.") == Decimal("3.5")
    assert last_number("costs $1,200.") == Decimal("1200")
    assert last_number("-7 degrees") == Decimal("-7")
    assert last_number("nothing") is None


@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
def test_pathological_expression_times_out_and_is_counted() -> None:
    start = time.perf_counter()
    grade = grade_math("\\boxed{9^{9^{9^{9}}}}", "1", timeout=1)
    assert (grade.correct, grade.timed_out) == (False, True)
    assert time.perf_counter() - start < 10
    assert math_timeout_metric(references=["1"], predictions=["\\boxed{9^{9^{9^{9}}}}"], timeout=1) == {
        "math_timeout": 1.0
    }
    assert math_verify_metric(references=["1"], predictions=["\\boxed{9^{9^{9^{9}}}}"], timeout=1) == {
        "math_verify": 0.0
    }


def test_works_off_the_main_thread_and_needs_strings() -> None:
    results: list[bool] = []
    t = threading.Thread(target=lambda: results.append(grade_math("\\boxed{1}", "1").correct))
    t.start()
    t.join()
    assert results == [True]  # graded in a worker process, bounded the same way
    with pytest.raises(TypeError, match="must be str"):
        grade_math(None, "1")  # type: ignore[arg-type]
