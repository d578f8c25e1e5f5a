"""The result of parsing one response: :class:`Trace` and :class:`TraceStatus`.

Example:
    >>> t = Trace(TraceStatus.VALID, "6*7=42", "42", "think")
    >>> t.status.value, t.reasoning, t.answer
    ('valid', '6*7=42', '42')
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["Trace", "TraceStatus"]


class TraceStatus(str, Enum):
    """The four mutually exclusive trace statuses (``str`` values, so JSON-friendly).

    >>> str(TraceStatus.VALID), TraceStatus("empty").name
    ('valid', 'EMPTY')
    """

    VALID = "valid"
    EMPTY = "empty"
    MISSING = "missing"
    TRUNCATED = "truncated"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


#: marks a part that is cut from the response only when first read
_LAZY: Any = object()


class Trace:
    """A parsed response.  Immutable; compares by value.

    Attributes:
        status: a :class:`TraceStatus`.
        reasoning: trace content, stripped; ``None`` iff the status is missing.
        answer: text after the trace, stripped; ``""`` when truncated; the whole
            response (stripped) when missing.
        fmt: name of the delimiter family that matched, or ``None``.
        prefilled: the parse assumed the opening delimiter was in the prompt.

    ``reasoning`` and ``answer`` are cut from the response only when first read, so
    scoring millions of long responses does not copy traces nobody looks at.  The
    public attributes are read-only.

    >>> Trace(TraceStatus.EMPTY, "", "42", "think").is_valid
    False
    """

    # spans are plain ints (not tuples) so a Trace is one object for the garbage
    # collector to track, which matters when millions are kept in a list
    __slots__ = ("_a0", "_a1", "_answer", "_fmt", "_prefilled", "_r0", "_r1", "_reasoning", "_src", "_status")

    _status: TraceStatus
    _src: str
    _reasoning: str | None
    _answer: str
    _r0: int
    _r1: int
    _a0: int
    _a1: int
    _fmt: str | None
    _prefilled: bool

    def __init__(
        self,
        status: TraceStatus,
        reasoning: str | None,
        answer: str,
        fmt: str | None,
        prefilled: bool = False,
    ) -> None:
        self._status = TraceStatus(status)
        self._src = ""
        self._reasoning = reasoning
        self._answer = answer
        self._r0 = self._r1 = self._a0 = self._a1 = 0
        self._fmt = fmt
        self._prefilled = prefilled

    @property
    def status(self) -> TraceStatus:
        """One of the four :class:`TraceStatus` values."""
        return self._status

    @property
    def fmt(self) -> str | None:
        """Name of the delimiter family that matched, or ``None``."""
        return self._fmt

    @property
    def prefilled(self) -> bool:
        """The parse assumed the opening delimiter was in the prompt."""
        return self._prefilled

    @property
    def reasoning(self) -> str | None:
        """Trace content, stripped; ``None`` iff the status is missing."""
        r = self._reasoning
        if r is _LAZY:
            r = self._reasoning = self._src[self._r0 : self._r1].strip()
        return r

    @property
    def raw_reasoning(self) -> str | None:
        """The trace content exactly as written (whitespace kept), or ``None`` when missing."""
        if self._reasoning is None:
            return None
        if self._src and self._r1 > self._r0:
            return self._src[self._r0 : self._r1]
        return self.reasoning

    @property
    def answer(self) -> str:
        """Text after the trace, stripped."""
        a = self._answer
        if a is _LAZY:
            a = self._answer = self._src[self._a0 : self._a1].strip()
        return a

    @property
    def raw_answer(self) -> str:
        """The answer part exactly as the task's own filters must see it: what a model that
        did not reason would have generated.

        * missing: the whole response, character for character;
        * valid/empty: the text after the closing delimiter (and any re-emitted ones), less
          the separator a template puts there — the whitespace up to the line the answer
          starts on, or the spaces before it on the delimiter's own line.  The indentation
          of the answer's first line and everything after it (trailing whitespace
          included) are kept: ``"</think>\\n    return a\\n"`` gives ``"    return a\\n"``;
        * truncated: ``""``.

        :attr:`answer` is this, stripped.

        >>> _trace(TraceStatus.MISSING, " 42 ", -1, -1, None, 0, 4, None, False).raw_answer
        ' 42 '
        >>> _trace(TraceStatus.VALID, "x</think>\\n\\n    return a\\n", 0, 1, None, 9, 24, None, False).raw_answer
        '    return a\\n'
        """
        a = self._answer
        if a is not _LAZY:
            return a  # a hand-built or truncated trace
        raw = self._src[self._a0 : self._a1]
        if self._status is TraceStatus.MISSING:
            return raw  # the whole response, as the stock task would have read it
        return _after_separator(raw)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle only the part of the response the spans cover, spans kept lazy, so
        :attr:`raw_reasoning` and :attr:`raw_answer` keep their whitespace and nothing
        is cut or copied twice (data-parallel lm-eval gathers results by pickling).

        >>> import copy
        >>> from lm_eval_tracecollapse import parse_trace
        >>> t = parse_trace("<think>\\n  step 1\\n</think>\\n    return a  ")
        >>> u = copy.deepcopy(t)  # the same __reduce__ as pickle
        >>> u == t, u.raw_reasoning, u.raw_answer == t.raw_answer
        (True, '\\n  step 1\\n', True)
        """
        if not self._src:  # built by hand: no response behind it
            return (Trace, (self._status, self._reasoning, self._answer, self._fmt, self._prefilled))
        lazy = self._answer is _LAZY
        spans = ([self._r0, self._r1] if self._reasoning is not None else []) + ([self._a0, self._a1] if lazy else [])
        lo, hi = (min(spans), max(spans)) if spans else (0, 0)
        r0, r1 = (self._r0 - lo, self._r1 - lo) if self._reasoning is not None else (-1, -1)
        a0, a1 = (self._a0 - lo, self._a1 - lo) if lazy else (0, 0)
        answer = None if lazy else self._answer
        return (_trace, (self._status, self._src[lo:hi], r0, r1, answer, a0, a1, self._fmt, self._prefilled))

    def _key(self) -> tuple[object, ...]:
        return (self.status, self.reasoning, self.answer, self.fmt, self.prefilled)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        r, a = self.reasoning, self.answer
        r = r if r is None or len(r) <= 40 else r[:37] + "..."
        a = a if len(a) <= 40 else a[:37] + "..."
        return f"Trace(status={self.status.value!r}, reasoning={r!r}, answer={a!r}, fmt={self.fmt!r})"

    @property
    def is_valid(self) -> bool:
        """True for a closed, non-blank trace."""
        return self.status is TraceStatus.VALID

    @property
    def has_answer(self) -> bool:
        """True when the answer part is non-blank."""
        return bool(self.answer)

    def as_dict(self) -> dict[str, object]:
        """Plain, JSON-serialisable form."""
        return {
            "status": self.status.value,
            "reasoning": self.reasoning,
            "answer": self.answer,
            "fmt": self.fmt,
            "prefilled": self.prefilled,
        }


_new = Trace.__new__


def _after_separator(text: str) -> str:
    """``text`` less its leading separator: the whitespace before the line its first
    non-blank character is on (all leading whitespace when no line break precedes it).

    >>> _after_separator("\\n\\n  x \\n"), _after_separator("  x"), _after_separator("\\r\\n\\tx")
    ('  x \\n', 'x', '\\tx')
    """
    lead = len(text) - len(text.lstrip())
    if not lead:
        return text
    newline = text.rfind("\n", 0, lead)
    return text[newline + 1 :] if newline >= 0 else text[lead:]


def _trace(
    status: TraceStatus, src: str, r0: int, r1: int, answer: str | None, a0: int, a1: int, fmt: str | None, pre: bool
) -> Trace:
    """Build a Trace (the hot path).  Reasoning is ``src[r0:r1]`` (``r0 < 0``: none);
    the answer is ``answer`` or, when that is None, ``src[a0:a1]``; both stripped."""
    t = _new(Trace)
    t._status = status
    t._src = src
    t._reasoning = _LAZY if r0 >= 0 else None
    t._r0 = r0
    t._r1 = r1
    t._answer = _LAZY if answer is None else answer
    t._a0 = a0
    t._a1 = a1
    t._fmt = fmt
    t._prefilled = pre
    return t
