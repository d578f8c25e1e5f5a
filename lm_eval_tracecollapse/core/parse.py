"""Split a model response into reasoning trace and answer, with a trace status.

The status rules are ThinkPack 1.0.0's (the paper's) for the ``<think>`` family and
apply to every family in :mod:`lm_eval_tracecollapse.core.formats`:

* a closing delimiter is present → **valid** if the text between the (optional)
  opening delimiter and the *first* closing delimiter is non-blank, else **empty**;
* no closing delimiter, but an opening one (or a prefilled prompt, or
  ``finish_reason="length"``) → **truncated**;
* no structure at all → **missing**.

Every search is linear in the length of the response (``str.find`` or a regex
built from literals only), so a 10 MB adversarial response costs what its size
says.  Only a non-``str`` argument or an unknown ``fmt`` raises.

Example:
    >>> from lm_eval_tracecollapse import parse_trace
    >>> t = parse_trace("<think>7*6 = 42</think>The answer is 42.")
    >>> t.status, t.reasoning, t.answer, t.fmt
    (<TraceStatus.VALID: 'valid'>, '7*6 = 42', 'The answer is 42.', 'think')
    >>> parse_trace("7*6 = 42</think>42", prompt="<|Assistant|><think>\\n").status.value
    'valid'
"""

from __future__ import annotations

import gc
import re
from collections.abc import Sequence

from .formats import get_format
from .matcher import FamilyMatcher, _Compiled, compiled
from .trace import Trace, TraceStatus, _trace

__all__ = ["Trace", "TraceStatus", "parse_trace", "parse_traces"]


_NON_SPACE = re.compile(r"\S")  # the same whitespace as str.strip()


_VALID, _EMPTY, _MISSING, _TRUNCATED = TraceStatus.VALID, TraceStatus.EMPTY, TraceStatus.MISSING, TraceStatus.TRUNCATED


def _check_str(value: object, argument: str, *, optional: bool) -> None:
    if isinstance(value, str) or (optional and value is None):
        return
    hint = " (did the model return None? pass '' for an empty response)" if value is None else ""
    raise TypeError(f"parse_trace: {argument} must be a str, got {type(value).__name__}{hint}")


def _unwrap(m: FamilyMatcher, s: str, a0: int, a1: int) -> tuple[int, int]:
    """The span of ``s[a0:a1]`` inside a family's answer wrapper (gpt-oss ``final``
    channel, Hunyuan ``<answer>``, Command-A ``<|START_RESPONSE|>``), its characters kept."""
    if m.answer_start is not None:
        hit = m.find_answer_start(s, a0, a1)
        if hit is not None:
            a0 = hit.end()
    if m.answer_end:
        end = a0 + len(s[a0:a1].rstrip())
        tail = s[max(a0, end - 64) : end]
        tail = tail if m.family.case_sensitive else tail.lower()
        for suffix in m.answer_end:
            if tail.endswith(suffix):
                a1 = end - len(suffix)
                break
    return a0, a1


def _answer_after(m: FamilyMatcher, s: str, pos: int) -> tuple[int, int]:
    """The span of the answer after a closed trace ending at ``pos`` (unwrapped for
    families with an answer wrapper).

    Closing delimiters re-emitted right after the first (MiniMax-M2 does this) are
    skipped by one regex match, so ``"</think>" * 10**6`` stays linear and fast.
    """
    pos = m.reemitted.match(s, pos).end()  # type: ignore[union-attr]  # always matches
    if m.answer_start is None and not m.answer_end:
        return pos, len(s)
    return _unwrap(m, s, pos, len(s))


def _block(m: FamilyMatcher, s: str, start: int, end: int, answer: tuple[int, int], prefilled: bool) -> Trace:
    """A trace whose content is ``s[start:end]``: valid if non-blank, else empty; its
    answer is the span ``answer`` of ``s``."""
    status = _VALID if _NON_SPACE.search(s, start, end) is not None else _EMPTY
    return _trace(status, s, start, end, None, answer[0], answer[1], m.family.name, prefilled)


def _closed(m: FamilyMatcher, s: str, start: int, close: tuple[int, int], prefilled: bool) -> Trace:
    return _block(m, s, start, close[0], _answer_after(m, s, close[1]), prefilled)


def _unclosed(m: FamilyMatcher | None, s: str, start: int, prefilled: bool, implicit_at: int = -1) -> Trace:
    """No closing delimiter after ``start``: an implicit close, or truncation.

    ``implicit_at`` is the first implicit close in the text, if the caller's search
    found one (-1: none anywhere); one before ``start`` is looked up again.
    """
    if m is not None and m.implicit is not None and 0 <= implicit_at < start:
        hit = m.implicit.find(s, start)
        implicit_at = -1 if hit is None else hit[0]
    if m is not None and implicit_at >= start:
        return _block(m, s, start, implicit_at, (implicit_at, len(s)), prefilled)
    return _trace(_TRUNCATED, s, start, len(s), "", 0, 0, None if m is None else m.family.name, prefilled)


def _missing(s: str) -> Trace:
    return _trace(_MISSING, s, -1, -1, None, 0, len(s), None, False)


def _parse_family(m: FamilyMatcher, s: str, prefilled: bool, length_cut: bool) -> Trace:
    """Parse with one known family (ThinkPack's order: close first, then open).

    Each delimiter search covers a region no earlier search has covered for the same
    delimiter, so a response is read at most about twice.
    """
    open_end = m.open.match(s, 0)
    if open_end > 0:  # the common case: the response starts with the opening delimiter
        close, implicit_at = m.find_close(s, open_end)
        if close is not None:
            return _closed(m, s, open_end, close, prefilled)
        return _unclosed(m, s, open_end, prefilled, implicit_at)
    close, implicit_at = m.find_close(s, 0)
    if close is None:
        opened = m.open.find(s)
        if opened is not None:
            return _unclosed(m, s, opened[1], prefilled, implicit_at)
        return _unclosed(m, s, 0, prefilled, implicit_at) if prefilled or length_cut else _missing(s)
    opened = m.open.find(s, 0, close[0])
    if opened is not None:
        return _closed(m, s, opened[1], close, prefilled)
    if m.family.bare_close or prefilled:
        return _closed(m, s, 0, close, prefilled)
    # a generic closing marker (gpt-oss <|end|>) before any opening one: ignore it
    opened = m.open.find(s, close[1])
    if opened is None:
        return _unclosed(m, s, 0, prefilled) if length_cut else _missing(s)
    close, implicit_at = m.find_close(s, opened[1])
    if close is None:
        return _unclosed(m, s, opened[1], prefilled, implicit_at)
    return _closed(m, s, opened[1], close, prefilled)


def _refine(t: Trace, refinements: list[FamilyMatcher]) -> Trace:
    """Report a refining family (Hunyuan's ``<answer>``) when its wrapper is in the answer
    (``t`` comes from a parse: its answer is a span of the response)."""
    src, a0, a1 = t._src, t._a0, t._a1
    for r in refinements:
        anchor = r.answer_anchor
        if anchor is not None and not r.family.answer_start_search and not src.startswith(anchor, a0):
            if not src[a0 : a0 + 1].isspace():
                continue  # the wrapper cannot start here: spare the regex (the common case)
        if r.answer_start is not None and r.find_answer_start(src, a0, a1) is not None:
            r0, r1 = (t._r0, t._r1) if t._reasoning is not None else (-1, -1)
            b0, b1 = _unwrap(r, src, a0, a1)
            return _trace(t.status, src, r0, r1, None, b0, b1, r.family.name, t.prefilled)
    return t


def _parse_auto(c: _Compiled, s: str, prefilled: bool, length_cut: bool) -> Trace:
    hit = c.auto.scan(s)
    if hit is None:
        return _unclosed(None, s, 0, prefilled) if prefilled or length_cut else _missing(s)
    start, end, m, is_open = hit
    if not is_open:  # a closing delimiter before any opening one
        t = _closed(m, s, 0, (start, end), prefilled)
    else:
        close, implicit_at = m.find_close(s, end)
        t = _closed(m, s, end, close, prefilled) if close is not None else _unclosed(m, s, end, prefilled, implicit_at)
    refinements = c.refinements.get(m.family.name)
    if refinements and t.status is not _TRUNCATED:
        t = _refine(t, refinements)
    return t


def _prefilled_family(prompt: str, fmt: str, c: _Compiled) -> FamilyMatcher | None:
    """The family whose opening delimiter ends ``prompt`` (after whitespace), if any."""
    tail = prompt.rstrip()
    best: FamilyMatcher | None = None
    for m in c.prefill_candidates(fmt, tail[-1]) if tail else ():
        n = m.open.length
        if len(tail) >= n and m.open.match(tail, len(tail) - n) == len(tail):
            if best is None or n > best.open.length:
                best = m
    return best


def _resolve(c: _Compiled, prompt: str | None, fmt: str, prefilled: bool | None) -> tuple[FamilyMatcher | None, bool]:
    """(family to parse with or None for auto, whether the open delimiter was prefilled)."""
    family: FamilyMatcher | None = None
    if fmt != "auto":
        family = c.by_name.get(fmt) if isinstance(fmt, str) else None
        if family is None:
            get_format(fmt)  # raises ValueError listing the known names
    if prefilled is not None:
        if not isinstance(prefilled, bool):  # bool("false") is True: never guess from text
            raise TypeError(f"prefilled must be True, False or None, got {type(prefilled).__name__} {prefilled!r}")
        return family, prefilled
    detected = _prefilled_family(prompt, fmt, c) if prompt else None
    return detected or family, detected is not None


def parse_trace(
    response: str,
    prompt: str | None = None,
    fmt: str = "auto",
    finish_reason: str | None = None,
    *,
    prefilled: bool | None = None,
) -> Trace:
    """Parse one response into a :class:`Trace`.

    Args:
        response: the raw generated text.
        prompt: the full prompt (or its tail).  If it ends with an opening delimiter
            (trailing whitespace ignored), the template prefilled it: the response
            then holds ``content</think>answer`` and a response without a closing
            delimiter is truncated.
        fmt: ``"auto"`` (every family; the earliest delimiter in the text decides) or
            a name from :func:`~lm_eval_tracecollapse.core.formats.list_formats`.
        finish_reason: ``"length"`` (the generation hit its token limit) marks an
            unclosed trace as truncated even when no opening delimiter survived.
        prefilled: force (True) or deny (False) a prefilled opening delimiter instead
            of reading it from ``prompt``.

    Only the first complete trace counts.  Text after its closing delimiter is the
    answer, verbatim apart from stripping: a second ``<think>…</think>`` block, or a
    closing tag that appears later, stays in the answer (as in ThinkPack).  One
    exception: closing delimiters re-emitted *immediately* after the first (a
    MiniMax-M2 habit) are dropped.  A closing delimiter with no opening one is a
    complete trace whose content is everything before it (a prefilled template
    whose prompt was not passed).  Qwen3's ``<tool_call>`` (and Kimi-K2's tool-call
    section) ends an unclosed ``<think>`` trace; the tool call is the answer.

    Raises:
        TypeError: ``response`` (or ``prompt``/``finish_reason``) is not a ``str``, or
            ``prefilled`` is not True, False or None (a string such as ``"false"`` included).
        ValueError: ``fmt`` is not ``"auto"`` and not a registered family.

    Example:
        >>> parse_trace("<think>\\n</think>\\n\\n4").status.value
        'empty'
        >>> parse_trace("<think>Let me add 2 and").status.value
        'truncated'
        >>> parse_trace("4").answer
        '4'
        >>> parse_trace("[THINK]2+2[/THINK]4").fmt
        'think_bracket'
    """
    if not isinstance(response, str):
        _check_str(response, "response", optional=False)
    if prompt is not None and not isinstance(prompt, str):
        _check_str(prompt, "prompt", optional=True)
    length_cut = False
    if finish_reason is not None:
        _check_str(finish_reason, "finish_reason", optional=True)
        length_cut = finish_reason.lower() == "length"
    c = compiled()
    if prompt is None and prefilled is None and fmt == "auto":  # the common call: nothing to resolve
        return _parse_auto(c, response, False, length_cut)
    family, is_prefilled = _resolve(c, prompt, fmt, prefilled)
    if family is not None:
        return _parse_family(family, response, is_prefilled, length_cut)
    return _parse_auto(c, response, is_prefilled, length_cut)


def parse_traces(
    responses: Sequence[str],
    prompts: str | Sequence[str | None] | None = None,
    fmt: str = "auto",
    finish_reasons: Sequence[str | None] | None = None,
    *,
    prefilled: bool | None = None,
) -> list[Trace]:
    """Batch form of :func:`parse_trace`.

    ``prompts`` is one prompt for every response, or one per response;
    ``finish_reasons`` is one per response.

    >>> [t.status.value for t in parse_traces(["<think>a</think>b", "b"])]
    ['valid', 'missing']
    """
    if isinstance(responses, str):
        raise TypeError("parse_traces: responses must be a sequence of str, not a single str (use parse_trace)")
    n = len(responses)
    if prompts is None or isinstance(prompts, str):
        prompt_list: Sequence[str | None] = [prompts] * n
    else:
        prompt_list = prompts
    reasons: Sequence[str | None] = [None] * n if finish_reasons is None else finish_reasons
    for name, seq in (("prompts", prompt_list), ("finish_reasons", reasons)):
        if len(seq) != n:
            raise ValueError(f"parse_traces: got {n} responses but {len(seq)} {name}")
    if finish_reasons is None and (prompts is None or isinstance(prompts, str)):
        # one setting for the whole batch: resolve it once, then parse without overhead
        c = compiled()
        family, is_prefilled = _resolve(c, prompts, fmt, prefilled)
        out = []
        # the loop allocates no reference cycles: pausing the cyclic collector spares
        # it from re-scanning the growing result list (up to 2x faster on 100k items)
        paused = gc.isenabled() and n > 256
        if paused:
            gc.disable()
        try:
            for i, r in enumerate(responses):
                if not isinstance(r, str):
                    _check_str(r, f"responses[{i}]", optional=False)
                if family is not None:
                    out.append(_parse_family(family, r, is_prefilled, False))
                else:
                    out.append(_parse_auto(c, r, is_prefilled, False))
        finally:
            if paused:
                gc.enable()
        return out
    return [
        parse_trace(r, p, fmt, f, prefilled=prefilled) for r, p, f in zip(responses, prompt_list, reasons, strict=True)
    ]
