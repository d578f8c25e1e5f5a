"""Masking on the real chat templates users train with (tests/real_templates.py).

Every template × conversation × mode: the training text starts with the generation
prompt the model is evaluated with (text and token ids), holds one trace block in the
final turn, and the labels follow the sections written out by hand below from the
rendered text; agreement with ThinkPack 1.0.0's ``apply_mask`` where it is right.
``python tests/test_masking_templates.py`` writes the matrix into docs/masking-templates.md
(a test checks the page is current).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

if __name__ == "__main__":  # run as a script (writes the doc): the helper module beside it
    sys.path.insert(0, str(Path(__file__).parent))
from real_templates import REAL_TEMPLATES, real_tokenizer

from lm_eval_tracecollapse.core.formats import get_format
from lm_eval_tracecollapse.study.config import StrategyKind, StrategySpec
from lm_eval_tracecollapse.study.data import for_strategy
from lm_eval_tracecollapse.training.masking import MODES, tokenize_with_masks
from lm_eval_tracecollapse.training.text import render_training_texts

DOC = Path(__file__).parents[1] / "docs" / "masking-templates.md"
U = {"role": "user", "content": "12 + 7?"}
TRACE, CODE = "12 + 7 = 19", "Run `print('</think>')` then 12 + 7 = 19"
#: the nine conversations of issue 29 (``</think>``/``<think>`` become the family's delimiters)
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "reasoning key": [U, {"role": "assistant", "content": "19", "reasoning": TRACE}],
    "no trace": [U, {"role": "assistant", "content": "19"}],
    "empty trace": [U, {"role": "assistant", "content": "19", "reasoning": ""}],
    "inline": [U, {"role": "assistant", "content": f"<think>\n{TRACE}\n</think>\n\n19"}],
    "close tag in code, key": [U, {"role": "assistant", "content": "19", "reasoning": CODE}],
    "close tag in code, inline": [U, {"role": "assistant", "content": f"<think>\n{CODE}\n</think>\n19"}],
    "close tag in answer": [U, {"role": "assistant", "content": "Write </think> literally: 19", "reasoning": TRACE}],
    "multi-turn, history reasoning": [
        U, {"role": "assistant", "content": "19", "reasoning": TRACE},
        {"role": "user", "content": "And 1 + 1?"}, {"role": "assistant", "content": "2", "reasoning": "1 + 1 = 2"},
    ],
    "multi-turn, no history reasoning": [
        U, {"role": "assistant", "content": "19"},
        {"role": "user", "content": "And 1 + 1?"}, {"role": "assistant", "content": "2", "reasoning": "1 + 1 = 2"},
    ],
}  # fmt: skip

#: what the model writes after the generation prompt, read off each rendered template by
#: hand ("reasoning key" conversation), and the final turn's trace block (delimiters included)
EXPECTED = {
    "chatml": ("<think>\n12 + 7 = 19\n</think>\n19<|im_end|>", "<think>\n12 + 7 = 19\n</think>"),
    "qwen3": ("<think>\n12 + 7 = 19\n</think>\n\n19<|im_end|>", "<think>\n12 + 7 = 19\n</think>"),
    "qwen3-2507-thinking": ("12 + 7 = 19\n</think>\n\n19<|im_end|>", "<think>\n12 + 7 = 19\n</think>"),
    "qwq": ("12 + 7 = 19\n</think>\n19<|im_end|>", "<think>\n12 + 7 = 19\n</think>"),
    "r1-distill-qwen": ("12 + 7 = 19\n</think>\n19<｜end▁of▁sentence｜>", "<think>\n12 + 7 = 19\n</think>"),
    "r1-distill-llama": ("12 + 7 = 19\n</think>\n19<｜end▁of▁sentence｜>", "<think>\n12 + 7 = 19\n</think>"),
    "olmo-3-think": ("\n12 + 7 = 19\n</think>\n19<|endoftext|>", "<think>\n12 + 7 = 19\n</think>"),
    "smollm3": ("<think>\n12 + 7 = 19\n</think>\n19<|im_end|>", "<think>\n12 + 7 = 19\n</think>"),
    "gpt-oss": (
        "<|channel|>analysis<|message|>12 + 7 = 19<|end|><|start|>assistant<|channel|>final<|message|>19<|return|>",
        "<|channel|>analysis<|message|>12 + 7 = 19<|end|>",
    ),
    "magistral": ("[THINK]\n12 + 7 = 19\n[/THINK]\n19</s>", "[THINK]\n12 + 7 = 19\n[/THINK]"),
    "gemma-4": ("<|channel>thought\n12 + 7 = 19\n<channel|>\n19<turn|>", "<|channel>thought\n12 + 7 = 19\n<channel|>"),
    "nemotron-nano-v2": ("12 + 7 = 19\n</think>\n19\n<SPECIAL_12>", "<think>\n12 + 7 = 19\n</think>"),
    "glm-4.6": ("\n<think>12 + 7 = 19</think>\n19", "<think>12 + 7 = 19</think>"),
}
_R1_CUT = "the template cuts the final turn's trace (all up to `</think>`) while its prompt opens one"
#: templates whose own rendering of the whole conversation cannot be the training text, and why
NOT_AS_TEMPLATE = {
    "r1-distill-qwen": _R1_CUT,
    "r1-distill-llama": _R1_CUT,
    "gemma-4": "the template renders a turn's thought only beside tool calls: a trace is written after the prompt",
    "nemotron-nano-v2": "the template writes `<think>\\n` itself before the content: the trace continues it",
    "qwq": "without a trace the template renders no block while its prompt opens one: the target closes it",
    "olmo-3-think": "without a trace the template renders no block while its prompt opens one: the target closes it",
}


def as_template_expected(template: str, conv_name: str) -> bool:
    if template in ("qwq", "olmo-3-think"):
        return conv_name != "no trace"
    if template == "gemma-4":
        return conv_name == "no trace"  # nothing to write after the prompt but the answer
    return template not in NOT_AS_TEMPLATE


#: where ThinkPack 1.0.0's apply_mask is not right for a trace-free target in mode none
THINKPACK_NO_TRACE = ("qwq", "olmo-3-think", "r1-distill-qwen", "r1-distill-llama")
THINKPACK_NO_TRACE_WHY = (
    "without a trace (mode none) ThinkPack trains the bare answer after a prompt that opens `<think>`: "
    "its target does not start with the generation prompt; ours closes the block"
)
#: where ThinkPack 1.0.0's apply_mask is not right, and why
THINKPACK_WRONG = {
    "gpt-oss": "ThinkPack writes a `<think>` block inside the final channel; gpt-oss writes its trace in the "
    "analysis channel (the template's `thinking` field)",
    "gemma-4": "ThinkPack cannot pass `chat_template_kwargs`: its text lacks the `<|think|>` system turn of "
    "`enable_thinking=True`, and with the default kwargs the prompt has already closed the trace",
    "nemotron-nano-v2": "ThinkPack's block follows the `<think>\\n` the template writes: two opening tags",
}
THINKPACK_MODES = {"none": None, "prompt": 1, "think": 2, "prompt+think": 3}  # MaskType flags


def _conversation(name: str, template: str) -> list[dict[str, Any]]:
    fam = get_format(REAL_TEMPLATES[template].fmt)
    out = []
    for m in CONVERSATIONS[name]:
        m = dict(m)
        for key in ("content", "reasoning"):
            if m.get(key):
                m[key] = m[key].replace("<think>", fam.open).replace("</think>", fam.close)
        out.append(m)
    return out


def _prompt(tok: Any, conv: list[dict[str, Any]], kwargs: dict[str, Any]) -> str:
    """The generation prompt as lm-eval renders it (reasoning of earlier turns in the
    template's field, as the masking passes it)."""
    [t] = render_training_texts([conv], tok, get_format("think"), chat_template_kwargs=kwargs)
    return t.text[: t.prompt_end]


def _check(template: str, conv_name: str) -> dict[str, bool]:
    """The invariants of one template × conversation (asserted by the tests, tallied in the doc)."""
    spec, tok = REAL_TEMPLATES[template], real_tokenizer(template)
    fam, conv = get_format(spec.fmt), _conversation(conv_name, template)
    [t] = render_training_texts([conv], tok, fam, chat_template_kwargs=spec.kwargs)
    history = tok.apply_chat_template(
        [{k: v for k, v in m.items() if k != "reasoning"} for m in conv[:-1]],
        tokenize=False, add_generation_prompt=True, **spec.kwargs,
    )  # fmt: skip
    final_turn = t.text[t.trace[0] if t.trace else t.prompt_end :]
    [row] = tokenize_with_masks([{"messages": conv}], tok, mode="none", fmt=spec.fmt, chat_template_kwargs=spec.kwargs)
    prompt_ids = tok(t.text[: t.prompt_end], add_special_tokens=False)["input_ids"]
    return {
        # the prompt lm-eval renders (earlier turns without reasoning where the template drops it)
        "prompt matched": row["input_ids"][: len(prompt_ids)] == prompt_ids
        and (conv_name.startswith("multi") or t.text[: t.prompt_end] == history),
        # never two: one where the target has a trace or the template writes one, else none
        "one block": final_turn.count(fam.open) == (1 if t.trace is not None else 0)
        and (t.trace is not None or conv_name == "no trace"),
        "as template": t.as_template,
    }  # fmt: skip


@pytest.mark.parametrize("template", list(REAL_TEMPLATES))
@pytest.mark.parametrize("conv_name", list(CONVERSATIONS))
def test_one_block_prompt_matched(template: str, conv_name: str) -> None:
    got = _check(template, conv_name)
    assert got["prompt matched"] and got["one block"]
    assert got["as template"] == as_template_expected(template, conv_name)


@pytest.mark.parametrize("template", list(REAL_TEMPLATES))
def test_expected_text_and_sections_every_mode(template: str) -> None:
    spec, tok = REAL_TEMPLATES[template], real_tokenizer(template)
    conv = _conversation("reasoning key", template)
    [t] = render_training_texts([conv], tok, get_format(spec.fmt), chat_template_kwargs=spec.kwargs)
    completion, block = EXPECTED[template]
    assert t.text[t.prompt_end :] == completion
    assert t.trace is not None and t.text[t.trace[0] : t.trace[1]] == block
    for mode in MODES:
        [row] = tokenize_with_masks([{"messages": conv}], tok, mode=mode, weight=0.25, fmt=spec.fmt,
                                    chat_template_kwargs=spec.kwargs)  # fmt: skip
        ids, labels = row["input_ids"], row["labels"]
        masked = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab == -100])
        weighted = tok.decode([i for i, w in zip(ids, row.get("loss_weights", [1.0] * len(ids)), strict=True) if w < 1])
        trace_and_gap = t.text[t.trace[0] : t.answer_at]  # the block and the blank space behind it
        before = t.text[: t.trace[0]]
        expect_masked = {"none": "", "prompt": before, "think": trace_and_gap, "prompt+think": before + trace_and_gap,
                         "partial": "", "prompt+partial": before}[mode]  # fmt: skip
        assert masked == expect_masked, mode
        assert weighted == (trace_and_gap if "partial" in mode else ""), mode
        assert tok.decode(ids) == t.text


def _thinkpack_agrees(template: str, mode: str, conv_name: str) -> bool:
    from thinkpack import MaskType, apply_mask

    spec, tok = REAL_TEMPLATES[template], real_tokenizer(template)
    conv = _conversation(conv_name, template)
    flags = THINKPACK_MODES[mode]
    insert = flags is not None  # ThinkPack inserts the empty block only when it masks
    ours = tokenize_with_masks([{"messages": conv}], tok, mode=mode, fmt=spec.fmt, insert_empty_trace=insert,
                               chat_template_kwargs=spec.kwargs)[0]  # fmt: skip
    logging.getLogger("thinkpack").setLevel(logging.ERROR)
    theirs = apply_mask([conv], tok, masked=None if flags is None else MaskType(flags))[0]
    return bool(ours["input_ids"] == theirs["input_ids"] and ours["labels"] == theirs["labels"])


#: conversations ThinkPack reads as we do (a trace in a "reasoning" key, or none)
THINKPACK_CONVERSATIONS = ["reasoning key", "empty trace", "no trace", "multi-turn, history reasoning"]


@pytest.mark.parametrize("template", list(REAL_TEMPLATES))
@pytest.mark.parametrize("mode", list(THINKPACK_MODES))
def test_agrees_with_thinkpack_where_it_is_right(template: str, mode: str) -> None:
    agree = [_thinkpack_agrees(template, mode, c) for c in THINKPACK_CONVERSATIONS]
    if template in THINKPACK_WRONG:
        assert not all(agree)  # the documented difference is real
    elif mode == "none" and template in THINKPACK_NO_TRACE:
        assert agree == [c != "no trace" for c in THINKPACK_CONVERSATIONS]
    else:
        assert all(agree)


def test_study_strategies_on_qwen3() -> None:
    """mask trains no trace token, empty trains exactly one empty block, partial weights exactly the trace."""
    tok = real_tokenizer("qwen3")
    data = [{"prompt": "12 + 7?", "reasoning": TRACE, "response": "19"}]

    def rows(kind: StrategyKind, **kw: Any) -> dict[str, list]:
        spec = StrategySpec(kind, **kw)
        return tokenize_with_masks(for_strategy(data, spec), tok, mode=spec.mode, weight=spec.weight or 0.5,
                                   insert_empty_trace=spec.insert_empty)[0]  # fmt: skip

    def trained(row: dict[str, list]) -> str:
        ids = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
        return str(tok.decode(ids))

    mask = rows(StrategyKind.MASK)
    assert "<think>" not in trained(mask) and "</think>" not in trained(mask)
    assert trained(mask).endswith("<|im_start|>assistant\n19<|im_end|>")
    empty = tok.decode(rows(StrategyKind.EMPTY)["input_ids"])
    assert empty.count("<think>") == 1 and empty.endswith("assistant\n<think>\n\n</think>\n\n19<|im_end|>")
    partial = rows(StrategyKind.PARTIAL, weight=0.1)
    weighted = [i for i, w in zip(partial["input_ids"], partial["loss_weights"], strict=True) if w == 0.1]
    assert tok.decode(weighted) == "<think>\n12 + 7 = 19\n</think>\n\n"
    default = tok.decode(rows(StrategyKind.DEFAULT)["input_ids"])  # Qwen3's own empty block, trained
    assert default.endswith("assistant\n<think>\n\n</think>\n\n19<|im_end|>") and default.count("<think>") == 1


def test_thinking_off_prompt_refuses_a_traced_target() -> None:
    tok = real_tokenizer("qwen3")
    data = [{"prompt": "12 + 7?", "reasoning": TRACE, "response": "19"}]
    with pytest.raises(ValueError, match=r"closes the trace before the model writes.*enable_thinking"):
        tokenize_with_masks(data, tok, chat_template_kwargs={"enable_thinking": False})
    [row] = tokenize_with_masks([{"prompt": "12 + 7?", "response": "19"}], tok, mode="think",
                                chat_template_kwargs={"enable_thinking": False})  # fmt: skip
    assert tok.decode([i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]).endswith(
        "<|im_start|>assistant\n19<|im_end|>"
    )  # the prompt's own empty block is the (masked) trace
    with pytest.raises(ValueError, match="enable_thinking"):
        tokenize_with_masks(data, real_tokenizer("gemma-4"), fmt="gemma4")  # Gemma 4 thinks only when asked


@pytest.mark.parametrize(("policy", "template", "kept"), [
    ("template", "chatml", True), ("template", "qwen3", False), ("keep", "qwen3", True), ("drop", "chatml", False),
])  # fmt: skip
def test_history_reasoning(policy: Any, template: str, kept: bool) -> None:
    conv = _conversation("multi-turn, history reasoning", template)
    [t] = render_training_texts([conv], real_tokenizer(template), history_reasoning=policy)
    assert ("12 + 7 = 19" in t.text) is kept
    assert t.text.count("<think>") == (2 if kept else 1)


def matrix() -> list[str]:
    """The doc's table: one line per template × mode."""
    head = ["template", "mode", "as the template renders it", "one block (never two)", "generation prompt matched",
            "ThinkPack"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|---|---|"]
    n = len(CONVERSATIONS)
    for template in REAL_TEMPLATES:
        checks = [_check(template, c) for c in CONVERSATIONS]
        same = sum(c["as template"] for c in checks)
        rendering = f"{same}/{n}" + (f" ({NOT_AS_TEMPLATE[template]})" if same < n else "")
        for mode in MODES:
            if mode not in THINKPACK_MODES:
                tp = "no such mode in ThinkPack"
            else:
                agree = sum(_thinkpack_agrees(template, mode, c) for c in THINKPACK_CONVERSATIONS)
                tp = f"agrees {agree}/{len(THINKPACK_CONVERSATIONS)}"
                if template in THINKPACK_WRONG:
                    tp += f"; ThinkPack is wrong here: {THINKPACK_WRONG[template]}"
                elif mode == "none" and template in THINKPACK_NO_TRACE:
                    tp += f"; the other: {THINKPACK_NO_TRACE_WHY}"
            blocks = sum(c["one block"] for c in checks)
            prompts = sum(c["prompt matched"] for c in checks)
            lines.append(f"| {template} | {mode} | {rendering} | {blocks}/{n} | {prompts}/{n} | {tp} |")
    return lines


_BEGIN, _END = "<!-- matrix: begin -->", "<!-- matrix: end -->"


def _page(text: str) -> str:
    head, rest = text.split(_BEGIN)
    return head + _BEGIN + "\n" + "\n".join(matrix()) + "\n" + _END + rest.split(_END)[1]


@pytest.mark.slow
def test_doc_matrix_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == _page(text), (
        "docs/masking-templates.md is stale: run `.venv/bin/python tests/test_masking_templates.py`"
    )


if __name__ == "__main__":
    DOC.write_text(_page(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC}")


def test_history_kept_in_long_conversations() -> None:
    """Each kept turn gets its own block (turn 1's placeholder is no prefix of turn 11's)."""
    conv: list[dict[str, Any]] = []
    for k in range(7):
        conv += [{"role": "user", "content": f"q{k}"}, {"role": "assistant", "content": f"a{k}", "reasoning": f"R{k}"}]
    [t] = render_training_texts([conv], real_tokenizer("qwen3"), history_reasoning="keep")
    for k in range(6):
        assert f"<think>\nR{k}\n</think>\na{k}<|im_end|>" in t.text
