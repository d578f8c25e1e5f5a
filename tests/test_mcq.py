"""Letter extraction on hand-written answer parts, traps included."""

from __future__ import annotations

import pytest

from lm_eval_tracecollapse.harness.grader_filters import MCQLetterFilter
from lm_eval_tracecollapse.scoring.mcq import extract_letter, options_from_text

OPTIONS = {"A": "9", "B": "43", "C": "Clc1cccc(C2CO2)c1", "D": "benzene ring"}

CASES = [
    # explicit statements
    ("The answer is C", "C"),
    ("The answer is (C).", "C"),
    ("Answer: (C)", "C"),
    ("Answer: C", "C"),
    ("answer: c", "C"),
    ("The correct option is B.", "B"),
    ("The correct answer is D", "D"),
    ("Final answer: A", "A"),
    ("I pick option D.", "D"),
    ("choice B", "B"),
    ("The answer is **C**.", "C"),
    ("First I thought the answer is A, but re-checking, the answer is B.", "B"),
    # boxed
    ("\\boxed{C}", "C"),
    ("So we get $\\boxed{\\text{B}}$.", "B"),
    ("\\boxed{(A)}", "A"),
    ("\\boxed{A} ... no wait, \\boxed{D}", "D"),
    # bold
    ("**C**", "C"),
    ("**(B)**", "B"),
    ("The best fit is **D: benzene ring**.", "D"),
    ("**C.** Because the epoxide forms.", "C"),
    # the whole answer is a letter
    ("C", "C"),
    ("(B)", "B"),
    ("D.", "D"),
    ("A)", "A"),
    ("  B  ", "B"),
    # lone trailing letter
    ("Comparing the bond counts, the closest is C", "C"),
    ("So it must be (A).", "A"),
    ("A molecule with two rings fits best, which is D", "D"),
    ("Therefore: B", "B"),
    # option text echoed back
    ("43", "B"),
    ("The product is Clc1cccc(C2CO2)c1", "C"),
    ("It contains a benzene ring, so that one.", "D"),
    # traps: nothing committed
    ("Carbon and Chlorine are present.", None),
    ("A molecule like this is stable.", None),
    ("It is either B or C.", None),
    ("Between A and D I cannot decide", None),
    ("The answer is a molecule with two rings.", None),
    ("", None),
    ("I don't know.", None),
    ("Because of CO2 release", None),
    ("The options are A, B, C and D.", None),
    ("Answer: I am not sure", None),
    ("DNA is involved", None),
    ("The answer isn't obvious", None),
]


@pytest.mark.parametrize(("answer", "letter"), CASES)
def test_extract_letter(answer: str, letter: str | None) -> None:
    assert extract_letter(answer, options=OPTIONS) == letter


def test_enough_cases() -> None:
    assert len(CASES) >= 40


def test_options_from_prompt_and_filter() -> None:
    prompt = "Which?\n\nA: 9\nB: 43\n(C) 35\nD) 39"
    assert options_from_text(prompt) == {"A": "9", "B": "43", "C": "35", "D": "39"}
    out = MCQLetterFilter().apply([["The answer is B", "35", "hmm"]], [{"prompt": prompt}])
    assert out == [["B", "C", "[invalid]"]]
    with pytest.raises(ValueError, match="capital letters"):
        MCQLetterFilter(letters="abcd")
    with pytest.raises(TypeError, match="must be a str"):
        extract_letter(None)  # type: ignore[arg-type]
