"""Graders for the answer part: math (:mod:`.math_grade`: math-verify + sympy, with a
time bound), multiple-choice letters (:mod:`.mcq`) and generated code run in a sandbox
(:mod:`.code` over :mod:`.sandbox`, imported on use: it is Linux-only).

Registered with lm-eval by :func:`lm_eval_tracecollapse.harness.registry.register`: metrics
``math_verify``, ``math_timeout`` and ``code_timeout``, filters ``mcq_letter`` and
``code_exec`` (their lm-eval filter classes: :mod:`..harness.grader_filters`).
"""

from .math_grade import MathGrade, grade_math, last_number
from .mcq import extract_letter, options_from_text

__all__ = ["MathGrade", "extract_letter", "grade_math", "last_number", "options_from_text"]
