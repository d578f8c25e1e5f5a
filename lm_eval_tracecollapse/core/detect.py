"""Recognise a model's reasoning family from its Hugging Face chat template.

:func:`detect_format` answers two questions a user would otherwise look up by hand:
which delimiter family does this model use, and does its chat template *prefill*
the opening delimiter into the generation prompt (DeepSeek-R1, QwQ,
Qwen3-*-Thinking-2507, OLMo-3-Think, Apriel 1.6, Kimi K3 do), so that responses
start inside the trace.

The prefill is measured by rendering the template with ``add_generation_prompt=True``
(and the caller's ``chat_template_kwargs``) through transformers' own Jinja renderer,
with a static reading of the ``add_generation_prompt`` block as the fallback when a
template cannot be rendered outside its tokenizer.  No hub access is needed.

The family is read off the template source together with its rendered generation
prompts (default kwargs and the caller's).  Evidence for a family, strongest first:

1. all of its ``template_markers`` occur (Gemma 4 ``<|channel>`` + ``<channel|>``,
   Solar Open ``<|think|>`` + ``<|content|>``, gpt-oss channel pieces);
2. its opening and closing delimiters occur;
3. its opening delimiter occurs;
4. only its closing delimiter occurs, and the family's close is a pure trace
   delimiter (``bare_close``, e.g. ``</think>``).  A close that doubles as a turn
   terminator (gpt-oss / Solar ``<|end|>``, Inkling ``<|end_message|>``, Muse
   ``<|eom|>``; ``bare_close=False``) is never evidence on its own, so Phi-3's
   ``<|end|>`` turns are not gpt-oss.  Plain turn terminators (``<|im_end|>``,
   ``<end_of_turn>``, ``<|eot_id|>``, ``</s>``) are no family's delimiter at all.

Within a tier the longest (most specific) opening delimiter wins, then registration
order; a family whose opening delimiter ends the generation prompt beats all others.
Reasoning models whose template never mentions a delimiter (MiMo, Phi-4-mini-
reasoning: the model writes ``<think>`` unprompted) give ``None``, unless their turn
markers name the model (MiniMax-M1: ``think``; ``_SILENT_TEMPLATES``).

Example:
    >>> tpl = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    >>> tpl += "{% if add_generation_prompt %}<|Assistant|><think>\\n{% endif %}"
    >>> tpl += "{# reasoning ends with </think> #}"
    >>> d = detect_format(tpl)
    >>> d.fmt.name, d.prefills, d.method
    ('think', True, 'rendered')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .formats import ReasoningFormat, all_formats, get_format

__all__ = ["FormatDetection", "detect_format"]

_PROBE_MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


@dataclass(frozen=True)
class FormatDetection:
    """Result of :func:`detect_format`.

    Attributes:
        fmt: the detected family (``.name``, ``.open``, ``.close``).
        prefills: the generation prompt ends with ``fmt.open``.
        method: ``"rendered"`` (the template was rendered) or ``"static"`` (the
            ``add_generation_prompt`` block was read without rendering).
        generation_prompt_tail: the last 80 characters of the rendered prompt, when
            rendered (handy for bug reports).
    """

    fmt: ReasoningFormat
    prefills: bool
    method: str
    generation_prompt_tail: str | None = None


def template_text(source: Any) -> tuple[str | None, Any]:
    """(template text, tokenizer or None) from a template string or a tokenizer."""
    if isinstance(source, str):
        return source, None
    if source is None:
        raise TypeError("detect_format: tokenizer_or_chat_template must be a tokenizer or a template str, got None")
    inner = getattr(source, "tokenizer", None)
    if not hasattr(source, "encode") and inner is not None:  # a multimodal processor
        source = inner
    if not hasattr(source, "chat_template"):
        raise TypeError(
            "detect_format: expected a Hugging Face tokenizer (with .chat_template) or a chat-template str, "
            f"got {type(source).__name__}"
        )
    template = source.chat_template
    if isinstance(template, dict):
        template = "\n".join(str(v) for v in template.values())
    return template, source


def _has(text: str, lowered: str, s: str, case_sensitive: bool) -> bool:
    return s in text if case_sensitive else s.lower() in lowered


# evidence tiers, strongest first (see the module docstring)
_MARKERS, _BOTH, _OPEN, _CLOSE = range(4)


def _tier(text: str, lowered: str, f: ReasoningFormat) -> int | None:
    """How strongly ``text`` points at family ``f``; None: not at all."""
    cs = f.case_sensitive
    if f.template_markers and all(_has(text, lowered, m, cs) for m in f.template_markers):
        return _MARKERS
    if not f.auto:  # kept out of fmt="auto" (HyperCLOVA X's turn boundary): markers only
        return None
    if _has(text, lowered, f.open, cs):
        return _BOTH if _has(text, lowered, f.close, cs) else _OPEN
    # A closing marker on its own identifies only a family whose close is a pure trace
    # delimiter (bare_close, e.g. ``</think>``); closes that double as turn terminators
    # (gpt-oss / Solar ``<|end|>``, Inkling ``<|end_message|>``, Muse ``<|eom|>``) never do.
    if f.bare_close and _has(text, lowered, f.close, cs):
        return _CLOSE
    return None


def _candidates(text: str) -> list[ReasoningFormat]:
    """Families mentioned by ``text``, best evidence first.

    Order: evidence tier, then the longest opening marker (the most specific one:
    ``<|channel>thought`` before ``<|think|>``), then registration order.
    """
    lowered = text.lower()
    ranked = []
    for order, f in enumerate(all_formats()):
        # a family kept out of fmt="auto" (its delimiters are unsafe in arbitrary text)
        # is still recognised by its joint template markers (HyperCLOVA X's turns)
        if (f.auto or f.template_markers) and f.refines is None:
            tier = _tier(text, lowered, f)
            if tier is not None:
                ranked.append((tier, -len(f.open), order, f))
    return [f for *_, f in sorted(ranked, key=lambda x: x[:3])]


#: chat templates that never write their model's trace delimiters but whose turn markers
#: (all of them) name the model: (markers, family).  MiniMax-M1 (``<begin_of_document>``,
#: which MiniMax-Text-01's template lacks) writes ``<think>`` itself.
_SILENT_TEMPLATES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("<begin_of_document>", "<beginning_of_sentence>ai name="), "think"),
)


def _silent(text: str) -> list[ReasoningFormat]:
    """The family of a template without delimiters, recognised by its turn markers.

    >>> [f.name for f in _silent("<begin_of_document><beginning_of_sentence>ai name=assistant")]
    ['think']
    """
    return [get_format(name) for markers, name in _SILENT_TEMPLATES if all(m in text for m in markers)]


def _refined(text: str, fmt: ReasoningFormat) -> ReasoningFormat:
    lowered = text.lower()
    for f in all_formats():
        if f.refines == fmt.name and f.template_markers and _tier(text, lowered, f) == _MARKERS:
            return f
    return fmt


def _render(template: str, tokenizer: Any, kwargs: dict[str, Any]) -> str | None:
    """The generation prompt for a one-turn conversation, or None if it cannot be rendered."""
    try:
        if tokenizer is not None and hasattr(tokenizer, "apply_chat_template"):
            out = tokenizer.apply_chat_template(_PROBE_MESSAGES, tokenize=False, add_generation_prompt=True, **kwargs)
            return out if isinstance(out, str) else None
        from transformers.utils.chat_template_utils import render_jinja_template

        special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
        # returns (rendered prompts, generation indices); annotated as str upstream
        result: Any = render_jinja_template(
            conversations=[_PROBE_MESSAGES],
            chat_template=template,
            add_generation_prompt=True,
            **{**special, **kwargs},
        )
        return str(result[0][0])
    except Exception:  # noqa: BLE001 - any template error means "fall back to the static reading"
        return None


def _static_prefill(template: str, fmt: ReasoningFormat) -> bool:
    """Does the last ``add_generation_prompt`` block emit ``fmt.open``?"""
    i = template.rfind("add_generation_prompt")
    if i < 0:
        return False
    block = template[i : i + 400]
    end = block.find("endif")
    block = block if end < 0 else block[:end]
    if fmt.case_sensitive:
        return fmt.open in block
    return fmt.open.lower() in block.lower()


def _ends_with_open(prompt: str, fmt: ReasoningFormat) -> bool:
    tail = prompt.rstrip()[-len(fmt.open) :]
    return tail == fmt.open if fmt.case_sensitive else tail.lower() == fmt.open.lower()


def detect_format(
    tokenizer_or_chat_template: Any, chat_template_kwargs: dict[str, Any] | None = None
) -> FormatDetection | None:
    """Detect the delimiter family of a chat template and whether it prefills.

    Args:
        tokenizer_or_chat_template: a Hugging Face tokenizer or processor (its
            ``chat_template`` is used and rendered with ``apply_chat_template``) or a
            chat-template string.
        chat_template_kwargs: extra template variables for the rendering, e.g.
            ``{"enable_thinking": False}`` for Qwen3's non-thinking mode.

    Returns:
        A :class:`FormatDetection`, or ``None`` when the template has no known
        trace delimiters (or the tokenizer has no chat template).

    Raises:
        TypeError: the argument is neither a str nor a tokenizer-like object.

    Example:
        >>> detect_format("{{ messages[0]['content'] }}") is None
        True
    """
    template, tokenizer = template_text(tokenizer_or_chat_template)
    if not template:
        return None
    kwargs = dict(chat_template_kwargs or {})
    rendered = _render(template, tokenizer, kwargs)
    # The family is a property of the template, not of the kwargs: look for it in the
    # source and in the default generation prompt too (Kimi K3 assembles
    # ``<|open|>think<|sep|>`` from pieces and drops it when ``thinking=False``).
    default = _render(template, tokenizer, {}) if kwargs else rendered
    evidence = "\n".join(t for t in (template, rendered, default) if t is not None)
    candidates = _candidates(evidence) or _silent(evidence)
    if not candidates:
        return None
    if rendered is not None:
        prefilling = [f for f in candidates if _ends_with_open(rendered, f)]
        fmt = prefilling[0] if prefilling else candidates[0]
        return FormatDetection(_refined(evidence, fmt), bool(prefilling), "rendered", rendered[-80:])
    prefilling = [f for f in candidates if _static_prefill(template, f)]
    fmt = prefilling[0] if prefilling else candidates[0]
    return FormatDetection(_refined(evidence, fmt), bool(prefilling), "static")
