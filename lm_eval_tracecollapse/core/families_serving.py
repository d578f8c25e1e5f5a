"""Built-in families first transcribed from vLLM 0.34 / vLLM's repository and SGLang 0.5.23.

Each one is a delimiter convention that no earlier family covers: its markers differ
(Solar Open 2's ``<|think:start|>``, LongCat's ``<longcat_think>``, openPangu's
``[unused16]``, a HY v4 checkpoint's ``<think:6124c78e>``) or its trace ends in a way
no other family's does (HyperCLOVA X SEED Think 14B closes the turn and opens a new
assistant turn).  Appended to :data:`.families.BUILTINS`; the sources are cited per
family and the peers' test cases are in ``tests/fixtures/peer_reasoning/``.

Example:
    >>> [f.name for f in SERVING]
    ['solar_open2', 'longcat', 'pangu', 'hunyuan_v4', 'hyperclovax']
    >>> from lm_eval_tracecollapse import parse_trace
    >>> parse_trace("I need to analyze<|think:end|>42", fmt="solar_open2").status.value
    'valid'
"""

from __future__ import annotations

from .family import ReasoningFormat

__all__ = ["SERVING"]

_VLLM_MAIN = "vLLM repository (main, after 0.34.0)"

SERVING: tuple[ReasoningFormat, ...] = (
    ReasoningFormat(
        "solar_open2",
        "<|think:start|>",
        "<|think:end|>",
        case_sensitive=True,
        # the streaming parser ends the trace at a tool call emitted inside it (the
        # non-streaming one promotes each complete call block into the content)
        implicit_closes=("<|tool_call:start|>",),
        models=("Solar Open 2 (the template prefills <|think:start|>)",),
        source=f"{_VLLM_MAIN} vllm/reasoning/solar_open2_reasoning_parser.py and its tests",
    ),
    ReasoningFormat(
        "longcat",
        "<longcat_think>",
        "</longcat_think>",
        models=("LongCat-Flash-Thinking (the template prefills <longcat_think>)",),
        source=f"{_VLLM_MAIN} vllm/reasoning/longcat_reasoning_parser.py",
    ),
    ReasoningFormat(
        "pangu",
        "[unused16]",
        "[unused17]",
        case_sensitive=True,
        implicit_closes=("[unused11]",),  # openPangu's tool-call opener
        answer_end=("[unused10]",),  # openPangu's end of text
        models=("openPangu (Embedded/DeepDiver/Ultra); with a <think> vocabulary: think",),
        source=f"{_VLLM_MAIN} vllm/reasoning/pangu_reasoning_parser.py (<think> if in the vocabulary, "
        "else [unused16]/[unused17])",
    ),
    ReasoningFormat(
        "hunyuan_v4",
        "<think:6124c78e>",
        "</think:6124c78e>",
        implicit_closes=("<tool_calls:6124c78e>",),
        models=("HY v4 checkpoints whose structural tokens carry the :6124c78e suffix",),
        source="vLLM 0.34 vllm/reasoning/hy_v4_reasoning_parser.py and its tests (suffix read from "
        "the vocabulary; other suffixes: register_format)",
    ),
    ReasoningFormat(
        "hyperclovax",
        "/think\n",
        "<|im_end|>\n<|im_start|>assistant",
        case_sensitive=True,
        # the trace is an "assistant/think" turn: the model closes it and opens the
        # assistant turn (or its " -> tool/function_call" turn), which is the answer
        answer_start=r"-> tool/function_call\n",
        answer_end=("<|im_end|><|endofturn|>", "<|im_end|><|stop|>", "<|endofturn|>", "<|im_end|>", "<|stop|>"),
        # a turn boundary is not safe to read as a trace end in arbitrary text: by name only
        auto=False,
        template_markers=("assistant/think", "-> tool/function_call"),
        models=("HyperCLOVA X SEED Think 14B",),
        source=f"{_VLLM_MAIN} vllm/reasoning/hyperclovax_seed_think_14b_reasoning_parser.py, its tests and "
        "examples/tool_chat_template_hyperclovax_seed_think_14b.jinja",
    ),
)
