"""Math answers: HF ``math-verify`` (sympy + latex2sympy), a last-number fallback, timeouts.

:func:`grade_math` scores the **answer part** of a response against a gold answer:

1. the answer is narrowed to its final claim when it has one — ``\\boxed{…}``,
   "The answer is …", "#### …", "Answer: …" (the last such anchor wins);
2. ``math-verify`` parses that text and the gold and checks equivalence
   (``1/2`` = ``0.5`` = ``\\frac12``, ``$1,200.00`` = ``1200``);
3. when math-verify finds nothing to parse, the last number in the answer is compared
   numerically with the gold (plain GSM8K numbers: ``$1,200.00``, ``72.``, ``1,200``).

The whole comparison (parsing both sides and verifying) is bounded by ``timeout``
seconds, any number > 0 (fractions honoured; 0, negatives, NaN and non-numbers are
refused): in the main thread by a SIGALRM interval timer (math-verify's own integer
``signal.alarm`` guard is switched off — it rounds 0.5 s down to "no limit"), on any
other thread in a worker process that grades with the same timer and is killed if it
does not answer by the deadline (plus a short grace).  A timeout scores as wrong
and is reported in :class:`MathGrade`; the registered metrics are ``math_verify``
(correct) and ``math_timeout`` (share of comparisons that timed out), so a timeout
is never hidden.

Example:
    >>> grade_math("They raised $1,200.00 in total.", "1200").correct
    True
    >>> grade_math("\\\\boxed{\\\\frac{1}{2}}", "0.5").correct
    True
    >>> grade_math("The answer is 71.", "72").correct
    False
"""

from __future__ import annotations

import atexit
import json
import logging
import math as _math
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from .memo import once

__all__ = ["MathGrade", "grade_math", "last_number", "math_timeout_metric", "math_verify_metric"]

# the final claim: the last of these anchors, up to the end of its line
_ANCHOR = re.compile(r"(?i)(?:the\s+(?:final\s+)?answer\s+is|####|answer\s*:)[ \t:]*([^\n]*)")
_NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\.\d+")


#: how a math answer was decided
GradeMethod = Literal["math-verify", "last-number", "none"]


@dataclass(frozen=True)
class MathGrade:
    """Outcome of one comparison.

    Attributes:
        correct: the answer equals the gold.
        timed_out: a math-verify call hit the time limit (scored as wrong).
        method: ``"math-verify"``, ``"last-number"`` or ``"none"`` (nothing to compare).
    """

    correct: bool
    timed_out: bool = False
    method: GradeMethod = "none"


def last_number(text: str) -> Decimal | None:
    """The last number in ``text`` (``$``, thousands commas and a trailing period allowed).

    >>> last_number("Kim has $1,200.00, so 3 bags."), last_number("none")
    (Decimal('3'), None)
    """
    found = _NUMBER.findall(text)
    for raw in reversed(found):
        cleaned = raw.replace("$", "").replace(",", "").replace(" ", "")
        try:
            return Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the regex only matches numbers
            continue
    return None


def _final_claim(answer: str) -> str:
    if "\\boxed" in answer or "\\fbox" in answer:
        return answer  # math-verify gives \boxed{} priority itself
    claims = [m.group(1).strip() for m in _ANCHOR.finditer(answer)]
    claims = [c for c in claims if c]
    return claims[-1] if claims else answer


class _Timeout(BaseException):
    """Our deadline passed (a BaseException, so that no ``except Exception`` inside
    math-verify or sympy swallows it)."""


def check_timeout(timeout: Any) -> float:
    """``timeout`` as seconds > 0 (int or float, fractions honoured), else a clear error.

    >>> check_timeout(0.5), check_timeout(2)
    (0.5, 2.0)
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"math timeout must be a number of seconds, got {type(timeout).__name__} {timeout!r}")
    if not (timeout > 0 and _math.isfinite(timeout)):
        raise ValueError(f"math timeout must be a finite number of seconds > 0, got {timeout!r}")
    return float(timeout)


class _QuietNoTimeout(logging.Filter):
    """math-verify warns once that its own timeout is off: we bound every call ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


_QUIET = _QuietNoTimeout()
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_QUIET)


def _compare(claim: str, gold_text: str) -> bool | None:
    """math-verify on (claim, gold), without math-verify's own alarms (None: nothing parsed)."""
    from math_verify import parse, verify

    gold_parsed = parse(gold_text, parsing_timeout=None, raise_on_error=True)
    pred_parsed = parse(claim, parsing_timeout=None, raise_on_error=True) if claim.strip() else []
    if gold_parsed and pred_parsed:
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None, raise_on_error=True))
    return None


@lru_cache(maxsize=1)
def _warm() -> None:
    """Import math-verify (sympy, latex2sympy) and run one trivial comparison, once per
    process and outside any deadline: an import cut off by the timer would leave
    half-initialised modules behind, and the first call must not spend its time budget
    importing."""
    _compare("$1$", "$1$")


def _raise_timeout(signum: int, frame: Any) -> None:
    raise _Timeout


def _with_deadline(claim: str, gold_text: str, timeout: float) -> bool | None:
    """:func:`_compare` bounded by one ``timeout`` (seconds, fractions honoured) for the
    whole comparison, with a SIGALRM interval timer (main thread only); an alarm set by
    the caller is restored afterwards, re-armed with its remaining time.

    Raises:
        _Timeout: the deadline passed.
    """
    _warm()
    old_handler = signal.signal(signal.SIGALRM, _raise_timeout)
    started = time.monotonic()
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        try:
            return _compare(claim, gold_text)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # the caller's alarm: it still fires, at its own time
            left = old_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), old_interval)


def _grade_here(claim: str, gold_text: str, timeout: float) -> tuple[bool | None, bool]:
    """(math-verify's verdict or None when it found nothing / failed, timed out), in this
    (main) thread."""
    _warm()  # a broken math-verify install raises here, not as "nothing parsed"
    try:
        return _with_deadline(claim, gold_text, timeout), False
    except _Timeout:
        return None, True
    except Exception:  # noqa: BLE001 - math-verify failed to parse: the caller falls back
        return None, False


# -- off the main thread: a worker process per concurrent caller, killed at the deadline --

_GRACE = 0.5  # seconds past the timeout before a worker that does not answer is killed
_STARTUP = 120.0  # seconds a new worker may take to import math-verify


class _Worker:
    """A child Python that grades in its own main thread (so with the SIGALRM timer);
    killed when it does not answer by the deadline (a computation no signal interrupts)."""

    def __init__(self) -> None:
        import subprocess
        import sys
        from pathlib import Path

        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from lm_eval_tracecollapse.scoring.math_grade import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._buf = b""
        if self._readline(time.monotonic() + _STARTUP) != b"ready":
            self.kill()
            raise RuntimeError("math scoring: the math-verify worker process did not start")

    def _readline(self, deadline: float) -> bytes | None:
        import select

        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the worker died
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def grade(self, claim: str, gold_text: str, timeout: float) -> tuple[bool | None, bool] | None:
        """As :func:`_grade_here`; None when the worker broke (died or missed the deadline)."""
        assert self.proc.stdin is not None
        deadline = time.monotonic() + timeout + _GRACE
        try:
            self.proc.stdin.write(json.dumps([claim, gold_text, timeout]).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        line = self._readline(deadline)
        if line is None:
            return None
        verdict, timed_out = json.loads(line)
        return verdict, timed_out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


_idle: list[_Worker] = []
_idle_lock = threading.Lock()


def _grade_in_worker(claim: str, gold_text: str, timeout: float) -> tuple[bool | None, bool]:
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    if worker is None or not worker.alive():
        worker = _Worker()
    result = worker.grade(claim, gold_text, timeout)
    if result is None:  # missed the deadline (or died): a timeout, and a fresh worker next time
        worker.kill()
        return None, True
    with _idle_lock:
        _idle.append(worker)
    return result


@atexit.register
def _stop_workers() -> None:
    with _idle_lock:
        workers, _idle[:] = list(_idle), []
    for w in workers:
        w.kill()


def _serve() -> None:
    """The worker's loop: one JSON ``[claim, gold, timeout]`` per stdin line, one
    ``[verdict, timed_out]`` per stdout line (stdout is ours alone: prints go to stderr)."""
    import sys

    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _warm()  # imported before "ready", not inside the first deadline

    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        claim, gold_text, timeout = json.loads(line)
        out.write(json.dumps(_grade_here(claim, gold_text, float(timeout))).encode() + b"\n")
        out.flush()


def grade_math(answer: str, gold: str, timeout: float = 5) -> MathGrade:
    """Grade an answer part against a gold answer (see the module docstring).

    ``timeout`` (seconds > 0, fractions honoured) bounds the whole comparison.

    Raises:
        TypeError: ``answer`` or ``gold`` is not a string, or ``timeout`` not a number.
        ValueError: ``timeout`` is not a finite number > 0.
    """
    if not isinstance(answer, str) or not isinstance(gold, str):
        raise TypeError(f"grade_math: answer and gold must be str, got {type(answer).__name__}, {type(gold).__name__}")
    seconds = check_timeout(timeout)
    claim = _final_claim(answer)
    # a LaTeX gold without math delimiters would not be found by math-verify's extractor
    gold_text = f"${gold}$" if "\\" in gold and "$" not in gold else gold
    if threading.current_thread() is threading.main_thread():
        verdict, timed_out = _grade_here(claim, gold_text, seconds)
    else:  # SIGALRM is the main thread's: grade in a worker process, killed at the deadline
        verdict, timed_out = _grade_in_worker(claim, gold_text, seconds)
    if timed_out:
        return MathGrade(False, True, "math-verify")
    if verdict is not None:
        return MathGrade(verdict, False, "math-verify")
    want, got = last_number(gold), last_number(claim)
    if want is None or got is None:
        return MathGrade(False, False, "none")
    return MathGrade(want == got, False, "last-number")


def _graded(answer: str, gold: str, timeout: float) -> MathGrade:
    # math_verify and math_timeout score the same pair: grade it once
    return once(("grade_math", answer, gold, timeout), lambda: grade_math(answer, gold, timeout))


def math_verify_metric(references: list[Any], predictions: list[Any], timeout: float = 5, **_: Any) -> dict:
    """lm-eval metric ``math_verify``: 1.0 when the answer part equals the gold.

    >>> math_verify_metric(references=["1200"], predictions=["$1,200.00"])
    {'math_verify': 1.0}
    """
    return {"math_verify": float(_graded(str(predictions[0]), str(references[0]), check_timeout(timeout)).correct)}


def math_timeout_metric(references: list[Any], predictions: list[Any], timeout: float = 5, **_: Any) -> dict:
    """lm-eval metric ``math_timeout``: 1.0 when grading hit the time limit (scored wrong).

    >>> math_timeout_metric(references=["1200"], predictions=["$1,200.00"])
    {'math_timeout': 0.0}
    """
    return {"math_timeout": float(_graded(str(predictions[0]), str(references[0]), check_timeout(timeout)).timed_out)}
