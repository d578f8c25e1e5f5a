"""The graders' lm-eval filters: ``mcq_letter`` and ``code_exec`` (their logic is in :mod:`..scoring`).

Example:
    >>> MCQLetterFilter().apply([["The answer is (B)."]], [{}])
    [['B']]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from lm_eval.api.filter import Filter

from ..scoring.code import extract_code, run_many, with_prompt
from ..scoring.mcq import INVALID, extract_letter, options_from_text

__all__ = ["CodeExecFilter", "MCQLetterFilter"]


class MCQLetterFilter(Filter):
    """lm-eval filter ``mcq_letter``: each response → its option letter, or ``[invalid]``.

    Args:
        letters: the option letters (default ``ABCD``).
        options_field: document field whose ``A: …`` lines give the option texts (for
            rule 6); ``null`` to skip.
    """

    def __init__(self, letters: str = "ABCD", options_field: str | None = "prompt") -> None:
        if not isinstance(letters, str) or not letters.isalpha() or not letters.isupper():
            raise ValueError(f"mcq_letter: letters must be capital letters like 'ABCD', got {letters!r}")
        self.letters = letters
        self.options_field = options_field

    def apply(self, resps: Iterable[Any], docs: Sequence[dict]) -> list[list[str]]:
        out = []
        for rs, doc in zip(resps, docs, strict=True):
            text = doc.get(self.options_field) if self.options_field else None
            options = options_from_text(text, self.letters) if isinstance(text, str) else None
            out.append([extract_letter(str(r), self.letters, options) or INVALID for r in rs])
        return out


class CodeExecFilter(Filter):
    """lm-eval filter ``code_exec``: each response → the status of its code's test run.

    Put it in ``trace_status``'s ``then:`` so only the answer part's code runs, and score
    with ``exact_match`` against ``doc_to_target: pass``.  Statuses: see :class:`CodeResult`.

    Args:
        test_field: document field with the test code (a list, as in MBPP's
            ``test_list``, is joined line by line).
        entry_point_field: field naming the function passed to ``check()`` (``null``:
            the tests call it themselves).
        prompt_field: field holding a code prompt (HumanEval) to put before an answer
            that does not define the entry point itself (a completion).
        timeout / memory_mb / workers: per-problem wall-clock seconds, address-space
            cap, and how many problems run at once (default: CPU count).
    """

    def __init__(
        self,
        test_field: str = "test_code",
        entry_point_field: str | None = "entry_point",
        prompt_field: str | None = None,
        timeout: float = 10.0,
        memory_mb: int = 512,
        workers: int | None = None,
    ) -> None:
        self.test_field, self.entry_point_field, self.prompt_field = test_field, entry_point_field, prompt_field
        self.timeout, self.memory_mb, self.workers = float(timeout), int(memory_mb), workers

    def _problem(self, response: object, doc: dict) -> tuple[str, str, str | None]:
        if self.test_field not in doc:
            raise ValueError(f"code_exec: the document has no {self.test_field!r} field (set test_field)")
        tests = doc[self.test_field]
        tests = "\n".join(tests) if isinstance(tests, list) else str(tests)
        entry = str(doc[self.entry_point_field]) if self.entry_point_field else None
        code = extract_code(str(response))
        if not code.strip():
            return "", tests, entry  # no answer (a truncated trace): no_code, not the bare prompt run
        defines = rf"^[^\S\n]*def[^\S\n]+{re.escape(entry or '')}[^\S\n]*\("  # linear: no \s* across lines
        if self.prompt_field and entry and not re.search(defines, code, re.MULTILINE):
            # a completion: its indentation may have been stripped with the answer part
            code = with_prompt(str(doc.get(self.prompt_field, "")), code, entry)
        return code, tests, entry

    def apply(self, resps: Iterable[Any], docs: Sequence[dict]) -> list[list[str]]:
        resps = list(resps)
        shape = [len(rs) for rs in resps]
        problems = [self._problem(r, doc) for rs, doc in zip(resps, docs, strict=True) for r in rs]
        results = iter(run_many(problems, self.workers, self.timeout, self.memory_mb))
        return [[next(results).status for _ in range(k)] for k in shape]
