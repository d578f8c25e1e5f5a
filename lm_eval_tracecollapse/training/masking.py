"""SFT loss masking of the reasoning trace: the paper's mitigation, for Trainer and TRL.

Fine-tuning a reasoning model on data without traces teaches it to stop reasoning.
Masking the trace part of the loss (full masking) or down-weighting it (partial
masking) keeps it.  :func:`tokenize_with_masks` turns chat examples into
``input_ids``/``attention_mask``/``labels`` (and ``loss_weights`` for ``partial``):

============  ================================================================
mode          effect on the loss
============  ================================================================
none          every token is trained
prompt        everything before the final assistant trace: labels -100
think         the final trace (tags included): labels -100 (ThinkPack's default)
prompt+think  both: train on the answer only
partial       trace tokens weighted by ``weight`` in (0, 1), every other token 1
============  ================================================================

An example is ``{"messages": [...]}`` (the last message is the assistant's target;
its trace comes from a ``"reasoning"`` key, or from a trace already in its
``"content"``) or ``{"prompt": ..., "response": ...}``.  A target with no trace gets
an empty one (``<think>\\n</think>\\n``), the block the model sees at inference; pass
``insert_empty_trace=False`` to keep it trace-free.  The target is rendered through
the tokenizer's chat template behind a placeholder, so templates that strip or
rewrite ``<think>`` blocks (DeepSeek-R1, Qwen3) cannot move the sections.  Section
boundaries come from the tokenizer's offset mapping of the rendered text (a token
straddling a boundary belongs to the later section, as in ThinkPack), never from
re-tokenising substrings.

Training: :class:`TraceMaskCollator` pads a batch; :func:`weighted_causal_lm_loss`
applies ``loss_weights`` (normalised by the number of trained tokens, so a weight
``w`` scales that token's gradient by exactly ``w``); :class:`WeightedLossMixin` puts
it into ``transformers.Trainer`` or TRL's ``SFTTrainer`` (``TraceMaskTrainer`` is the
ready-made Trainer).

Example:
    >>> from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    >>> tok = build_tokenizer(["2 + 3 = 5"], vocab_size=280)
    >>> ex = {"prompt": "2+3?", "reasoning": "2+3=5", "response": "5"}
    >>> row = tokenize_with_masks([ex], tok, mode="think")[0]
    >>> masked = [t for t, l in zip(row["input_ids"], row["labels"]) if l == -100]
    >>> tok.decode(masked)
    '<think>\\n2+3=5\\n</think>\\n'
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, get_args

from ..core.formats import ReasoningFormat, get_format
from .text import (
    HistoryReasoning,
    ReasoningField,
    Target,
    TrainingText,
    render_training_texts,
    split_inline,
    target_of,
)

__all__ = [
    "MODES",
    "TraceMaskCollator",
    "TraceMaskTrainer",  # noqa: F822 - built by the module __getattr__ on first use
    "WeightedLossMixin",
    "split_trace",
    "tokenize_with_masks",
    "weighted_causal_lm_loss",
]

#: what the loss ignores: nothing, the prompt, the trace, both, or the trace down-weighted
MaskMode = Literal["none", "prompt", "think", "prompt+think", "partial", "prompt+partial"]
MODES: tuple[MaskMode, ...] = get_args(MaskMode)
IGNORE_INDEX = -100


def _messages(example: Mapping[str, Any], index: int) -> list[dict[str, Any]]:
    if "messages" in example:
        messages = [dict(m) for m in example["messages"]]
    elif "prompt" in example and "response" in example:
        messages = [
            {"role": "user", "content": example["prompt"]},
            {"role": "assistant", "content": example["response"]},
        ]
        if "reasoning" in example:
            messages[-1]["reasoning"] = example["reasoning"]
    else:
        raise ValueError(f"example {index}: needs 'messages', or 'prompt' and 'response'")
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError(f"example {index}: the last message must be the assistant's (the training target)")
    return messages


def split_trace(content: str, fmt: str = "think") -> tuple[str | None, str]:
    """(reasoning, answer) of a target whose trace is written inline (a closed block at
    its start; the first closing delimiter outside Markdown code ends it), else
    ``(None, content)``.

    >>> split_trace("<think>2+2</think>4"), split_trace("4")
    (('2+2', '4'), (None, '4'))
    """
    target = split_inline(content, get_format(fmt))
    return target.reasoning, target.answer


def _target(message: Mapping[str, Any], family: ReasoningFormat, insert_empty: bool) -> Target:
    """The final assistant turn: a ``"reasoning"`` key, else an inline block, else no
    trace (an empty one with ``insert_empty``)."""
    target = target_of(message, family)
    if target.reasoning is None and insert_empty:
        return Target("", target.answer)
    return target


def _encode(tokenizer: Any, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and character offsets, straight from the Rust tokenizer when there is one."""
    if not texts:
        return [], []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        encodings = backend.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encodings], [e.offsets for e in encodings]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    return encoded["input_ids"], encoded["offset_mapping"]


def _mode(mode: MaskMode, weight: float) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown masking mode {mode!r}; use one of {', '.join(MODES)}")
    if mode in ("partial", "prompt+partial") and not 0.0 < weight < 1.0:
        raise ValueError(f"partial masking needs 0 < weight < 1, got {weight!r}")


def _family(fmt: str, tokenizer: Any, chat_template_kwargs: Mapping[str, Any] | None) -> ReasoningFormat:
    if fmt != "auto":
        return get_format(fmt)
    from ..core.detect import detect_format

    detected = detect_format(tokenizer, dict(chat_template_kwargs or {}))
    return detected.fmt if detected is not None else get_format("think")


def _tokens(tokenizer: Any, texts: list[TrainingText]) -> list[tuple[list[int], Any, Any]]:
    """(ids, prompt offsets, completion offsets) of each text: the generation prompt and
    the completion encoded apart, so the ids start with exactly the prompt's ids."""
    prompt_ids, prompt_offsets = _encode(tokenizer, [t.text[: t.prompt_end] for t in texts])
    tail_ids, tail_offsets = _encode(tokenizer, [t.text[t.prompt_end :] for t in texts])
    return [(list(p) + list(c), po, co) for p, po, c, co in zip(prompt_ids, prompt_offsets, tail_ids, tail_offsets,
                                                                  strict=True)]  # fmt: skip


def _token_at(char: int, prompt_end: int, prompt_offsets: Any, tail_offsets: Any) -> int:
    """The first token whose span ends after ``char`` (a straddling token goes later)."""
    if char >= prompt_end:
        return len(prompt_offsets) + bisect.bisect_right(tail_offsets, char - prompt_end, key=itemgetter(1))
    return bisect.bisect_right(prompt_offsets, char, key=itemgetter(1))


def tokenize_with_masks(
    examples: Iterable[Mapping[str, Any]],
    tokenizer: Any,
    mode: MaskMode = "think",
    weight: float = 0.5,
    fmt: str = "think",
    max_length: int | None = None,
    insert_empty_trace: bool = True,
    *,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    history_reasoning: HistoryReasoning = "template",
    reasoning_field: ReasoningField | None = None,
) -> list[dict[str, list]]:
    """Tokenise chat examples with trace-aware labels (see the module docstring).

    Returns one dict per example: ``input_ids``, ``attention_mask``, ``labels`` and,
    for ``mode="partial"`` (and ``"prompt+partial"``, which also leaves the prompt
    untrained), ``loss_weights``.  Needs a fast tokenizer (offsets).  ``fmt="auto"``
    reads the family off the chat template (:func:`~lm_eval_tracecollapse.core.detect.detect_format`);
    ``chat_template_kwargs`` are the template variables the model is evaluated with;
    ``history_reasoning`` and ``reasoning_field``: see
    :func:`~lm_eval_tracecollapse.training.text.render_training_texts`.
    """
    _mode(mode, weight)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenize_with_masks needs a fast tokenizer (offset mappings): load it with use_fast=True")
    family = _family(fmt, tokenizer, chat_template_kwargs)
    conversations, targets = [], []
    for i, example in enumerate(examples):
        messages = _messages(example, i)
        conversations.append(messages)
        targets.append(_target(messages[-1], family, insert_empty_trace))
    texts = render_training_texts(
        conversations, tokenizer, family, targets, chat_template_kwargs=chat_template_kwargs,
        history_reasoning=history_reasoning, field=reasoning_field,
    )  # fmt: skip
    rows = []
    for (ids, p_off, c_off), t in zip(_tokens(tokenizer, texts), texts, strict=True):
        if max_length is not None:
            ids = ids[:max_length]
        think_at, answer_at = (t.trace[0], t.answer_at) if t.trace is not None else (t.prompt_end, t.prompt_end)
        t0 = min(_token_at(think_at, t.prompt_end, p_off, c_off), len(ids))
        t1 = min(_token_at(answer_at, t.prompt_end, p_off, c_off), len(ids))
        labels = list(ids)
        if mode in ("prompt", "prompt+think", "prompt+partial"):
            labels[:t0] = [IGNORE_INDEX] * t0
        if mode in ("think", "prompt+think"):
            labels[t0:t1] = [IGNORE_INDEX] * (t1 - t0)
        row: dict[str, list] = {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
        if mode in ("partial", "prompt+partial"):
            row["loss_weights"] = [1.0] * t0 + [float(weight)] * (t1 - t0) + [1.0] * (len(ids) - t1)
        rows.append(row)
    return rows


class TraceMaskCollator:
    """Pad a batch from :func:`tokenize_with_masks` into tensors.

    ``input_ids`` with the tokenizer's pad id, ``attention_mask`` with 0, ``labels``
    with -100, ``loss_weights`` with 0.0; ``padding_side`` ``"right"`` (training
    default) or ``"left"``.

    >>> from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    >>> c = TraceMaskCollator(build_tokenizer(["a b"], vocab_size=270))
    >>> batch = c([{"input_ids": [5, 6], "attention_mask": [1, 1], "labels": [5, 6]},
    ...            {"input_ids": [7], "attention_mask": [1], "labels": [-100]}])
    >>> batch["labels"].tolist()
    [[5, 6], [-100, -100]]
    """

    def __init__(self, tokenizer: Any, padding_side: str = "right", pad_to_multiple_of: int | None = None) -> None:
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token to pad with")
        self.pad_id, self.side, self.multiple = int(pad), padding_side, pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Sequence]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            longest = -(-longest // self.multiple) * self.multiple
        fill = {"input_ids": self.pad_id, "attention_mask": 0, "labels": IGNORE_INDEX, "loss_weights": 0.0}
        batch: dict[str, Any] = {}
        for key, value in fill.items():
            if key not in features[0]:
                continue
            rows = []
            for f in features:
                seq, padding = list(f[key]), [value] * (longest - len(f[key]))
                rows.append(seq + padding if self.side == "right" else padding + seq)
            batch[key] = torch.tensor(rows, dtype=torch.float32 if key == "loss_weights" else torch.long)
        return batch


def weighted_causal_lm_loss(logits: Any, labels: Any, loss_weights: Any | None = None) -> Any:
    """Next-token cross-entropy, each target token scaled by its weight.

    ``sum_i w_i * CE_i / n`` over the ``n`` positions whose label is not -100, so a
    token with weight ``w`` receives exactly ``w`` times the gradient it would get
    with weight 1 (and a -100 label none at all).
    """
    import torch.nn.functional as F

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    ce = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    trained = (shift_labels.reshape(-1) != IGNORE_INDEX).float()
    weights = trained if loss_weights is None else loss_weights[:, 1:].reshape(-1).float() * trained
    return (ce * weights).sum() / trained.sum().clamp(min=1.0)


class WeightedLossMixin:
    """Mix into ``transformers.Trainer`` / TRL ``SFTTrainer`` so ``loss_weights`` count.

    ``class MySFT(WeightedLossMixin, SFTTrainer): ...``; keep the column with
    ``remove_unused_columns=False``.  Batches without ``loss_weights`` train as usual.
    """

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any) -> Any:
        weights = inputs.pop("loss_weights", None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)  # type: ignore[misc]
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = weighted_causal_lm_loss(outputs.logits, labels, weights)
        return (loss, outputs) if return_outputs else loss


def _trainer_class() -> type:
    from transformers import Trainer

    return type("TraceMaskTrainer", (WeightedLossMixin, Trainer), {"__doc__": "Trainer with loss_weights."})


def __getattr__(name: str) -> Any:
    # TraceMaskTrainer is built on first use: importing transformers' Trainer is slow
    if name == "TraceMaskTrainer":
        cls = _trainer_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
