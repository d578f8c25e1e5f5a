"""Agreement with ThinkPack 1.0.0's ``parse`` on the ``<think>`` family.

Statuses, reasoning and answers agree on generated inputs, except in the cases
named below, where we differ on purpose (the README explains each):

* PREAMBLE   — text before the opening tag: ThinkPack counts it as reasoning, we
  follow docs/CONTRACT.md (only the block's content counts).
* REEMITTED  — a closing tag repeated right after the first: ThinkPack keeps it in the
  answer, we drop it (MiniMax-M2 emits it; vLLM strips it too).
* TOOL_CALL  — ``<tool_call>`` inside an unclosed trace: ThinkPack says truncated, we
  say the call ended the trace (Qwen3 / vLLM semantics).
* MISSING_REPR — a missing trace: ThinkPack has ``reasoning=""`` and an unstripped
  answer; we have ``reasoning=None`` and a stripped answer (docs/CONTRACT.md).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from thinkpack import parse as tp_parse
from thinkpack.model import ModelInfo

from lm_eval_tracecollapse import TraceStatus, parse_trace

OPEN = st.sampled_from(["<think>", "<THINK>", "<Think>", "<think>\n"])
CLOSE = st.sampled_from(["</think>", "</THINK>", "\n</think>\n\n"])
# free text that cannot form another family's delimiter by accident
WORDS = st.text(alphabet=st.sampled_from(list("ab 42\n\t.,=+xyz")), max_size=12)


@st.composite
def think_responses(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(draw(OPEN))
    parts.append(draw(WORDS))
    if draw(st.booleans()):
        parts.append(draw(CLOSE))
        parts.append(draw(WORDS))
        if draw(st.booleans()):  # a second block, or stray tags, in the answer
            parts.append(draw(st.sampled_from(["<think>", "</think>", "<think>c</think>"])))
            parts.append(draw(WORDS))
    return "".join(parts)


def _named_difference(response: str, prefixed: bool) -> str | None:
    close = re.search(r"</think>", response, re.I)
    opened = re.search(r"<think>", response, re.I)
    if close and opened and opened.start() < close.start() and response[: opened.start()].strip():
        return "PREAMBLE"
    if close and re.match(r"\s*</think>", response[close.end() :], re.I):
        return "REEMITTED"
    if close is None and (opened or prefixed) and "<tool_call>" in response:
        return "TOOL_CALL"
    return None


@settings(max_examples=4000, deadline=None)
@given(response=think_responses(), prefixed=st.booleans())
def test_agrees_with_thinkpack(response: str, prefixed: bool) -> None:
    ours = parse_trace(response, prompt="<|Assistant|><think>\n" if prefixed else None, fmt="think")
    theirs = tp_parse(response, model_info=ModelInfo(prefixed=prefixed))
    difference = _named_difference(response, prefixed)
    # REEMITTED: their answer starts with the repeated closing tags that we drop
    their_answer = re.sub(r"^(?:\s*</think>)+", "", theirs.answer, flags=re.I).strip()
    if difference == "PREAMBLE":
        # the preamble makes their reasoning non-blank; ours is the block alone
        assert theirs.has_valid_reasoning and ours.status in (TraceStatus.VALID, TraceStatus.EMPTY)
        assert ours.answer == their_answer
        return
    assert ours.status.value == _status(theirs)
    if difference == "REEMITTED":
        assert theirs.answer != their_answer and ours.answer == their_answer
        return
    if ours.status is TraceStatus.MISSING:  # MISSING_REPR
        assert (ours.reasoning, ours.answer) == (None, theirs.answer.strip())
    else:
        assert (ours.reasoning, ours.answer) == (theirs.reasoning, theirs.answer)


def _status(p: object) -> str:
    flags = {
        "valid": p.has_valid_reasoning,  # type: ignore[attr-defined]
        "empty": p.has_empty_reasoning,  # type: ignore[attr-defined]
        "missing": p.has_missing_reasoning,  # type: ignore[attr-defined]
        "truncated": p.has_truncated_reasoning,  # type: ignore[attr-defined]
    }
    (status,) = [k for k, v in flags.items() if v]
    return status


def test_named_cases_really_differ() -> None:
    """Each named difference, shown once on a concrete input."""
    info = ModelInfo(prefixed=False)
    # PREAMBLE
    assert tp_parse("Sure. <think></think>4", model_info=info).has_valid_reasoning
    assert parse_trace("Sure. <think></think>4").status is TraceStatus.EMPTY
    # REEMITTED
    assert tp_parse("<think>r</think></think>4", model_info=info).answer == "</think>4"
    assert parse_trace("<think>r</think></think>4").answer == "4"
    # TOOL_CALL
    assert tp_parse("<think>r<tool_call>{}", model_info=info).has_truncated_reasoning
    assert parse_trace("<think>r<tool_call>{}").status is TraceStatus.VALID
    # MISSING_REPR
    assert tp_parse(" 4 ", model_info=info).answer == " 4 "
    assert parse_trace(" 4 ").answer == "4"
