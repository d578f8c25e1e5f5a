"""Rebuilding a response whose trace a server split off (``reasoning_content``).

A server's reasoning parser splits the generated text into a reasoning field and a
content field; how it splits a reply that never writes the closing marker depends on
the parser.  vLLM's ``deepseek_r1`` assumes the template opened the trace and puts such
a reply *entirely* into the reasoning field (content null) — so the same null content
means "the trace never closed" (truncated) after a prompt that opens ``<think>``, and "no
trace at all" (missing) after one that does not.  :func:`rebuild_text` undoes the split
so the text reads as the same generation read from ``hf`` would.

Example:
    >>> rebuild_text("6*7=42", "42", "stop")
    '<think>6*7=42</think>42'
    >>> rebuild_text("The answer is 42.", None, "stop", parser="deepseek_r1", prefilled=False)
    'The answer is 42.'
    >>> rebuild_text("6*7 is", None, "stop", parser="deepseek_r1", prefilled=True)
    '<think>6*7 is'
"""

from __future__ import annotations

from typing import Literal

from ...core.formats import get_format

__all__ = ["UNCLOSED_IN_REASONING", "is_ambiguous", "rebuild_text"]

#: server-side reasoning parsers that put a reply without the closing marker into the
#: reasoning field (content null) whether or not it opened the trace: vLLM's ``deepseek_r1``
#: (``BaseThinkingReasoningParser``; it also strips an opening ``<think>``) and ``qwen3``
#: (vLLM 0.32's captured replies: the same split on every reply of the demo's checkpoints).  llama.cpp's
#: ``--reasoning-format deepseek`` is not one: it splits only a reply that opened the
#: trace (or whose template forced it open), so its reasoning without content is an
#: unclosed trace, as read by default.
UNCLOSED_IN_REASONING = frozenset({"deepseek_r1", "qwen3"})

Prefilled = Literal[True, False] | None


def is_ambiguous(reasoning: str | None, content: str | None, finish_reason: str | None, parser: str | None) -> bool:
    """Whether the split cannot tell "the trace never closed" from "no trace at all"
    without knowing if the prompt opened the trace: reasoning and no answer, a natural
    stop, and a parser that files an unclosed reply as reasoning.

    >>> is_ambiguous("The answer is 4.", None, "stop", "deepseek_r1"), is_ambiguous("r", "4", "stop", "deepseek_r1")
    (True, False)
    """
    answered = content is not None and content.strip() != ""
    return reasoning is not None and not answered and finish_reason != "length" and parser in UNCLOSED_IN_REASONING


def rebuild_text(
    reasoning: str | None,
    content: str | None,
    finish_reason: str | None,
    fmt: str = "think",
    *,
    parser: str | None = None,
    prefilled: Prefilled = None,
    opened: bool | None = None,
) -> str:
    """The full response text from a server's split ``reasoning`` and ``content``.

    ``parser``: the server's reasoning parser (``deepseek_r1``, ...); ``prefilled``:
    whether the prompt the server rendered ends with the opening marker (None: unknown,
    read as not prefilled); ``opened``: whether the reply's own tokens hold the opening
    marker (None: unknown).  Reasoning with no answer is an unclosed trace (cut by the
    length limit, or never closed).

    >>> rebuild_text("\\n0+The answer", None, "stop", parser="qwen3", prefilled=False, opened=True)
    '<think>\\n0+The answer'
    """
    if reasoning is None:
        return content or ""
    if is_ambiguous(reasoning, content, finish_reason, parser) and not (prefilled is True or opened is True):
        # the parser filed a reply without </think> as reasoning, and no prompt opened a trace
        return reasoning.strip() + (content or "")
    family = get_format(fmt)
    # reasoning and no answer: the reply never closed its trace (llama.cpp's deepseek format
    # returns content ""; a reply that closed it and stopped at once reads the same, rare)
    unclosed = content is None or not content.strip()
    if unclosed:
        return f"{family.open}{reasoning}"
    return f"{family.open}{reasoning}{family.close}{content}"
