"""A tiny reasoning-model kit built locally from code: tokenizer, chat template, Llama.

No hub access: the byte-level BPE tokenizer is trained on a text corpus you pass,
``<think>``/``</think>`` are *ordinary* added tokens (so they survive decoding with
``skip_special_tokens=True``, as Qwen3's do), and the chat template is ChatML.

Example:
    >>> tok = build_tokenizer(["2 + 3 = 5", "7 + 8 = 15"], vocab_size=300)
    >>> tok.convert_ids_to_tokens(tok("<think>x</think>")["input_ids"])[0]
    '<think>'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["ARCHS", "CHATML_TEMPLATE", "build_model", "build_tokenizer", "model_config"]

#: ChatML, as Qwen-style models use it; the generation prompt opens the assistant turn
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_THINK = ["<think>", "</think>"]


def build_tokenizer(
    corpus: Iterable[str],
    vocab_size: int = 512,
    chat_template: str = CHATML_TEMPLATE,
    *,
    special_tokens: Sequence[str] = _SPECIAL,
    added_tokens: Sequence[str] = _THINK,
    bos_token: str | None = None,
    eos_token: str = "<|im_end|>",
    pad_token: str | None = "<|endoftext|>",
) -> Any:
    """A fast byte-level BPE tokenizer trained on ``corpus`` (deterministic).

    ``special_tokens`` (turn markers) are special, ``added_tokens`` ordinary added tokens
    (``<think>``/``</think>`` by default): pass a model's own to stand in for its released
    tokenizer with its ``chat_template`` (``pad_token`` None: the eos token pads).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(list(corpus), trainer=trainer)
    if added_tokens:
        raw.add_tokens([AddedToken(t, special=False, normalized=False) for t in added_tokens])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=bos_token,
        eos_token=eos_token,
        pad_token=pad_token if pad_token is not None else eos_token,
        unk_token=None,
    )
    tok.chat_template = chat_template
    return tok


#: the architectures :func:`build_model` builds: the demo's Llama, and Qwen3's (q/k norms, grouped KV heads)
ARCHS = ("llama", "qwen3")


def model_config(tokenizer: Any, hidden: int = 64, layers: int = 2, heads: int = 4, arch: str = "llama") -> Any:
    """The ``transformers`` config of a small model sized for ``tokenizer`` (``arch``: :data:`ARCHS`).

    >>> tok = build_tokenizer(["2 + 3 = 5"], vocab_size=280)
    >>> type(model_config(tok, arch="qwen3")).__name__, model_config(tok).num_hidden_layers
    ('Qwen3Config', 2)
    """
    from transformers import LlamaConfig, Qwen3Config

    common = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                  num_attention_heads=heads, max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                  eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True)  # fmt: skip
    if arch == "llama":
        return LlamaConfig(num_key_value_heads=heads, **common)
    if arch == "qwen3":
        return Qwen3Config(num_key_value_heads=max(1, heads // 2), head_dim=hidden // heads, **common)
    raise ValueError(f"unknown architecture {arch!r}; use one of {', '.join(ARCHS)}")


def build_model(tokenizer: Any, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0,
                arch: str = "llama") -> Any:  # fmt: skip
    """A small randomly initialised causal LM sized for ``tokenizer`` (``LlamaForCausalLM``, or
    ``Qwen3ForCausalLM`` with ``arch="qwen3"``)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(model_config(tokenizer, hidden, layers, heads, arch))
