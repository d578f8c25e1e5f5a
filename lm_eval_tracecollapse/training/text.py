"""The training text of a chat example: the model's own chat template, one trace block.

:func:`render_training_texts` turns conversations (the last message is the assistant's
target, its trace in a ``"reasoning"`` key or written inline in its content) into the
text a model is fine-tuned on, and says where its sections lie.  Two rules:

1. **The template renders it.**  The trace goes in the template's own reasoning field
   (``reasoning_content``: Qwen3, GLM, DeepSeek-V3.2, MiniMax; ``thinking``: gpt-oss;
   ``reasoning``: Gemma 4, Solar — read off the template source, see
   :func:`reasoning_field`) or, where the template reads none, inline in the content
   (``<think>…</think>answer``).  The template's ``chat_template_kwargs`` are the ones
   the model is evaluated with.
2. **The training text starts with the generation prompt** the model is evaluated
   with (``add_generation_prompt=True`` on the same conversation without its target):
   the model learns to continue exactly the prompt it will see.  When the template's
   own rendering of the whole conversation starts with it (Qwen3, QwQ, OLMo-3, gpt-oss,
   GLM, ChatML…) the text *is* that rendering (``as_template``).  When it does not —
   the template strips the final trace (DeepSeek-R1 distills, Gemma 4), writes the
   opening delimiter itself (Nemotron Nano v2), or its generation prompt prefills what
   the final turn renders differently — the text is the generation prompt followed by
   what the model writes after it: the rest of the trace block, the answer, and the
   turn's terminator as the template renders it.

One trace block per assistant turn, never two.  A block the template writes itself
(Qwen3's empty ``<think>\\n\\n</think>`` for a trace-free target, or one its generation
prompt prefills, open or closed) *is* the target's trace: masking modes treat it as
such.  A target with a trace while the generation prompt has already closed the trace
(thinking switched off, e.g. Qwen3 ``enable_thinking=False`` or Gemma 4 by default) is
refused: the model would never be asked to write it.

An inline trace ends at the first closing delimiter outside Markdown code (a literal
``</think>`` in a code span or fence of the trace does not close it); its text is kept
as written.

Example:
    >>> from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    >>> tok = build_tokenizer(["2 + 3 = 5"], vocab_size=280)
    >>> conv = [{"role": "user", "content": "2+3?"},
    ...         {"role": "assistant", "content": "5", "reasoning": "2+3=5"}]
    >>> [t] = render_training_texts([conv], tok)
    >>> t.text[t.prompt_end:], t.as_template
    ('<think>\\n2+3=5\\n</think>\\n5<|im_end|>', True)
    >>> t.text[t.trace[0]:t.trace[1]]
    '<think>\\n2+3=5\\n</think>'
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..core.formats import ReasoningFormat

__all__ = [
    "HistoryReasoning",
    "ReasoningField",
    "Target",
    "TrainingText",
    "reasoning_field",
    "render_training_texts",
    "split_inline",
    "target_of",
]

#: where a template reads an assistant turn's trace ("inline": in the content)
ReasoningField = Literal["reasoning_content", "thinking", "reasoning", "inline"]
#: reasoning of earlier assistant turns: as the template renders it, always kept, always dropped
HistoryReasoning = Literal["template", "keep", "drop"]

_FIELDS: tuple[ReasoningField, ...] = ("reasoning_content", "thinking", "reasoning")
_FIELD_USE = {
    name: re.compile(rf"""\.{name}\b|\[\s*['"]{name}['"]\s*\]|\.get\(\s*['"]{name}['"]|['"]{name}['"]\s+in\s+\w""")
    for name in _FIELDS
}
_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)


def reasoning_field(template: str) -> ReasoningField:
    """The message key ``template`` reads an assistant trace from, or ``"inline"``.

    >>> reasoning_field("{{ message.reasoning_content }}"), reasoning_field("{{ m['content'] }}")
    ('reasoning_content', 'inline')
    >>> reasoning_field("{% if 'thinking' in message %}{{ message.thinking }}{% endif %}")
    'thinking'
    """
    for name in _FIELDS:
        if _FIELD_USE[name].search(template):
            return name
    return "inline"


@dataclass(frozen=True)
class Target:
    """The final assistant turn: its trace (None: no trace), its answer, and its content
    as written when the trace came inline in it (kept verbatim for inline templates)."""

    reasoning: str | None
    answer: str
    written: str | None = None


@dataclass(frozen=True)
class TrainingText:
    """One rendered training example.

    Attributes:
        text: the training text.
        prompt_end: ``text[:prompt_end]`` is the generation prompt; the model writes the rest.
        trace: ``(start, end)`` of the final turn's trace block, delimiters included
            (it may start inside the generation prompt when the template prefills it);
            None when the target has no block.
        answer_at: where the answer starts (after the block and the blank space behind it).
        as_template: the text is the template's own rendering of the whole conversation
            (False: the generation prompt followed by the completion, see the module doc).
    """

    text: str
    prompt_end: int
    trace: tuple[int, int] | None
    answer_at: int
    as_template: bool


def _outside_code(text: str, start: int, at: int) -> bool:
    """Whether ``text[at]`` lies outside Markdown code that begins after ``start``."""
    span = text[start:at]
    if len(_FENCE.findall(span)) % 2:
        return False
    line = span[span.rfind("\n") + 1 :].replace("```", "")
    return line.count("`") % 2 == 0


def _close_end(text: str, open_at: int, fmt: ReasoningFormat) -> int | None:
    """End of the delimiter closing the block opened at ``open_at``: the first one outside
    Markdown code; None when the block never closes."""
    inner = open_at + len(fmt.open)
    at = text.find(fmt.close, inner)
    while at >= 0 and not _outside_code(text, inner, at):
        at = text.find(fmt.close, at + len(fmt.close))
    return None if at < 0 else at + len(fmt.close)


def split_inline(content: str, fmt: ReasoningFormat) -> Target:
    """The target of a content that may open with an inline trace block.

    The block ends at the first closing delimiter outside Markdown code; a content that
    does not open with the delimiter (blank space aside), or never closes it, has no trace.

    >>> from lm_eval_tracecollapse.core.formats import get_format
    >>> split_inline("<think>use `</think>` here</think>\\n4", get_format("think"))
    Target(reasoning='use `</think>` here', answer='4', written='<think>use `</think>` here</think>\\n4')
    """
    start = len(content) - len(content.lstrip())
    end = _close_end(content, start, fmt) if content.startswith(fmt.open, start) else None
    if end is None:
        return Target(None, content)
    inner = content[start + len(fmt.open) : end - len(fmt.close)]
    return Target(inner.strip(), content[end:].strip(), content)


def _block(fmt: ReasoningFormat, reasoning: str) -> str:
    return f"{fmt.open}\n{reasoning}\n{fmt.close}\n" if reasoning else f"{fmt.open}\n{fmt.close}\n"


def _inline(target: Target, fmt: ReasoningFormat) -> str:
    if target.written is not None:
        return target.written
    return target.answer if target.reasoning is None else _block(fmt, target.reasoning) + target.answer


def _skip_blank(text: str, at: int) -> int:
    return len(text) - len(text[at:].lstrip()) if at < len(text) else at


def _prefill(prompt: str, fmt: ReasoningFormat) -> tuple[int, bool] | None:
    """(where the block starts, closed?) when the generation prompt ends inside a trace
    block it opened (``<think>\\n``), with an empty one it closed (thinking off: Qwen3's
    ``<think>\\n\\n</think>\\n\\n``), or with a bare closing tag (thinking off: DeepSeek-V3.1's
    ``<｜Assistant｜></think>``; the block is that tag: a target's own block after it would be a second)."""
    tail = prompt.rstrip()
    if tail.endswith(fmt.open):
        return len(tail) - len(fmt.open), False
    if tail.endswith(fmt.close):
        close_at = len(tail) - len(fmt.close)
        open_at = tail.rfind(fmt.open, 0, close_at)
        if open_at >= 0 and not tail[open_at + len(fmt.open) : close_at].strip():
            return open_at, True
        if not any(c.isspace() for c in fmt.close):  # a tag, not a turn marker that ends a trace
            return close_at, True
    return None


def _closed_refusal(i: int, kwargs: Mapping[str, Any]) -> ValueError:
    return ValueError(
        f"example {i}: the generation prompt closes the trace before the model writes (thinking is off with "
        f"chat_template_kwargs={dict(kwargs)!r}), but the target has a trace; pass the chat_template_kwargs "
        "that switch thinking on (e.g. {'enable_thinking': True}) or drop the trace"
    )


def _locate(
    full: str, prompt: str, prefill: tuple[int, bool] | None, target: Target, fmt: ReasoningFormat
) -> tuple[tuple[int, int] | None, int] | None:
    """(trace span, answer start) in the template's rendering ``full`` (which starts with
    ``prompt``; ``prefill``: its :func:`_prefill`), or None when the target's trace is not
    rendered there as one block."""
    answer = target.answer.strip()
    if prefill is not None and prefill[1]:  # the whole block is in the prompt: the answer follows it
        close_end = len(prompt.rstrip())
        answer_at = _skip_blank(full, close_end)
        return ((prefill[0], close_end), answer_at) if full.find(answer, answer_at) >= 0 else None
    if prefill is not None:
        open_at = prefill[0]
    else:
        at = _skip_blank(full, len(prompt))
        open_at = at if full.startswith(fmt.open, at) else -1
    if open_at < 0:  # no block: right only for a target without a trace
        at = _skip_blank(full, len(prompt))
        return (None, at) if target.reasoning is None and full.find(answer, at) >= 0 else None
    inner = open_at + len(fmt.open)
    reasoning = (target.reasoning or "").strip()
    end = inner
    if reasoning:
        found = full.find(reasoning, inner)
        if found < 0 or full[inner:found].strip():
            return None
        end = found + len(reasoning)
    close_at = full.find(fmt.close, end)
    if close_at < 0 or full[end:close_at].strip():
        return None
    # the answer section is everything after the block: the answer, after whatever the
    # template writes between them (gpt-oss opens its final channel there)
    answer_at = _skip_blank(full, close_at + len(fmt.close))
    if full.find(answer, answer_at) < 0:
        return None
    return (open_at, close_at + len(fmt.close)), answer_at


def _construct(
    full: str, prompt: str, prefill: tuple[int, bool] | None, target: Target, fmt: ReasoningFormat, terminator: str,
    i: int,
) -> TrainingText:  # fmt: skip
    """The generation prompt followed by what the model writes after it: the rest of the
    trace block, the answer and the turn's ``terminator`` (module doc)."""
    head = prompt if prefill is None else prompt[: prefill[0]]
    if not full.startswith(head):
        differ = next((k for k, (a, b) in enumerate(zip(full, head, strict=False)) if a != b), len(full))
        raise ValueError(
            f"example {i}: the chat template renders the conversation differently from its generation prompt "
            f"(they part at character {differ}: {full[differ : differ + 40]!r} vs {head[differ : differ + 40]!r}); "
            "cannot build a training text that starts with the prompt the model is evaluated with"
        )
    if prefill is not None and prefill[1]:  # the prompt holds the (empty) trace block
        text = prompt + target.answer.lstrip() + terminator
        return TrainingText(
            text, len(prompt), (prefill[0], len(prompt.rstrip())), _skip_blank(text, len(prompt)), False
        )
    if prefill is not None and target.reasoning is None:
        target = Target("", target.answer)  # the prompt opened a trace: the target closes it
    written = _inline(target, fmt)
    if target.reasoning is None:
        text = prompt + written + terminator
        return TrainingText(text, len(prompt), None, _skip_blank(text, len(prompt)), False)
    completion = written.lstrip()[len(fmt.open) :]
    if prefill is not None:  # the prompt holds the opening delimiter (and maybe blank space after it)
        gap = prompt[prefill[0] + len(fmt.open) :]
        completion = completion[len(gap) :] if completion.startswith(gap) else completion.lstrip()
        open_at = prefill[0]
    else:
        completion, open_at = fmt.open + completion, len(prompt)
    text = prompt + completion + terminator
    block_end = _close_end(text, open_at, fmt)
    if block_end is None:  # pragma: no cover - the block was built closed
        raise ValueError(f"example {i}: the trace block of the constructed training text does not close")
    return TrainingText(text, len(prompt), (open_at, block_end), _skip_blank(text, block_end), False)


def _history(
    messages: Sequence[Mapping[str, Any]], field: ReasoningField, fmt: ReasoningFormat, policy: HistoryReasoning,
    swaps: dict[str, str], tag: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """Earlier turns with their reasoning where ``policy`` wants it (``swaps``: placeholders
    rendered instead of a kept block, swapped back after rendering)."""
    out = []
    for k, m in enumerate(messages):
        msg = {key: v for key, v in m.items() if key != "reasoning"}
        reasoning = m.get("reasoning")
        if m.get("role") != "assistant" or reasoning is None or policy == "drop":
            out.append(msg)
            continue
        content = str(msg.get("content") or "")
        if policy == "keep":
            placeholder = f"{tag}H{k}X"  # ends in a letter: no placeholder is a prefix of another
            swaps[placeholder] = _block(fmt, str(reasoning)) + content
            msg["content"] = placeholder
        elif field == "inline":
            msg["content"] = _block(fmt, str(reasoning)) + content
        else:
            msg[field] = str(reasoning)
        out.append(msg)
    return out


def _final(target: Target, field: ReasoningField, fmt: ReasoningFormat) -> dict[str, Any]:
    if field == "inline":
        return {"role": "assistant", "content": _inline(target, fmt)}
    msg: dict[str, Any] = {"role": "assistant", "content": target.answer}
    if target.reasoning is not None:
        msg[field] = target.reasoning
    return msg


def render_training_texts(
    conversations: Sequence[Sequence[Mapping[str, Any]]],
    tokenizer: Any,
    fmt: ReasoningFormat | None = None,
    targets: Sequence[Target] | None = None,
    *,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    history_reasoning: HistoryReasoning = "template",
    field: ReasoningField | None = None,
) -> list[TrainingText]:
    """Training texts of ``conversations`` (see the module docstring).

    Args:
        conversations: message lists; the last is the assistant's target (its
            ``"reasoning"``/``"content"`` are read unless ``targets`` is given).
        tokenizer: a Hugging Face tokenizer with a chat template.
        fmt: the reasoning family (default ``think``).
        targets: the final turns, already split (one per conversation).
        chat_template_kwargs: template variables, the ones used at evaluation.
        history_reasoning: earlier turns' ``"reasoning"``: ``"template"`` (in the
            template's field, or inline: the template keeps or drops it), ``"keep"``
            (always, as an inline block), ``"drop"``.
        field: override the reasoning field read off the template.
    """
    from ..core.detect import template_text
    from ..core.formats import get_format

    family = fmt if fmt is not None else get_format("think")
    kwargs = dict(chat_template_kwargs or {})
    if "add_generation_prompt" in kwargs or "tokenize" in kwargs:
        raise ValueError("chat_template_kwargs: add_generation_prompt and tokenize are set by the masking itself")
    if history_reasoning not in ("template", "keep", "drop"):
        raise ValueError(f"history_reasoning must be 'template', 'keep' or 'drop', got {history_reasoning!r}")
    template, _ = template_text(tokenizer)
    if not template:
        raise ValueError(
            "the tokenizer has no chat template: set tokenizer.chat_template (the one the model is served with)"
        )
    where = field or reasoning_field(str(template))
    if targets is None:
        targets = [target_of(conv[-1], family) for conv in conversations]
    swaps: dict[str, str] = {}
    tag = f"TRACEMASK{secrets.token_hex(6)}"
    history = [
        _history(conv[:-1], where, family, history_reasoning, swaps, f"{tag}E{i}")
        for i, conv in enumerate(conversations)
    ]
    full = [[*h, _final(t, where, family)] for h, t in zip(history, targets, strict=True)]
    prompts = _render(tokenizer, history, True, kwargs, swaps, tag)
    fulls = [text.rstrip("\n") for text in _render(tokenizer, full, False, kwargs, swaps, tag)]
    prefills = [_prefill(prompt, family) for prompt in prompts]
    out: list[TrainingText | None] = []
    for i, (prompt, prefill, text, target) in enumerate(zip(prompts, prefills, fulls, targets, strict=True)):
        if prefill is not None and prefill[1] and target.reasoning:
            raise _closed_refusal(i, kwargs)
        found = _locate(text, prompt, prefill, target, family) if text.startswith(prompt) else None
        out.append(None if found is None else TrainingText(text, len(prompt), found[0], found[1], True))
    redo = [i for i, t in enumerate(out) if t is None]
    ends = _terminators(tokenizer, [full[i] for i in redo], kwargs, swaps, tag)
    for i, terminator in zip(redo, ends, strict=True):
        out[i] = _construct(fulls[i], prompts[i], prefills[i], targets[i], family, terminator, i)
    return [t for t in out if t is not None]


def _terminators(tokenizer: Any, convs: list[list[dict[str, Any]]], kwargs: dict[str, Any], swaps: Mapping[str, str],
                 tag: str) -> list[str]:  # fmt: skip
    """What the template writes after the final turn's content (its end of turn): the
    text after a placeholder content, trailing newlines dropped."""
    placeholder = f"{tag}T"
    shown = [[*conv[:-1], {"role": "assistant", "content": placeholder}] for conv in convs]
    out = []
    for k, text in enumerate(_render(tokenizer, shown, False, kwargs, swaps, tag)):
        at = text.rfind(placeholder)
        if at < 0:
            raise ValueError(
                f"the chat template dropped the final assistant message of a conversation ({k}); cannot train on it"
            )
        out.append(text[at + len(placeholder) :].rstrip("\n"))
    return out


def target_of(message: Mapping[str, Any], fmt: ReasoningFormat) -> Target:
    """The final assistant turn of a conversation: its ``"reasoning"`` key, else an inline
    block in its content (:func:`split_inline`), else no trace."""
    content = str(message.get("content") or "")
    if "reasoning" in message:
        return Target(str(message["reasoning"] or ""), content)
    return split_inline(content, fmt)


def _render(tokenizer: Any, convs: list[list[dict[str, Any]]], generation: bool, kwargs: dict[str, Any],
            swaps: Mapping[str, str], tag: str) -> list[str]:  # fmt: skip
    """One batched render (one template compilation); placeholders swapped back."""
    if not convs:
        return []
    texts = tokenizer.apply_chat_template(convs, tokenize=False, add_generation_prompt=generation, **kwargs)
    if not swaps:
        return list(texts)
    placeholder = re.compile(re.escape(tag) + r"E\d+H\d+X")
    return [placeholder.sub(lambda m: swaps[m.group()], text) for text in texts]
