"""Every reasoning template of tests/fixtures/chat_templates: the training target is the model's
trace and answer exactly once (issue 37).

The double think block: Qwen3's template writes an empty ``<think>\\n\\n</think>\\n\\n`` for an
assistant turn without ``reasoning_content``; a masking that also writes its own block into the
content trains the template's block while masking its own, and the model learns to write an
empty trace (the study's ``mask`` arm collapsed like ``default``).  Issue 37 lists 14 of 56
held-out templates where this happens; those in the fixtures (Qwen3, Qwen3-Next / 2507,
Qwen3.5, EXAONE-4, GLM-4.6, Hunyuan 3, Kimi-K2-Thinking, Kimi-K3, both Nemotrons, Step-3.5;
Laguna and the second Hunyuan 3 are not) are among the 37 checked here, for the conversations
the study trains on (a trace, an empty trace, no trace with the empty block inserted, as the
``mask`` arm) and every masking mode:

- the final turn holds one trace block, opened once (its delimiter, once);
- ``think``/``prompt+think``: no delimiter is trained, the masked tokens are the block and the
  blank space behind it; ``partial``: exactly those are weighted; ``none``: the block, the trace
  and the answer each trained once;
- against ThinkPack 1.0.0's ``apply_mask`` (``<think>`` templates, where it renders a target):
  the same ids and labels wherever its text holds one block; where it holds two, ThinkPack is
  the one with the double block (EXAONE-4, Kimi-K2-Thinking, Hunyuan 3, Nemotron Nano v2), or
  it writes ``<think>…</think>`` after a prompt that closed the trace with a bare ``</think>``
  (DeepSeek-V3.1 and V3.2 with thinking off, their default; ours, until this issue, too: the
  prompt's ``</think>`` is now that target's block, and a traced target is refused there).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from real_templates import TEMPLATES, THINKING_ON, fixture_tokenizer

from lm_eval_tracecollapse.core.detect import detect_format
from lm_eval_tracecollapse.training.masking import MODES, tokenize_with_masks
from lm_eval_tracecollapse.training.text import Target, render_training_texts

U = {"role": "user", "content": "12 + 7?"}
TRACE, ANSWER = "12 + 7 = 19", "The answer is 19."
CONVERSATIONS: dict[str, dict[str, Any]] = {
    "trace": {"role": "assistant", "content": ANSWER, "reasoning": TRACE},
    "empty trace": {"role": "assistant", "content": ANSWER, "reasoning": ""},
    "no trace": {"role": "assistant", "content": ANSWER},  # the mask arm: the empty block inserted
}
#: issue 37's affected templates found in the fixtures
AFFECTED = ["qwen3-0.6b", "qwen3-next-80b-a3b-thinking", "qwen3.5-4b", "exaone-4.0-1.2b", "glm-4.6", "hy3-preview",
            "kimi-k2-thinking", "kimi-k3", "nemotron-3-nano-30b-a3b", "nemotron-nano-9b-v2",
            "step-3.5-flash"]  # fmt: skip
#: where ThinkPack renders the block its own way (the template writes it without newlines: ours is the template's)
THINKPACK_OWN_BLOCK = {"lfm2.5-8b-a1b"}


def _reasoning_templates() -> list[str]:
    out = []
    for path in sorted(TEMPLATES.glob("*.jinja")):
        kwargs = THINKING_ON.get(path.name, {})
        if detect_format(fixture_tokenizer(path.name), kwargs) is not None:
            out.append(path.name)
    return out


REASONING = _reasoning_templates()


def test_the_affected_templates_are_checked() -> None:
    assert len(REASONING) >= 35 and {f"{name}.jinja" for name in AFFECTED} <= set(REASONING)


def _setup(file: str) -> tuple[Any, Any, dict[str, Any]]:
    tok, kwargs = fixture_tokenizer(file), THINKING_ON.get(file, {})
    detected = detect_format(tok, kwargs)
    assert detected is not None
    return tok, detected.fmt, kwargs


def _decode(tok: Any, ids: list[int], keep: list[bool]) -> str:
    return str(tok.decode([i for i, k in zip(ids, keep, strict=True) if k]))


@pytest.mark.parametrize("file", REASONING)
def test_one_trace_block_trained_once(file: str) -> None:
    tok, fam, kwargs = _setup(file)
    for name, target in CONVERSATIONS.items():
        conv = [U, target]
        target = Target(target.get("reasoning", ""), ANSWER)  # no trace: the empty block inserted, as masking does
        [t] = render_training_texts([conv], tok, fam, [target], chat_template_kwargs=kwargs)
        assert t.trace is not None, (file, name)
        final = t.text[t.trace[0] :]
        block = t.text[t.trace[0] : t.trace[1]]
        assert block.startswith(fam.open) and final.count(fam.open) == 1, (file, name, final)
        assert block.endswith(fam.close) and (TRACE in block) is (name == "trace"), (file, name, block)
        before, gap = t.text[: t.trace[0]], t.text[t.trace[0] : t.answer_at]  # gap: the block and blank space after
        masked_want = {"none": "", "prompt": before, "think": gap, "prompt+think": before + gap, "partial": "",
                       "prompt+partial": before}  # fmt: skip
        for mode in MODES:
            [row] = tokenize_with_masks([{"messages": conv}], tok, mode=mode, weight=0.25, fmt=fam.name,
                                        chat_template_kwargs=kwargs)  # fmt: skip
            ids = row["input_ids"]
            masked = _decode(tok, ids, [lab == -100 for lab in row["labels"]])
            weighted = _decode(tok, ids, [w < 1 for w in row.get("loss_weights", [1.0] * len(ids))])
            assert tok.decode(ids) == t.text, (file, name, mode)
            assert masked == masked_want[mode], (file, name, mode, masked)
            assert weighted == (gap if "partial" in mode else ""), (file, name, mode, weighted)
        tail = t.text[t.prompt_end :]  # what mode none trains after the prompt: the answer once, the trace once
        assert tail.count(ANSWER) == 1 and tail.count(TRACE) == (name == "trace"), (file, name, tail)


def _thinkpack(conv: list[dict[str, Any]], tok: Any, flags: int) -> dict[str, list] | None:
    from thinkpack import MaskType, apply_mask

    logging.getLogger("thinkpack").setLevel(logging.ERROR)
    try:
        return apply_mask([conv], tok, masked=MaskType(flags))[0]
    except ValueError:  # it finds no <think> block in the template's rendering (GLM-4.7, MiniMax-M2)
        return None


THINK = [f for f in REASONING if _setup(f)[1].name == "think"]
DOUBLE: set[str] = set()  # where ThinkPack's text holds a second delimiter (filled by the test below)


@pytest.mark.parametrize("file", THINK)
def test_equals_thinkpack_where_its_text_has_one_block(file: str) -> None:
    """ThinkPack takes no template variables: both with the template's defaults (a traced target
    is refused by ours where those switch thinking off)."""
    tok = fixture_tokenizer(file)
    for name in ("trace", "no trace"):
        conv = [U, CONVERSATIONS[name]]
        for mode, flags in (("think", 2), ("prompt+think", 3)):
            try:
                ours = tokenize_with_masks([{"messages": conv}], tok, mode=mode)[0]
            except ValueError as exc:
                assert "closes the trace before the model writes" in str(exc) and file in THINKING_ON
                continue
            theirs = _thinkpack(conv, tok, flags)
            if theirs is None or file.removesuffix(".jinja") in THINKPACK_OWN_BLOCK:
                continue
            text = tok.decode(theirs["input_ids"])
            final = text[text.rfind(U["content"]) :]
            if final.count("<think>") == final.count("</think>") == 1:
                assert ours["input_ids"] == theirs["input_ids"] and ours["labels"] == theirs["labels"], (file, name)
            else:  # ThinkPack's second block, second opening tag, or </think><think>: ours holds one block
                mine = tok.decode(ours["input_ids"])
                mine = mine[mine.rfind(U["content"]) :]  # (a prompt's bare </think> is the block, thinking off)
                assert mine.count("<think>") <= 1 and mine.count("</think>") == 1, (file, name, mine)
                assert final.count("<think>") + final.count("</think>") > 2, (file, name, final)
                DOUBLE.add(file.removesuffix(".jinja"))


def test_thinkpack_double_blocks_are_the_known_ones() -> None:
    """Run after the comparison above (pytest keeps file order; alone it runs the comparisons)."""
    if not DOUBLE:
        for file in THINK:
            test_equals_thinkpack_where_its_text_has_one_block(file)
    assert DOUBLE == {"exaone-4.0-1.2b", "kimi-k2-thinking", "hy3-preview", "nemotron-nano-9b-v2", "deepseek-v3.1",
                      "deepseek-v3.2"}  # fmt: skip
