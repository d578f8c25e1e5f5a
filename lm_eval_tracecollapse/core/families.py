"""The built-in reasoning-delimiter families (what a family is: :class:`.family.ReasoningFormat`).

One entry per delimiter convention that a model serving stack (vLLM 0.33/0.34, SGLang,
llama.cpp) or ThinkPack parses; ``models`` names the model families it covers and
``source`` where its behaviour was transcribed from (see docs/families.md
and ``tests/fixtures/peer_reasoning/``).  The families first transcribed from vLLM 0.34
and SGLang 0.5.23 are in :mod:`.families_serving`; which serving-stack parser name maps
to which family is :mod:`.peers`.  The registry API is :mod:`.formats`.

Example:
    >>> names = [f.name for f in BUILTINS]
    >>> "think" in names and "gemma4" in names
    True
"""

from __future__ import annotations

from .families_serving import SERVING
from .family import ReasoningFormat

__all__ = ["BUILTINS", "ReasoningFormat"]


_TAG_NAMES = ("think", "thinking", "thought", "reasoning")

BUILTINS: tuple[ReasoningFormat, ...] = (
    ReasoningFormat(
        "think",
        "<think>",
        "</think>",
        # the outer tool-call openers with which vLLM's reasoning parsers end a trace of this
        # family (qwen3/glm45/step3p5/ripple `<tool_call>`, kimi_k2, minimax_m2, deepseek_v4/v41,
        # ZAYA's `<zyphra_tool_call>`; SGLang's hunyuan `<tool_calls>`): a trace that calls a
        # tool instead of writing </think>
        implicit_closes=(
            "<tool_call>",
            "<tool_calls>",
            "<|tool_calls_section_begin|>",
            "<minimax:tool_call>",
            "<zyphra_tool_call>",
            "<\uff5cDSML\uff5ctool_calls>",
            "<\uff5cDSML\uff5c calls>",
        ),
        models=(
            "DeepSeek-R1 and distills",
            "DeepSeek V3.1/V3.2/V4/V4.1",
            "Qwen3, Qwen3.5, Qwen3-*-Thinking-2507",
            "Qwen3-Next (end-only </think>)",
            "QwQ",
            "OLMo 3 Think",
            "Nemotron Nano v2 / Nemotron 3",
            "MiniMax-M2",
            "GLM-4.5/4.6/4.7/5",
            "Kimi-K2 Thinking",
            "EXAONE 4",
            "ERNIE-4.5 Thinking",
            "Step3/3.5",
            "Intern-S1",
            "TeleChat4",
            "Holo2",
            "Poolside Laguna",
            "MiMo",
            "Ling/Ring 3",
            "Hunyuan 3/4 (unsuffixed)",
            "Granite 4.2 thinking",
            "MiniCPM-V",
            "SmolLM3",
            "Phi-4-reasoning",
        ),
        source="ThinkPack; vLLM 0.33 vllm/reasoning/ (deepseek_r1, qwen3, glm45, glm47, kimi_k2, minimax_m2, "
        "deepseek_v3/v4, step3, ernie45, mimo, nemotron_v3, holo2, poolside_v1, ling3, olmo3); SGLang; llama.cpp",
    ),
    ReasoningFormat(
        "hunyuan",
        "<think>",
        "</think>",
        answer_start=r"(?i)<answer>",
        answer_end=("</answer>",),
        refines="think",
        template_markers=("<|extra_0|>",),
        models=("Hunyuan-A13B",),
    ),
    ReasoningFormat("thinking", "<thinking>", "</thinking>", models=("Apriel 1.5 (llama.cpp)", "Claude-style prompts")),
    ReasoningFormat("thought", "<thought>", "</thought>", models=("EXAONE Deep",)),
    ReasoningFormat("reasoning", "<reasoning>", "</reasoning>"),
    ReasoningFormat(
        "think_bracket",
        "[THINK]",
        "[/THINK]",
        implicit_closes=("[TOOL_CALLS]",),  # vLLM's mistral parser ends reasoning at a tool call
        models=("Magistral", "Mistral Small/Medium reasoning", "Ministral 3 reasoning"),
        source="vLLM 0.33 vllm/reasoning/mistral_reasoning_parser.py; llama.cpp COMMON_CHAT_FORMAT_MAGISTRAL",
    ),
    *(ReasoningFormat(f"{n}_bracket", f"[{n.upper()}]", f"[/{n.upper()}]") for n in _TAG_NAMES[1:]),
    ReasoningFormat(
        "gpt_oss",
        "<|channel|>analysis<|message|>",
        "<|end|>",
        bare_close=False,
        answer_start=r"(?i)<\|channel\|>final[^<]{0,64}(?:<\|constrain\|>[^<]{0,64})?<\|message\|>",
        answer_start_search=True,
        template_markers=("<|channel|>", "analysis", "<|message|>"),
        answer_end=("<|return|>", "<|end|>", "<|call|>"),
        decoded_form=r"\s*analysis\S",
        models=("gpt-oss",),
    ),
    ReasoningFormat(
        "gpt_oss_text",
        "analysis",
        "assistantfinal",
        case_sensitive=True,
        auto=False,
        models=("gpt-oss decoded with skip_special_tokens=True",),
    ),
    ReasoningFormat("kimi", "◁think▷", "◁/think▷", models=("Kimi-VL-Thinking", "Kimi-1.5")),
    ReasoningFormat(
        "seed_oss", "<seed:think>", "</seed:think>", implicit_closes=("<seed:tool_call>",), models=("Seed-OSS",)
    ),
    ReasoningFormat(
        "command_a",
        "<|START_THINKING|>",
        "<|END_THINKING|>",
        answer_start=r"(?i)<\|START_RESPONSE\|>",
        answer_end=("<|END_RESPONSE|>",),
        models=("Command-A-Reasoning",),
    ),
    ReasoningFormat(
        "granite",
        "Here is my thought process:",
        "Here is my response:",
        case_sensitive=True,
        bare_close=False,
        models=("Granite-3.2", "Granite-3.3"),
    ),
    ReasoningFormat(
        "gemma4",
        "<|channel>thought",
        "<channel|>",
        implicit_closes=("<|tool_call>",),
        template_markers=("<|channel>", "<channel|>"),
        decoded_form=r"\s*thought\n",
        models=("Gemma 4",),
        source="vLLM 0.33 vllm/parser/gemma4.py; SGLang Gemma4Detector",
    ),
    ReasoningFormat(
        "solar_open",
        "<|think|>",
        "<|end|>",
        bare_close=False,
        answer_start=r"<\|begin\|>assistant<\|content\|>|<\|content\|>",
        answer_start_search=True,
        answer_end=("<|end|>",),
        case_sensitive=True,
        template_markers=("<|think|>", "<|content|>"),
        models=("Solar Open",),
        source="text-generation-webui modules/reasoning.py; Solar-Open-100B chat template",
    ),
    ReasoningFormat(
        "apertus",
        "<|inner_prefix|>",
        "<|inner_suffix|>",
        implicit_closes=("<|tools_prefix|>[",),  # SGLang Apertus2509Detector's tool-call opener
        models=("Apertus",),
        source="SGLang Apertus2509Detector; llama.cpp COMMON_CHAT_FORMAT_APERTUS",
    ),
    ReasoningFormat(
        "plamo3",
        "<|plamo:begin_think:plamo|>",
        "<|plamo:end_think:plamo|>",
        implicit_closes=("<|plamo:begin_tool_requests:plamo|>",),
        models=("PLaMo 3",),
        source="vLLM 0.33 vllm/parser/plamo3.py",
    ),
    *(
        ReasoningFormat(
            f"k2_horizon{suffix}",
            f"<ifm|think{suffix}>",
            f"</ifm|think{suffix}>",
            implicit_closes=("<ifm|tool_calls>",),
            models=(f"K2 Horizon (reasoning_effort={effort})",),
            source="vLLM 0.33 vllm/reasoning/k2_horizon_reasoning_parser.py",
        )
        for suffix, effort in (("", "high"), ("_fast", "medium"), ("_faster", "low"))
    ),
    ReasoningFormat(
        "apriel",
        "Here are my reasoning steps:",
        "[BEGIN FINAL RESPONSE]",
        case_sensitive=True,
        answer_end=("[END FINAL RESPONSE]", "<|end|>"),
        template_markers=("[BEGIN FINAL RESPONSE]", "[END FINAL RESPONSE]"),
        models=("Apriel 1.5/1.6 Thinker",),
        source="Apriel-1.5/1.6-15b-Thinker chat templates; llama.cpp COMMON_CHAT_FORMAT_APRIEL",
    ),
    ReasoningFormat(
        "kimi_k3",
        "<|open|>think<|sep|>",
        "<|close|>think<|sep|>",
        answer_start=r"(?i)<\|open\|>response<\|sep\|>",
        answer_end=(
            "<|close|>response<|sep|><|close|>message<|sep|>",
            "<|close|>response<|sep|>",
            "<|close|>message<|sep|>",
        ),
        decoded_form=r"\s*think(?!ing)\S[\s\S]*think\s*response",
        template_markers=("<|open|>", "<|close|>", "<|sep|>"),
        models=("Kimi K3",),
        source="vLLM 0.33 vllm/reasoning/kimi_k3_reasoning_parser.py; SGLang KimiK3Detector",
    ),
    ReasoningFormat(
        "minimax_m3",
        "<mm:think>",
        "</mm:think>",
        models=("MiniMax-M3",),
        source="vLLM 0.33 vllm/parser/minimax_m3.py; SGLang MiniMaxM3Detector",
    ),
    ReasoningFormat(
        "hunyuan_v3",
        "<think:opensource>",
        "</think:opensource>",
        implicit_closes=("<tool_calls:opensource>",),  # SGLang HunyuanDetector (suffixed tokens)
        answer_start=r"(?i)<answer>",
        answer_end=("</answer>",),
        models=("Hunyuan 3/4 (open-source checkpoints; other suffixes: register_format)",),
        source="vLLM 0.33 vllm/reasoning/hy_v3_reasoning_parser.py, hy_v4_reasoning_parser.py",
    ),
    ReasoningFormat(
        "inkling",
        "<|content_thinking|>",
        "<|end_message|>",
        bare_close=False,
        answer_start=r"(?i)(?:<\|message_model\|>)?<\|content_text\|>",
        answer_start_search=True,
        answer_end=("<|end_message|>",),
        models=("Inkling",),
        source="vLLM 0.33 vllm/reasoning/inkling_reasoning_parser.py; SGLang InklingDetector",
    ),
    ReasoningFormat(
        "muse",
        "to=self<|message|>",
        "<|eom|>",
        case_sensitive=True,
        bare_close=False,
        answer_start=r"to=user<\|message\|>",
        answer_start_search=True,
        answer_end=("<|eot|>", "<|eom|>"),
        models=("Muse Spark", "Muse Glimmer"),
        source="vLLM 0.33 vllm/reasoning/muse_reasoning_parser.py",
    ),
    *SERVING,
)
