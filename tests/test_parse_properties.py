"""Hypothesis properties of the parser: total, exclusive and exhaustive, ordered, linear."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lm_eval_tracecollapse import TraceStatus, list_formats, parse_trace
from lm_eval_tracecollapse.core.literals import hop_search, literal_pattern
from lm_eval_tracecollapse.core.matcher import compiled

# fragments that make the parser's life hard: every family's delimiters, their
# prefixes, case variants, wrappers and implicit closes, mixed with free text
FRAGMENTS = [
    "<think>",
    "</think>",
    "<THINK>",
    "</Think>",
    "<think",
    "</thin",
    "<thinking>",
    "</thinking>",
    "<thought>",
    "</thought>",
    "<reasoning>",
    "</reasoning>",
    "[THINK]",
    "[/THINK]",
    "[think]",
    "[/THINKING]",
    "◁think▷",
    "◁/think▷",
    "<seed:think>",
    "</seed:think>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
    "<|channel|>analysis<|message|>",
    "<|end|>",
    "<|start|>assistant<|channel|>final<|message|>",
    "<|return|>",
    "Here is my thought process:",
    "Here is my response:",
    "<answer>",
    "</answer>",
    "<tool_call>",
    "analysis",
    "assistantfinal",
    " ",
    "\n",
    "\t",
    "<",
    ">",
    "/",
    "[",
    "]",
    "|",
    "42",
    "The answer is",
    "\u0130",
    "\u212a",
    "ß",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=24).map("".join)
fmts = st.sampled_from(["auto", *list_formats()])
reasons = st.sampled_from([None, "length", "stop", "LENGTH", ""])
prompts = st.one_of(st.none(), texts, texts.map(lambda s: s + "<think>\n"), texts.map(lambda s: s + "[THINK]"))
MANY = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MANY
@given(response=st.text(), prompt=st.one_of(st.none(), st.text()), fmt=fmts, finish=reasons)
def test_never_raises_on_any_str(response: str, prompt: str | None, fmt: str, finish: str | None) -> None:
    assert parse_trace(response, prompt, fmt, finish).status in set(TraceStatus)


@MANY
@given(response=texts, prompt=prompts, fmt=fmts, finish=reasons, prefilled=st.sampled_from([None, True, False]))
def test_statuses_exclusive_and_exhaustive(
    response: str, prompt: str | None, fmt: str, finish: str | None, prefilled: bool | None
) -> None:
    t = parse_trace(response, prompt, fmt, finish, prefilled=prefilled)
    flags = [t.status is s for s in TraceStatus]
    assert sum(flags) == 1  # exactly one status
    assert (t.reasoning is None) == (t.status is TraceStatus.MISSING)
    if t.status is TraceStatus.MISSING:
        assert t.answer == response.strip() and t.fmt is None
    if t.status is TraceStatus.TRUNCATED:
        assert t.answer == ""
    if t.status is TraceStatus.VALID:
        assert t.reasoning and t.reasoning.strip() == t.reasoning
    if t.status is TraceStatus.EMPTY:
        assert t.reasoning == ""
    if t.status is not TraceStatus.MISSING and fmt != "auto":
        assert t.fmt is None or t.fmt == fmt
    assert t.answer == t.answer.strip()


@MANY
@given(response=texts, fmt=fmts, prompt=prompts)
def test_valid_reasoning_and_answer_are_ordered_substrings(response: str, fmt: str, prompt: str | None) -> None:
    t = parse_trace(response, prompt, fmt)
    if t.status is not TraceStatus.VALID:
        return
    assert t.reasoning is not None
    r = response.find(t.reasoning)
    assert r >= 0
    assert response.rfind(t.answer) >= r + len(t.reasoning)


@MANY
@given(response=texts, fmt=fmts, prompt=prompts, finish=reasons)
def test_raw_answer_keeps_the_responses_characters(
    response: str, fmt: str, prompt: str | None, finish: str | None
) -> None:
    """The answer part the task's own filters get (issue 35): a missing trace's is the response
    itself; after a closed trace it is the response's tail, less only the separator (whitespace
    up to the answer's line, whose indentation stays); :attr:`answer` is it stripped."""
    from lm_eval_tracecollapse import get_format

    t = parse_trace(response, prompt, fmt, finish)
    raw = t.raw_answer
    assert t.answer == raw.strip()
    if t.status is TraceStatus.MISSING:
        assert raw == response
    elif t.status is TraceStatus.TRUNCATED:
        assert raw == ""
    elif t.fmt is not None and not (get_format(t.fmt).answer_start or get_format(t.fmt).answer_end):
        assert response.endswith(raw)
        lead = raw[: len(raw) - len(raw.lstrip())]
        assert "\n" not in lead  # no blank line between the trace and the answer is kept
        if lead:  # indentation, only at the start of a line
            assert response[len(response) - len(raw) - 1] == "\n"


def test_raw_answer_examples() -> None:
    assert parse_trace("<think>plan</think>\n    return a + b\n").raw_answer == "    return a + b\n"
    assert parse_trace("<think>plan</think>\n\n42 ").raw_answer == "42 "
    assert parse_trace("<think>plan</think> 42").raw_answer == "42"
    assert parse_trace("  record \n").raw_answer == "  record \n"
    assert parse_trace("<think>r</think>\n</think>\n\n  x").raw_answer == "  x"


def _per_char_seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        parse_trace(text)
        parse_trace(text, fmt="think", finish_reason="length")
        parse_trace(text, prefilled=True)
        best = min(best, time.perf_counter() - start)
    return best / len(text)


@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("".join))
def test_time_is_linear_in_input_size(unit: str) -> None:
    """A repeated adversarial unit costs the same per character at 25k and 1M chars."""
    small = unit * max(1, 25_000 // len(unit))
    large = unit * max(1, 1_000_000 // len(unit))
    # quadratic behaviour would make the large input ~40x dearer per character
    assert _per_char_seconds(large) < 6 * _per_char_seconds(small) + 2e-8


@settings(max_examples=500, deadline=None)
@given(
    responses=st.lists(texts, max_size=6),
    prompt=st.one_of(st.none(), prompts),
    fmt=fmts,
    prefilled=st.sampled_from([None, True, False]),
)
def test_batch_equals_one_by_one(responses: list[str], prompt: str | None, fmt: str, prefilled: bool | None) -> None:
    from lm_eval_tracecollapse import parse_traces

    one_by_one = [parse_trace(r, prompt, fmt, prefilled=prefilled) for r in responses]
    assert parse_traces(responses, prompt, fmt, prefilled=prefilled) == one_by_one


_LETTERS = "<|/abAB["


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(st.text(alphabet=_LETTERS, min_size=1, max_size=4), min_size=1, max_size=16),
    text=st.text(alphabet=_LETTERS, max_size=40),
    fold=st.booleans(),
)
def test_a_guarded_trie_matches_as_the_plain_alternation(words: list[str], text: str, fold: bool) -> None:
    """The trie of literal delimiters, with its lookahead guards where six or more
    alternatives branch, matches at every position exactly what the plain alternation of the
    words (longest first; either case with ``fold``) matches."""
    ours = re.compile(literal_pattern(words, fold=fold))
    plain = re.compile("|".join(map(re.escape, sorted(set(words), key=len, reverse=True))), re.I if fold else 0)
    for i in range(len(text) + 1):
        a, b = ours.match(text, i), plain.match(text, i)
        assert (a and a.span()) == (b and b.span()), (i, ours.pattern)


_PIECES = [
    *["<", "<", "<|", "</", "<t", "<T", "[", "[/", "think>", "THINK]", "hink>", "|>", "channel|>", "message|>"],
    *["to=self", "x", " ", "<think>", "</think>", "<|channel|>analysis<|message|>", "[THINK]", "<|message|>"],
]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=120), pad=st.integers(0, 3))
def test_packed_text_finds_what_the_group_regex_finds(pieces: list[str], pad: int) -> None:
    """On text packed with a delimiter's first character, the auto scanner searches with one
    regex per leading pair (``"<|"``, ``"<t"``, ``"<T"``...): it finds exactly the match the
    group's one regex finds, from every start."""
    text = "<" * pad + "".join(pieces)
    auto = compiled().auto
    for pattern, anchor, _, dense in auto._patterns:
        if dense is None:
            continue
        for start in range(0, len(text) + 1, 7):
            got = hop_search(pattern, anchor, text, start, len(text), dense, auto._max_len)
            want = pattern.search(text, start, len(text))
            assert (got and (got.span(), got.group())) == (want and (want.span(), want.group())), (anchor, start)
    for m in compiled().by_name.values():  # and each family's own delimiter search
        for finder in (m.open, m.closing):
            if finder._regex is None:
                continue
            for start in range(0, len(text) + 1, 11):
                want = finder._regex.search(text, start)
                assert finder.find(text, start) == (want and want.span()), (m.family.name, start)
