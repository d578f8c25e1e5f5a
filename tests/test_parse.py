"""Unit tests of parse_trace: every status, every family, the hard cases."""

from __future__ import annotations

import pytest

from lm_eval_tracecollapse import Trace, TraceStatus, list_formats, parse_trace, parse_traces

V, E, M, T = TraceStatus.VALID, TraceStatus.EMPTY, TraceStatus.MISSING, TraceStatus.TRUNCATED


# (family, open, close) as models emit them
FAMILIES = [
    ("think", "<think>", "</think>"),
    ("thinking", "<thinking>", "</thinking>"),
    ("thought", "<thought>", "</thought>"),
    ("reasoning", "<reasoning>", "</reasoning>"),
    ("think_bracket", "[THINK]", "[/THINK]"),
    ("thinking_bracket", "[THINKING]", "[/THINKING]"),
    ("thought_bracket", "[THOUGHT]", "[/THOUGHT]"),
    ("reasoning_bracket", "[REASONING]", "[/REASONING]"),
    ("kimi", "◁think▷", "◁/think▷"),
    ("seed_oss", "<seed:think>", "</seed:think>"),
    ("command_a", "<|START_THINKING|>", "<|END_THINKING|>"),
    ("granite", "Here is my thought process:", "Here is my response:"),
    ("gpt_oss", "<|channel|>analysis<|message|>", "<|end|>"),
]


@pytest.mark.parametrize(("family", "op", "cl"), FAMILIES)
@pytest.mark.parametrize("fmt_arg", ["auto", "named"])
def test_each_family_each_status(family: str, op: str, cl: str, fmt_arg: str) -> None:
    fmt = family if fmt_arg == "named" else "auto"
    valid = parse_trace(f"{op}\n2 + 2 = 4\n{cl}\n\nFour.", fmt=fmt)
    assert (valid.status, valid.reasoning, valid.answer, valid.fmt) == (V, "2 + 2 = 4", "Four.", family)
    empty = parse_trace(f"{op} \n {cl}Four.", fmt=fmt)
    assert (empty.status, empty.reasoning, empty.answer, empty.fmt) == (E, "", "Four.", family)
    truncated = parse_trace(f"{op}2 + 2 is", fmt=fmt)
    assert (truncated.status, truncated.reasoning, truncated.answer, truncated.fmt) == (T, "2 + 2 is", "", family)
    missing = parse_trace("  Four.\n", fmt=fmt)
    assert (missing.status, missing.reasoning, missing.answer, missing.fmt) == (M, None, "Four.", None)


def test_all_builtin_families_are_listed() -> None:
    names = list_formats()
    for family, _, _ in FAMILIES:
        assert family in names
    assert {"hunyuan", "gpt_oss_text"} <= set(names)


@pytest.mark.parametrize(
    "text",
    ["<THINK>a</THINK>b", "<Think>a</think>b", "<think>a</THINK>b", "[think]a[/think]b", "<ThInK>a</tHiNk>b"],
)
def test_tags_are_case_insensitive(text: str) -> None:
    t = parse_trace(text)
    assert (t.status, t.reasoning, t.answer) == (V, "a", "b")


def test_granite_markers_are_case_sensitive_plain_text() -> None:
    assert parse_trace("here is my thought process: x here is my response: y").status is M


@pytest.mark.parametrize(
    "text",
    [
        "<think>\n\n a \n\n</think>\n\n b \n",
        "\n<think>a</think>b",
        "<think>\ta\t</think>\tb\t",
        "\r\n<think>a</think>\r\nb",
    ],
)
def test_whitespace_around_tags(text: str) -> None:
    t = parse_trace(text)
    assert (t.status, t.reasoning, t.answer) == (V, "a", "b")


def test_second_think_block_stays_in_answer() -> None:
    t = parse_trace("<think>one</think>A<think>two</think>B")
    assert (t.status, t.reasoning, t.answer) == (V, "one", "A<think>two</think>B")


def test_empty_first_block_decides_even_if_a_second_is_valid() -> None:
    t = parse_trace("<think></think>A<think>two</think>B")
    assert (t.status, t.answer) == (E, "A<think>two</think>B")


def test_reemitted_second_close_is_dropped() -> None:
    t = parse_trace("<think>r</think>\n</think>\n\nanswer")
    assert (t.status, t.reasoning, t.answer) == (V, "r", "answer")
    # a closing tag later in the answer is kept (ThinkPack behaviour)
    assert parse_trace("<think>r</think>ans </think> more").answer == "ans </think> more"


def test_close_without_open_is_a_prefilled_trace() -> None:
    t = parse_trace("Let me compute.\n</think>\n42")
    assert (t.status, t.reasoning, t.answer, t.fmt) == (V, "Let me compute.", "42", "think")
    assert parse_trace("</think>42").status is E


def test_prompt_prefill_makes_unclosed_response_truncated() -> None:
    prompt = "<｜User｜>2+2?<｜Assistant｜><think>\n"
    assert parse_trace("2 + 2 is", prompt=prompt).status is T
    t = parse_trace("2 + 2 = 4\n</think>\n4", prompt=prompt)
    assert (t.status, t.reasoning, t.answer, t.prefilled) == (V, "2 + 2 = 4", "4", True)
    # without the prompt the same text has no structure
    assert parse_trace("2 + 2 is").status is M
    # a prompt ending in a closed block (Qwen3 enable_thinking=False) is not a prefill
    assert parse_trace("4", prompt="<|im_start|>assistant\n<think>\n\n</think>\n\n").status is M


def test_prefilled_flag_overrides_prompt() -> None:
    assert parse_trace("2 + 2 is", prefilled=True).status is T
    assert parse_trace("2 + 2 is", prompt="x<think>", prefilled=False).status is M
    assert parse_trace("partial", fmt="think_bracket", prefilled=True).fmt == "think_bracket"


def test_prefill_detection_respects_family() -> None:
    t = parse_trace("abc[/THINK]d", prompt="[INST]q[/INST][THINK]")
    assert (t.status, t.fmt, t.answer) == (V, "think_bracket", "d")


def test_finish_reason_length() -> None:
    t = parse_trace("First, 12 * 7 is", finish_reason="length")
    assert (t.status, t.reasoning, t.answer) == (T, "First, 12 * 7 is", "")
    assert parse_trace("<think>a</think>The answer is", finish_reason="length").status is V
    assert parse_trace("<think>a", finish_reason="stop").status is T
    assert parse_trace("plain", finish_reason="stop").status is M


def test_empty_string() -> None:
    assert parse_trace("") == Trace(M, None, "", None)
    assert parse_trace("", prefilled=True).status is T
    assert parse_trace("   \n").status is M


def test_qwen3_tool_call_ends_reasoning() -> None:
    t = parse_trace('<think>\nI should call the tool.\n<tool_call>\n{"name": "f"}\n</tool_call>')
    assert (t.status, t.reasoning, t.answer) == (
        V,
        "I should call the tool.",
        '<tool_call>\n{"name": "f"}\n</tool_call>',
    )
    assert parse_trace("<think><tool_call>{}</tool_call>").status is E


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("<think>\nplan<tool_call>{}</tool_call>", "think"),
        ('<think>\nplan<minimax:tool_call>\n<invoke name="f"></invoke>', "think"),
        ("<think>\nplan<zyphra_tool_call>{}</zyphra_tool_call>", "think"),
        ('<think>\nplan<\uff5cDSML\uff5ctool_calls>\n<\uff5cDSML\uff5cinvoke name="f">', "think"),
        ("<think>\nplan<\uff5cDSML\uff5c calls>x", "think"),
        ("<|tool_calls_section_begin|>", None),
        ('[THINK]plan[TOOL_CALLS][{"name": "f"}]', "think_bracket"),
        ("<seed:think>plan<seed:tool_call>\n<function=f>", "seed_oss"),
    ],
)
def test_a_trace_ended_by_its_family_s_tool_call_is_valid(text: str, fmt: str | None) -> None:
    """Every tool-call opener with which vLLM's reasoning parser ends a trace of that family
    closes the trace the same way (issue 33: <zyphra_tool_call> and <minimax:tool_call> were
    read as truncated while <tool_call> was valid): the call is the answer part."""
    if fmt is None:
        text = "<think>\nplan" + text + "x"
        fmt = "think"
    t = parse_trace(text, fmt=fmt)
    assert (t.status, t.reasoning) == (V, "plan"), text
    assert t.answer and not t.answer.startswith("plan")
    assert parse_trace(text, fmt="auto").status is V


def test_hunyuan_answer_wrapper() -> None:
    t = parse_trace("<think>\nadd\n</think>\n<answer>\n4\n</answer>")
    assert (t.status, t.answer, t.fmt) == (V, "4", "hunyuan")
    assert parse_trace("<think>\n\n</think>\n<answer>4</answer>").status is E
    assert parse_trace("<think>add</think><answer>4</answer>", fmt="think").answer == "<answer>4</answer>"


def test_gpt_oss_harmony_channels() -> None:
    text = (
        "<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|>"
        '<|start|>assistant<|channel|>final<|constrain|>json<|message|>{"x": 4}<|return|>'
    )
    t = parse_trace(text)
    assert (t.status, t.reasoning, t.answer, t.fmt) == (V, "User asks 2+2. Simple.", '{"x": 4}', "gpt_oss")
    # a bare <|end|> is too generic to close a trace on its own
    assert parse_trace("<|channel|>final<|message|>4<|end|>").status is M
    assert parse_trace("<|channel|>analysis<|message|>thinking about").status is T
    # decoded with skip_special_tokens=True, only the named family understands it
    t2 = parse_trace("analysisUser asks 2+2.assistantfinal4", fmt="gpt_oss_text")
    assert (t2.status, t2.reasoning, t2.answer) == (V, "User asks 2+2.", "4")
    assert parse_trace("analysisUser asks 2+2.assistantfinal4").status is M


def test_command_a_response_wrapper() -> None:
    t = parse_trace("<|START_THINKING|>plan<|END_THINKING|><|START_RESPONSE|>4<|END_RESPONSE|>")
    assert (t.status, t.answer, t.fmt) == (V, "4", "command_a")


def test_auto_earliest_family_wins() -> None:
    t = parse_trace("[THINK]uses <think> as a word[/THINK]ans")
    assert (t.fmt, t.reasoning, t.answer) == ("think_bracket", "uses <think> as a word", "ans")
    t = parse_trace("<thinking>a</thinking>b<think>c</think>")
    assert (t.fmt, t.answer) == ("thinking", "b<think>c</think>")


def test_named_family_ignores_other_families() -> None:
    assert parse_trace("<thinking>a</thinking>b", fmt="think").status is M


def test_text_before_open_tag_is_not_reasoning() -> None:
    # ThinkPack counts "Sure." as reasoning (valid); we follow DESIGN: the block is empty
    t = parse_trace("Sure. <think></think>4")
    assert (t.status, t.reasoning, t.answer) == (E, "", "4")


def test_bad_input_errors() -> None:
    with pytest.raises(TypeError, match="response must be a str, got NoneType"):
        parse_trace(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="response must be a str, got bytes"):
        parse_trace(b"<think>")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prompt must be a str"):
        parse_trace("x", prompt=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown reasoning format 'nope'.*think, hunyuan"):
        parse_trace("x", fmt="nope")


def test_status_is_a_plain_string_enum() -> None:
    t = parse_trace("<think>a</think>b")
    assert t.status == "valid" and str(t.status) == "valid" and f"{t.status}" == "valid"
    assert t.as_dict() == {"status": "valid", "reasoning": "a", "answer": "b", "fmt": "think", "prefilled": False}
    with pytest.raises(AttributeError):
        t.status = E  # type: ignore[misc]
    assert t == parse_trace("<think>a</think>b") and hash(t) == hash(parse_trace("<think>a</think>b"))


def test_parse_traces_batch() -> None:
    out = parse_traces(["a</think>b", "c"], prompts=["p<think>", "p"], finish_reasons=[None, "length"])
    assert [t.status for t in out] == [V, T]
    assert [t.status for t in parse_traces(["x"], prompts="<think>")] == [T]
    with pytest.raises(ValueError, match="2 responses but 1 prompts"):
        parse_traces(["a", "b"], prompts=["p"])
    with pytest.raises(TypeError, match="not a single str"):
        parse_traces("abc")  # type: ignore[arg-type]


def test_large_adversarial_inputs_parse() -> None:
    t = parse_trace("<think>" * 10**6)
    assert t.status is T and t.reasoning is not None and t.reasoning.startswith("<think>")
    assert parse_trace("<" * 10**6).status is M
    t = parse_trace("<think>x" + "</think>" * 10**5 + "ans")
    assert (t.status, t.answer) == (V, "ans")
