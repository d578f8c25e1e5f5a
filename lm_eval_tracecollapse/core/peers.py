"""Which of our families parses what a serving stack's reasoning parser parses.

A user who serves a model with ``vllm serve --reasoning-parser NAME`` (or SGLang's
``--reasoning-parser NAME``) reads its raw responses with ``fmt=family_for_parser(NAME)``.
The name lists are transcribed from the stacks' own registries (vLLM 0.34.0's
``vllm/reasoning/__init__.py`` ``_REASONING_PARSERS_TO_REGISTER``, SGLang 0.5.23's
``sglang/srt/parser/reasoning_parser_names.py`` = ``ReasoningParser.DetectorMap``;
``tests/fixtures/peer_reasoning/`` holds the transcriptions and their sources).
``"auto"`` marks a template-driven parser (vLLM ``hf``/``beam``, SGLang
``response_template``/``beam``): its markers come from the checkpoint's chat template,
so :func:`~lm_eval_tracecollapse.core.detect.detect_format` (or ``fmt="auto"``) finds them.

Example:
    >>> family_for_parser("deepseek_r1"), family_for_parser("gemma4", stack="sglang")
    ('think', 'gemma4')
    >>> family_for_parser("solar_open2")  # in vLLM's repository after 0.34.0
    'solar_open2'
"""

from __future__ import annotations

__all__ = ["SGLANG_0_5_23", "VLLM_0_34", "VLLM_REPOSITORY", "family_for_parser"]

_THINK = "think"

#: vLLM 0.34.0: every registered reasoning parser (44) -> our family
VLLM_0_34: dict[str, str] = {
    **dict.fromkeys(
        (
            "deepseek_r1",
            "deepseek_v3",
            "deepseek_v4",
            "deepseek_v41",
            "poolside_v1",
            "ernie45",
            "glm45",
            "glm47",
            "ling3",
            "granite_thinking_parser",
            "holo2",
            "kimi_k2",
            "mimo",
            "minicpmv",
            "minimax_m2",
            "minimax_m2_append_think",
            "nemotron_v3",
            "olmo3",
            "qwen3",
            "ripple",
            "step3",
            "step3p5",
            "step5",
            "zaya",
        ),
        _THINK,
    ),
    "cohere_command3": "command_a",
    "cohere_command4": "command_a",
    "gemma4": "gemma4",
    "openai_gptoss": "gpt_oss",
    "granite": "granite",
    "hf": "auto",
    "beam": "auto",
    "hunyuan_a13b": "hunyuan",
    "hy_v3": "hunyuan_v3",
    "hy_v4": "hunyuan_v4",
    "kimi_k3": "kimi_k3",
    "k2_horizon": "k2_horizon",
    "minimax_m3": "minimax_m3",
    "mistral": "think_bracket",
    "plamo3": "plamo3",
    "muse": "muse",
    "muse_glimmer": "muse",
    "musespark": "muse",
    "seed_oss": "seed_oss",
    "inkling": "inkling",
}

#: parsers in vLLM's repository outside 0.34.0's registry (added after it, or plugins
#: registered by their own module) whose source was read -> our family
VLLM_REPOSITORY: dict[str, str] = {
    **dict.fromkeys(
        (
            "hyperclovax_seed_think",
            "openpangu_v2",
            "gigachat35",
            "exaone4",
            "minimax_m1",
            "rwkv",
            "telechat",
            "xingchen4",
        ),
        _THINK,
    ),
    "solar_open2": "solar_open2",
    "hyperclovax_seed_think_14b": "hyperclovax",
    "longcat": "longcat",
    "pangu": "pangu",
    "apertus": "apertus",
}

#: SGLang 0.5.23: every reasoning detector name (36) -> our family
SGLANG_0_5_23: dict[str, str] = {
    **dict.fromkeys(
        (
            "deepseek-r1",
            "deepseek-v3",
            "deepseek-v4",
            "deepseek-v41",
            "dots",
            "glm45",
            "ling3",
            "hunyuan",
            "kimi_k2",
            "mimo",
            "poolside_v1",
            "qwen3",
            "qwen3-thinking",
            "minimax",
            "minimax-append-think",
            "nanbeige",
            "step3",
            "step3p5",
            "nemotron_3",
            "granite_thinking_parser",
            "interns1",
            "iquest_q1",
            "gigachat35",
        ),
        _THINK,
    ),
    "apertus2509": "apertus",
    "beam": "auto",
    "gpt-oss": "gpt_oss",
    "k2_horizon": "k2_horizon",
    "kimi": "kimi",
    "kimi_k3": "kimi_k3",
    "muse": "muse",
    "minimax-m3": "minimax_m3",
    "mistral": "think_bracket",
    "gemma4": "gemma4",
    "inkling": "inkling",
    "cohere_command4": "command_a",
    "response_template": "auto",
}

_STACKS = {"vllm": (VLLM_0_34, VLLM_REPOSITORY), "sglang": (SGLANG_0_5_23,)}


def family_for_parser(name: str, stack: str = "vllm") -> str:
    """Our family for a serving stack's reasoning-parser name (``"auto"``: template-driven).

    Args:
        name: the name given to ``--reasoning-parser``.
        stack: ``"vllm"`` (0.34.0 and the repository's later parsers) or ``"sglang"`` (0.5.23).

    Raises:
        ValueError: an unknown stack or name; the message lists the known names.

    Example:
        >>> family_for_parser("hyperclovax_seed_think_14b")
        'hyperclovax'
    """
    if stack not in _STACKS:
        raise ValueError(f"unknown serving stack {stack!r}; use 'vllm' or 'sglang'")
    for table in _STACKS[stack]:
        if name in table:
            return table[name]
    known = sorted(k for table in _STACKS[stack] for k in table)
    raise ValueError(f"unknown {stack} reasoning parser {name!r}; known: {', '.join(known)}")
