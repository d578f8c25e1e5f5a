"""Real chat templates (tests/fixtures/chat_templates, see SOURCES.md) with tokenizers built
here that carry each model's special tokens the way its released tokenizer does: turn
and channel markers as special tokens, ``<think>``/``</think>`` as ordinary added tokens
(Magistral's ``[THINK]``/``[/THINK]`` and Gemma 4's channel markers are control tokens in
its release, so special here too).  The BPE vocabulary is small and trained on a few
sentences; only the template and the token boundaries at the markers matter for masking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lm_eval_tracecollapse.builtin.tiny import CHATML_TEMPLATE, build_tokenizer

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
_CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_THINK = ["<think>", "</think>"]
_R1 = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]
_CORPUS = [
    "What is 12 + 7? Let me add: 12 + 7 = 19. The answer is 19.",
    "Here is code: print('</think>') and `x` then ```python\nprint(1)\n``` done.",
    "You are a helpful assistant. Reasoning: medium. Knowledge cutoff: 2024-06",
]


@dataclass(frozen=True)
class RealTemplate:
    """One model's template file, its special and added tokens, bos/eos, and family."""

    name: str
    file: str | None  # None: the demo's ChatML template
    special: list[str]
    added: list[str] = field(default_factory=lambda: list(_THINK))
    bos: str | None = None
    eos: str = "<|im_end|>"
    fmt: str = "think"
    kwargs: dict[str, Any] = field(default_factory=dict)  # the template kwargs that switch thinking on

    @property
    def source(self) -> str:
        return CHATML_TEMPLATE if self.file is None else (TEMPLATES / self.file).read_text()


REAL_TEMPLATES = {
    t.name: t
    for t in [
        RealTemplate("chatml", None, _CHATML),
        RealTemplate("qwen3", "qwen3-0.6b.jinja", _CHATML, [*_THINK, "<tool_call>", "</tool_call>"]),
        RealTemplate("qwen3-2507-thinking", "qwen3-next-80b-a3b-thinking.jinja", _CHATML),
        RealTemplate("qwq", "qwq-32b.jinja", _CHATML),
        RealTemplate("r1-distill-qwen", "deepseek-r1-distill-qwen-32b.jinja", _R1, bos=_R1[0], eos=_R1[1]),
        RealTemplate("r1-distill-llama", "deepseek-r1-distill-hf-oneline.jinja", _R1, bos=_R1[0], eos=_R1[1]),
        RealTemplate("olmo-3-think", "olmo-3-7b-think.jinja", _CHATML, eos="<|endoftext|>"),
        RealTemplate("smollm3", "smollm3-3b.jinja", _CHATML),
        RealTemplate(
            "gpt-oss",
            "gpt-oss-120b.jinja",
            [
                "<|start|>",
                "<|end|>",
                "<|message|>",
                "<|channel|>",
                "<|return|>",
                "<|call|>",
                "<|constrain|>",
                "<|endoftext|>",
            ],
            [],
            eos="<|return|>",
            fmt="gpt_oss",
        ),
        RealTemplate(
            "magistral",
            "magistral-small-2509.jinja",
            ["<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[THINK]", "[/THINK]"],
            [],
            bos="<s>",
            eos="</s>",
            fmt="think_bracket",
        ),
        RealTemplate(
            "gemma-4",
            "gemma-4-31b-it.jinja",
            [
                "<bos>",
                "<eos>",
                "<|turn>",
                "<turn|>",
                "<|channel>",
                "<channel|>",
                "<|think|>",
                "<|tool>",
                "<tool|>",
                '<|"|>',
            ],
            [],
            bos="<bos>",
            eos="<turn|>",
            fmt="gemma4",
            kwargs={"enable_thinking": True},
        ),
        RealTemplate(
            "nemotron-nano-v2",
            "nemotron-nano-9b-v2.jinja",
            ["<SPECIAL_10>", "<SPECIAL_11>", "<SPECIAL_12>"],
            eos="<SPECIAL_12>",
        ),
        RealTemplate(
            "glm-4.6",
            "glm-4.6.jinja",
            ["[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>", "<|endoftext|>"],
            eos="<|endoftext|>",
        ),
    ]
}


@cache
def real_tokenizer(name: str) -> Any:
    """A fast tokenizer for ``REAL_TEMPLATES[name]`` (cached: built once per test run)."""
    spec = REAL_TEMPLATES[name]
    return build_tokenizer(_CORPUS * 3, vocab_size=400, chat_template=spec.source, special_tokens=spec.special,
                           added_tokens=spec.added, bos_token=spec.bos, eos_token=spec.eos, pad_token=None)  # fmt: skip


#: chat-template variables that switch thinking on for a fixture whose default is off
THINKING_ON: dict[str, dict[str, Any]] = {
    "exaone-4.0-1.2b.jinja": {"enable_thinking": True},
    "hy3-preview.jinja": {"reasoning_effort": "high"},
    "deepseek-v3.1.jinja": {"thinking": True},
    "deepseek-v3.2.jinja": {"thinking": True},
    "gemma-4-31b-it.jinja": {"enable_thinking": True},
}
_MARKERS = re.compile(
    r"<\|[A-Za-z0-9_:./\- ]{1,40}\|>|<｜[^｜]{1,40}｜>|\[gMASK\]|<sop>|<SPECIAL_\d+>|<\|[a-z_]+>|<[a-z_]+\|>"
    r"|\[/?[A-Z_]{2,20}\]|\[\|[a-z_]+\|\]|</?seed:[a-z_]+>"
)


@cache
def fixture_tokenizer(file: str) -> Any:
    """A fast tokenizer for any template of tests/fixtures/chat_templates: ``REAL_TEMPLATES``'
    own where it has one, else the template's markers (``<|…|>``, ``<｜…｜>``, ``[INST]``…) as
    special tokens and ``<think>``/``</think>`` as ordinary added ones."""
    spec = next((t for t in REAL_TEMPLATES.values() if t.file == file), None)
    if spec is not None:
        return real_tokenizer(spec.name)
    source = (TEMPLATES / file).read_text()
    markers = sorted(set(_MARKERS.findall(source)) - set(_THINK)) or ["<|im_end|>"]
    eos = next((m for m in ("<|im_end|>", "<|endoftext|>", "<|eos|>") if m in markers), markers[0])
    return build_tokenizer(_CORPUS * 3, vocab_size=400, chat_template=source, special_tokens=markers, eos_token=eos,
                           pad_token=None)  # fmt: skip
