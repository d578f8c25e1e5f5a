"""Shared command line of the benchmark scripts, and the chat tokenizers they mask with."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: the real chat templates of tests/fixtures/chat_templates (see SOURCES.md there)
TEMPLATES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "chat_templates"
_CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_THINK = ["<think>", "</think>"]
#: template name: (template file, None for the demo's ChatML; special tokens; added tokens; label)
CHAT_TEMPLATES: dict[str, tuple[str | None, list[str], list[str], str]] = {
    "chatml": (None, _CHATML, _THINK, "ChatML (the demo's)"),
    "qwen3": ("qwen3-0.6b.jinja", _CHATML, [*_THINK, "<tool_call>", "</tool_call>"], "Qwen3 (`qwen3-0.6b.jinja`)"),
}


def bench_args(doc: str | None, n: int, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """``--n`` (problem size), ``--repeat`` (timings; the best is kept) and ``--seed``, on
    ``parser`` (a script's own options) when given."""
    ap = parser or argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=n, help=f"problem size (default {n})")
    ap.add_argument("--repeat", type=int, default=3, help="timings per measurement; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def chat_tokenizer(name: str, corpus: Iterable[str], vocab_size: int = 512) -> Any:
    """A fast byte-level BPE tokenizer trained on ``corpus`` with the chat template ``name``
    (a key of :data:`CHAT_TEMPLATES`) and that model's special tokens as released: turn
    markers special, ``<think>``/``</think>`` (and Qwen3's ``<tool_call>`` pair) ordinary
    added tokens, as tests/real_templates.py builds them.  ``"chatml"`` is the demo's
    tokenizer (``lm_eval_tracecollapse.builtin.tiny.build_tokenizer``) itself."""
    from lm_eval_tracecollapse.builtin.tiny import build_tokenizer

    file, special, added, _ = CHAT_TEMPLATES[name]
    if file is None:
        return build_tokenizer(corpus, vocab_size=vocab_size)
    template = (TEMPLATES / file).read_text(encoding="utf-8")
    return build_tokenizer(corpus, vocab_size=vocab_size, chat_template=template, special_tokens=special,
                           added_tokens=added)  # fmt: skip
