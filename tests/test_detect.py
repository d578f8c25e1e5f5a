"""detect_format on real chat templates (tests/fixtures/chat_templates, see SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lm_eval_tracecollapse import detect_format, parse_trace

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
ROUND2 = json.loads((TEMPLATES / "expected_round2.json").read_text(encoding="utf-8"))

# file -> (family, prefills) as measured by rendering with default kwargs; None = no family
EXPECTED: dict[str, tuple[str, bool] | None] = {
    # reasoning templates
    "deepseek-r1-distill-qwen-32b": ("think", True),
    "deepseek-r1-distill-hf-oneline": ("think", True),
    "qwq-32b": ("think", True),
    "olmo-3-7b-think": ("think", True),
    "qwen3-0.6b": ("think", False),
    "qwen3.5-4b": ("think", True),
    "qwen3-next-80b-a3b-thinking": ("think", True),
    "deepseek-v3.1": ("think", False),  # prefills </think>: thinking off by default
    "deepseek-v3.2": ("think", False),  # prefills <think></think>: thinking off by default
    "phi-4-reasoning": ("think", False),
    "kimi-k2-thinking": ("think", False),
    "granite-3.3-2b-instruct": ("think", False),
    "glm-4.6": ("think", False),
    "glm-4.7-flash": ("think", True),
    "smollm3-3b": ("think", False),
    "minimax-m2": ("think", True),
    "nemotron-3-nano-30b-a3b": ("think", True),
    "nemotron-nano-9b-v2": ("think", True),
    "step-3.5-flash": ("think", True),
    "lfm2.5-8b-a1b": ("think", False),
    "exaone-4.0-1.2b": ("think", False),  # <think>\n\n</think>: thinking off by default
    "hy3-preview": ("think", False),  # reasoning_effort=no_think by default
    "exaone-deep-32b": ("thought", True),
    "hunyuan-a13b-instruct": ("hunyuan", False),
    "gpt-oss-120b": ("gpt_oss", False),
    "magistral-small-2509": ("think_bracket", False),
    "ministral-3-14b-reasoning-2512": ("think_bracket", False),
    "granite-3.2-8b-instruct": ("granite", False),
    "seed-oss-36b": ("seed_oss", False),
    "command-r7b-12-2024": ("command_a", False),
    "gemma-4-31b-it": ("gemma4", False),  # <|think|> in the system turn too; joint markers win
    "solar-open-100b": ("solar_open", False),
    "apertus-8b-instruct": ("apertus", False),
    "apriel-1.6-15b-thinker-fixed": ("apriel", True),  # plain-text prefill
    "apriel-1.5-15b-thinker-unsloth": ("apriel", False),
    "kimi-k3": ("kimi_k3", True),  # open tag assembled from pieces: found in the rendered prompt
    # no delimiter in the template; <begin_of_document> + MiniMax's turns name MiniMax-M1 (writes <think>)
    "minimax-m1-vllm-tool": ("think", False),
    # by its template markers (assistant/think turns); "/think\n" opens the trace after the prompt
    "hyperclovax-seed-think-14b": ("hyperclovax", False),
    # reasoning models whose template never mentions a delimiter: nothing to detect
    "mimo-vl": None,
    "phi-4-mini-reasoning": None,  # <|end|> turns are not gpt-oss
    # non-reasoning templates
    "llama-3.2-3b-instruct": None,
    "llama-3.1-8b-instruct": None,
    "phi-3.5-mini-instruct": None,  # <|end|> turns are not gpt-oss
    "phi-3-mini-instruct": None,
    "phi-4": None,
    "qwen2.5-7b-instruct": None,
    "qwen3-coder-30b-a3b-instruct": None,
    "gemma-2-2b-it": None,
    "gemma-3-1b-it": None,
    "mistral-7b-instruct-ollama": None,
    "mistral-nemo-instruct-2407": None,
    "command-r-35b": None,
    "command-r-plus-tool-use": None,  # cannot render without tools: static reading
    "kimi-k2-instruct": None,
    "granite-4.0": None,
    "yi-6b-chat": None,
    "olmo-2-7b-instruct": None,
    "tinyllama-1.1b-chat": None,
    "deepseek-v3-chat": None,
    "deepseek-v2.5": None,
    "smollm2-135m-instruct": None,
}

# reasoning templates without any delimiter in them (None is the best a template reading can do)
NO_MARKER_IN_TEMPLATE = {"mimo-vl", "phi-4-mini-reasoning"}

# Apriel 1.5 never writes its opening "Here are my reasoning steps:"; it is recognised by
# the joint template_markers ("[BEGIN FINAL RESPONSE]", "[END FINAL RESPONSE]") of apriel.
_MARKS: dict[str, list[Any]] = {}

# thinking switches: (file, chat_template_kwargs, prefills, the generation prompt ends with)
SWITCHES: list[tuple[str, dict[str, Any], bool, str]] = [
    ("gemma-4-31b-it", {"enable_thinking": True}, False, "<|turn>model\n"),
    ("gemma-4-31b-it", {"enable_thinking": False}, False, "<|turn>model\n<|channel>thought\n<channel|>"),
    ("kimi-k3", {"thinking": True}, True, "<|open|>think<|sep|>"),
    ("kimi-k3", {"thinking": False}, False, "<|open|>response<|sep|>"),
    ("deepseek-v3.1", {"thinking": True}, True, "<｜Assistant｜><think>"),
    ("deepseek-v3.2", {"thinking": True}, True, "<｜Assistant｜><think>"),
    ("deepseek-v3.2", {"thinking": False}, False, "<｜Assistant｜><think></think>"),
    ("exaone-4.0-1.2b", {"enable_thinking": True}, True, "[|assistant|]\n<think>\n"),
    ("exaone-4.0-1.2b", {"enable_thinking": False}, False, "<think>\n\n</think>\n\n"),
    ("hy3-preview", {"reasoning_effort": "high"}, True, "<｜hy_Assistant｜><think>"),
    ("hy3-preview", {"reasoning_effort": "no_think"}, False, "<｜hy_Assistant｜><think></think>"),
    ("glm-4.7-flash", {"enable_thinking": False}, False, "<|assistant|></think>"),
    ("glm-4.6", {"enable_thinking": False}, False, "<|assistant|>\n<think></think>"),
    ("qwen3-0.6b", {"enable_thinking": False}, False, "<think>\n\n</think>\n\n"),
    ("qwen3.5-4b", {"enable_thinking": False}, False, "<think>\n\n</think>\n\n"),
    ("smollm3-3b", {"enable_thinking": False}, False, "<think>\n\n</think>\n"),
    ("nemotron-3-nano-30b-a3b", {"enable_thinking": False}, False, "assistant\n<think></think>"),
    ("hunyuan-a13b-instruct", {"enable_thinking": False}, False, "<|extra_0|><think>\n\n</think>\n"),
    ("solar-open-100b", {"reasoning_effort": "low"}, False, "<|begin|>assistant<|think|><|end|><|begin|>assistant"),
    ("hyperclovax-seed-think-14b", {"force_reasoning": True}, False, "<|im_start|>assistant/think\n"),
]


def _template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


def test_every_fixture_has_an_expectation() -> None:
    stems = {p.stem for p in TEMPLATES.glob("*.jinja")}
    assert stems == set(EXPECTED)
    assert {Path(n).stem for n in ROUND2} <= stems
    negatives = [n for n, e in EXPECTED.items() if e is None and n not in NO_MARKER_IN_TEMPLATE]
    assert len(negatives) >= 10


@pytest.mark.parametrize("name", [pytest.param(n, marks=_MARKS.get(n, [])) for n in sorted(EXPECTED)])
def test_detects_family_and_prefill(name: str) -> None:
    d = detect_format(_template(name))
    if EXPECTED[name] is None:
        assert d is None
        return
    assert d is not None
    assert (d.fmt.name, d.prefills, d.method) == (*EXPECTED[name], "rendered")


@pytest.mark.parametrize("name", [pytest.param(n, marks=_MARKS.get(Path(n).stem, [])) for n in sorted(ROUND2)])
def test_agrees_with_expected_round2(name: str) -> None:
    """The table above and the fixture notes (expected_round2.json) say the same."""
    entry, stem = ROUND2[name], Path(name).stem
    d = detect_format(_template(stem))
    if entry["family_markers"] is None or stem in NO_MARKER_IN_TEMPLATE:
        assert d is None
        if entry["family_markers"] is not None:  # the delimiter is really absent from the template
            assert entry["family_markers"][0] not in _template(stem)
        return
    assert d is not None
    assert [d.fmt.open, d.fmt.close] == entry["family_markers"]
    assert d.prefills == entry["prefills"]
    off = entry["thinking_off"]
    if off is not None:
        d_off = detect_format(_template(stem), chat_template_kwargs={off["kwarg"]: off["value"]})
        assert d_off is not None and d_off.fmt == d.fmt and not d_off.prefills
        assert d_off.generation_prompt_tail is not None
        assert d_off.generation_prompt_tail.endswith(off["prefix_when_off"])


@pytest.mark.parametrize(("name", "kwargs", "prefills", "tail"), SWITCHES, ids=lambda v: str(v)[:40])
def test_thinking_switches(name: str, kwargs: dict[str, Any], prefills: bool, tail: str) -> None:
    default = EXPECTED[name]
    assert default is not None
    d = detect_format(_template(name), chat_template_kwargs=kwargs)
    assert d is not None and (d.fmt.name, d.prefills, d.method) == (default[0], prefills, "rendered")
    assert d.generation_prompt_tail is not None and d.generation_prompt_tail.endswith(tail)


def test_turn_terminators_are_not_trace_delimiters() -> None:
    turns = "{% for m in messages %}<|user|>{{ m['content'] }}{} {% endfor %}<|assistant|>"
    for end in ("<|end|>", "<|im_end|>", "<end_of_turn>", "<|eot_id|>", "</s>", "<|end_message|>", "<|eom|>"):
        assert detect_format(turns.replace("{}", end)) is None, end
    # a close that is only ever a trace delimiter still identifies its family
    d = detect_format(turns.replace("{}", "{{ m.get('x', '').split('</think>')[-1] }}"))
    assert d is not None and (d.fmt.name, d.prefills) == ("think", False)


def test_most_specific_opening_marker_wins() -> None:
    # <|think|> (Solar's opening) and <|channel>thought (Gemma 4's) both occur
    tpl = "<|think|>{{ messages[0]['content'] }}{% if add_generation_prompt %}<|channel>thought\n{% endif %}"
    d = detect_format(tpl)
    assert d is not None and (d.fmt.name, d.prefills) == ("gemma4", True)
    d = detect_format(tpl.replace("<|channel>thought\n", "model\n"))  # only <|think|> left
    assert d is not None and d.fmt.name == "solar_open"


def test_qwen3_thinking_disabled_is_not_a_prefill() -> None:
    d = detect_format(_template("qwen3-0.6b"), chat_template_kwargs={"enable_thinking": False})
    assert d is not None and not d.prefills
    assert d.generation_prompt_tail is not None and d.generation_prompt_tail.endswith("<think>\n\n</think>\n\n")


def test_deepseek_v31_thinking_mode_prefills() -> None:
    d = detect_format(_template("deepseek-v3.1"), chat_template_kwargs={"thinking": True})
    assert d is not None and d.prefills


def test_detected_prefill_drives_the_parser() -> None:
    d = detect_format(_template("deepseek-r1-distill-qwen-32b"))
    assert d is not None and d.generation_prompt_tail is not None
    t = parse_trace("7*6=42\n</think>\n\n42", prompt=d.generation_prompt_tail, fmt=d.fmt.name)
    assert (t.status.value, t.answer, t.prefilled) == ("valid", "42", True)
    assert parse_trace("7*6 is", prompt=d.generation_prompt_tail).status.value == "truncated"


def test_synthetic_kimi_template() -> None:
    # no real ◁think▷ template is stored in the index: a minimal hand-written one
    tpl = (
        "{% for m in messages %}<|im_{{ m['role'] }}|>{{ m['content'] }}"
        "{% if m.get('reasoning') %}◁think▷{{ m['reasoning'] }}◁/think▷{% endif %}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_assistant|>{% endif %}"
    )
    d = detect_format(tpl)
    assert d is not None and (d.fmt.name, d.prefills) == ("kimi", False)


def test_static_fallback_when_the_template_cannot_render() -> None:
    tpl = "{{ undefined_helper() }}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}</think>"
    d = detect_format(tpl)
    assert d is not None and (d.fmt.name, d.prefills, d.method) == ("think", True, "static")


def test_tokenizer_objects() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "hi": 1}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    tok.chat_template = _template("qwq-32b")
    d = detect_format(tok)
    assert d is not None and (d.fmt.name, d.prefills) == ("think", True)
    # a multimodal processor wraps the tokenizer
    assert detect_format(SimpleNamespace(tokenizer=tok)) == d
    # named templates (dict) are searched together
    assert detect_format(SimpleNamespace(chat_template={"default": "x", "think": _template("qwq-32b")})) is not None
    tok.chat_template = None
    assert detect_format(tok) is None


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="got None"):
        detect_format(None)
    with pytest.raises(TypeError, match="got int"):
        detect_format(3)
