"""Multiple-choice letters from the answer part (GPQA / SciKnowEval style).

:func:`extract_letter` reads the chosen option from an answer, trying these rules in
order and returning the first hit (``None`` when the answer commits to nothing):

1. ``\\boxed{C}`` (also ``\\boxed{\\text{C}}``, ``\\boxed{(C)}``) — the last one;
2. an explicit statement — "the answer is (C)", "Answer: C", "correct option is C",
   "option C", "choice C" — the last one; a lowercase letter counts only when nothing
   word-like follows it ("the answer is a molecule" is not ``A``);
3. bold — ``**C**``, ``**(C)**``, ``**C.**``, ``**C: text**`` — the last one;
4. the whole answer is one letter — ``C``, ``(C)``, ``C.``, ``C)``;
5. a lone trailing letter — "…so the correct one is C." — unless the tail names
   several letters ("B or C");
6. option text echoed back — the answer ends with (or is) one option's text, or names
   exactly one option's text — when the options are known.

Letters are only read as standalone tokens (never inside a word such as "Carbon"), and
a capital "A" in the middle of a sentence ("A molecule with…") is never taken.

Example:
    >>> extract_letter("The answer is (C).")
    'C'
    >>> extract_letter("A molecule with two rings fits best: option B.")
    'B'
    >>> extract_letter("It is either B or C.") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["INVALID", "extract_letter", "options_from_text"]

INVALID = "[invalid]"


def _letter_class(letters: str) -> str:
    return "[" + re.escape(letters) + "]"


def _patterns(letters: str) -> list[re.Pattern[str]]:
    up = _letter_class(letters)
    low = _letter_class(letters.lower())
    return [
        re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?\(?(" + up + r")\)?\s*\}?\s*\}"),
        # a capital letter as a token, or a lowercase one with nothing word-like after it
        re.compile(
            r"(?i:answer(?:\s+is)?|correct\s+(?:answer|option|choice)(?:\s+is)?|final\s+answer(?:\s+is)?|"
            r"option|choice)\s*[:=]?\s*(?:\*\*)?\(?(?:(" + up + r")|(" + low + r")(?=\)?\s*(?:[.!,;:]|$)))"
            r"\)?(?:\*\*)?(?![\w'])"
        ),
        re.compile(r"\*\*\s*\(?(" + up + r")\)?\s*[.:)]?[^*\n]{0,80}\*\*"),
    ]


def options_from_text(text: str, letters: str = "ABCD") -> dict[str, str]:
    """Option texts listed as ``A: …`` / ``A) …`` / ``(A) …`` / ``A. …`` lines.

    >>> options_from_text("Q?\\n\\nA: 9\\nB: 43\\nC: 35\\nD: 39")
    {'A': '9', 'B': '43', 'C': '35', 'D': '39'}
    """
    pattern = re.compile(r"^\s*\(?(" + _letter_class(letters) + r")[):.]\s*(.+?)\s*$", re.MULTILINE)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def _norm(s: str) -> str:
    return re.sub(r"[\s*_`.,;:!?()\"']+", " ", s).strip().lower()


def _by_option_text(answer: str, options: Mapping[str, str]) -> str | None:
    a = _norm(answer)
    if not a:
        return None
    texts = {k: _norm(v) for k, v in options.items() if _norm(v)}
    exact = [k for k, v in texts.items() if a == v or a.endswith(" " + v)]
    if len(exact) == 1:
        return exact[0]
    # named inside the answer: only options long enough not to match by accident
    named = [k for k, v in texts.items() if len(v) >= 4 and re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", a)]
    return named[0] if len(named) == 1 else None


def extract_letter(answer: str, letters: str = "ABCD", options: Mapping[str, str] | None = None) -> str | None:
    """The option letter ``answer`` commits to, or None (see the module docstring)."""
    if not isinstance(answer, str):
        raise TypeError(f"extract_letter: answer must be a str, got {type(answer).__name__}")
    for pattern in _patterns(letters):
        found = pattern.findall(answer)
        if found:
            last = found[-1]
            return ("".join(last) if isinstance(last, tuple) else last).upper()
    up = _letter_class(letters)
    whole = re.fullmatch(r"\s*(?:\*\*)?\(?(" + up + r")\)?[.:)]?(?:\*\*)?\s*", answer)
    if whole:
        return whole.group(1)
    tail = answer.strip()[-40:]
    trailing = re.search(r"(?<![\w'])\(?(" + up + r")\)?[.!)]?\s*$", tail)
    if trailing:
        several = re.findall(r"(?<![\w'])(" + up + r")(?![\w'])", tail)
        if len(set(several)) == 1:
            return trailing.group(1)
        return None
    if options:
        return _by_option_text(answer, options)
    return None
