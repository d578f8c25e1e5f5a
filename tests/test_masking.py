"""SFT masking: labels (vs ThinkPack 1.0.0), templates, and real gradients on a tiny Llama."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from thinkpack import MaskType, apply_mask
from thinkpack.model import ModelInfo

from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer
from lm_eval_tracecollapse.training.masking import (
    TraceMaskCollator,
    tokenize_with_masks,
    weighted_causal_lm_loss,
)

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
CORPUS = ["What is 12 plus 7? Let me add: 12 + 7 = 19. The answer is 19."] * 3


@pytest.fixture(scope="module")
def tok() -> Any:
    return build_tokenizer(CORPUS, vocab_size=320)


def _examples() -> list[dict[str, Any]]:
    return [
        {"messages": [
            {"role": "user", "content": "12 + 7?"}, {"role": "assistant", "content": "19", "reasoning": "12 + 7 = 19"},
        ]},
        {"messages": [{"role": "user", "content": "3 + 4?"}, {"role": "assistant", "content": "7", "reasoning": ""}]},
        {"messages": [{"role": "user", "content": "5 + 5?"}, {"role": "assistant", "content": "The answer is 10."}]},
        {"messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 1?"},
            {"role": "assistant", "content": "2"}, {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "4", "reasoning": "2 + 2 = 4, so 4"},
        ]},
    ]  # fmt: skip


def _masked_text(tok: Any, row: dict[str, list]) -> str:
    return str(tok.decode([t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab == -100]))


@pytest.mark.parametrize(
    ("mode", "flags"), [("think", MaskType.THINK), ("prompt+think", MaskType.PROMPT | MaskType.THINK)]
)
def test_labels_equal_thinkpack(tok: Any, mode: str, flags: MaskType) -> None:
    ours = tokenize_with_masks(_examples(), tok, mode=mode)
    theirs = apply_mask([e["messages"] for e in _examples()], tok, masked=flags, model_info=ModelInfo(prefixed=False))
    for row, ref in zip(ours, theirs, strict=True):
        assert row["input_ids"] == ref["input_ids"]
        assert row["labels"] == ref["labels"]


def test_no_masking_without_inserted_trace_equals_thinkpack(tok: Any) -> None:
    ours = tokenize_with_masks(_examples(), tok, mode="none", insert_empty_trace=False)
    theirs = apply_mask([e["messages"] for e in _examples()], tok, masked=None, model_info=ModelInfo(prefixed=False))
    assert [r["labels"] for r in ours] == [r["labels"] for r in theirs]


def test_trace_already_in_the_content(tok: Any) -> None:
    """Named difference: ThinkPack would treat an inline <think> block as plain content
    (and add a second, empty block when masking); we read it as the trace."""
    inline = [{"prompt": "12 + 7?", "response": "<think>\n12 + 7 = 19\n</think>\n19"}]
    keyed = [{"prompt": "12 + 7?", "reasoning": "12 + 7 = 19", "response": "19"}]
    assert tokenize_with_masks(inline, tok) == tokenize_with_masks(keyed, tok)


def test_sections(tok: Any) -> None:
    rows = tokenize_with_masks(_examples()[:3], tok, mode="think")
    assert _masked_text(tok, rows[0]) == "<think>\n12 + 7 = 19\n</think>\n"
    assert _masked_text(tok, rows[1]) == "<think>\n</think>\n"  # empty trace data
    assert _masked_text(tok, rows[2]) == "<think>\n</think>\n"  # no trace: the empty block is inserted
    plain = tokenize_with_masks(_examples()[2:3], tok, mode="think", insert_empty_trace=False)[0]
    assert -100 not in plain["labels"] and "<think>" not in tok.decode(plain["input_ids"])
    prompt_only = tokenize_with_masks(_examples()[:1], tok, mode="prompt")[0]
    assert _masked_text(tok, prompt_only).endswith("<|im_start|>assistant\n")
    both = tokenize_with_masks(_examples()[:1], tok, mode="prompt+think")[0]
    trained = tok.decode([t for t, lab in zip(both["input_ids"], both["labels"], strict=True) if lab != -100])
    assert trained == "19<|im_end|>"


def test_partial_weights(tok: Any) -> None:
    [row] = tokenize_with_masks(_examples()[:1], tok, mode="partial", weight=0.25)
    assert row["labels"] == row["input_ids"]
    weighted = [t for t, w in zip(row["input_ids"], row["loss_weights"], strict=True) if w == 0.25]
    assert tok.decode(weighted) == "<think>\n12 + 7 = 19\n</think>\n"
    assert set(row["loss_weights"]) == {1.0, 0.25}


def test_prefilling_template_that_strips_think_blocks(tok: Any) -> None:
    """DeepSeek-R1's template drops everything up to </think> from assistant turns."""
    r1 = build_tokenizer(
        CORPUS, vocab_size=320, chat_template=(TEMPLATES / "deepseek-r1-distill-qwen-32b.jinja").read_text()
    )
    [row] = tokenize_with_masks(_examples()[:1], r1, mode="think")
    assert _masked_text(r1, row) == "<think>\n12 + 7 = 19\n</think>\n"
    first_trained_after_trace = row["labels"].index(-100) + row["labels"].count(-100)
    assert r1.decode(row["input_ids"][first_trained_after_trace:]).startswith("19<｜end▁of▁sentence｜>")


def test_bracket_family(tok: Any) -> None:
    ex = [{"prompt": "12 + 7?", "response": "[THINK]12 + 7 = 19[/THINK]19"}]
    [row] = tokenize_with_masks(ex, tok, mode="think", fmt="think_bracket")
    assert _masked_text(tok, row) == "[THINK]12 + 7 = 19[/THINK]"  # an inline trace is kept as written


def test_errors(tok: Any) -> None:
    with pytest.raises(ValueError, match="unknown masking mode 'all'"):
        tokenize_with_masks([], tok, mode="all")
    with pytest.raises(ValueError, match="0 < weight < 1"):
        tokenize_with_masks([], tok, mode="partial", weight=1.5)
    with pytest.raises(ValueError, match="example 0: needs 'messages'"):
        tokenize_with_masks([{"text": "x"}], tok)
    with pytest.raises(ValueError, match="last message must be the assistant"):
        tokenize_with_masks([{"messages": [{"role": "user", "content": "x"}]}], tok)


def _logit_grads(model: Any, batch: dict[str, Any], weights: Any | None) -> Any:
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits
    logits.retain_grad()
    weighted_causal_lm_loss(logits, batch["labels"], weights).backward()
    return logits.grad.detach().clone()


def test_gradients_full_and_partial_masking(tok: Any) -> None:
    model = build_model(tok, hidden=32, layers=1, heads=2)
    collate = TraceMaskCollator(tok)
    full = collate(tokenize_with_masks(_examples()[:2], tok, mode="think"))
    none = collate(tokenize_with_masks(_examples()[:2], tok, mode="none"))
    part = collate(tokenize_with_masks(_examples()[:2], tok, mode="partial", weight=0.3))
    trace = (full["labels"] == -100) & (none["labels"] != -100)  # trace tokens (as targets)
    # the logit at position t predicts token t+1
    trace_pred = torch.zeros_like(trace)
    trace_pred[:, :-1] = trace[:, 1:]
    g_full = _logit_grads(model, full, None)
    assert g_full[trace_pred].abs().max() == 0  # full masking: no gradient from trace targets
    g_none = _logit_grads(model, none, None)
    g_part = _logit_grads(model, part, part["loss_weights"])
    # partial: exactly w times the unmasked gradient on trace targets, equal elsewhere
    torch.testing.assert_close(g_part[trace_pred], 0.3 * g_none[trace_pred])
    torch.testing.assert_close(g_part[~trace_pred], g_none[~trace_pred])


def test_weighted_loss_matches_a_hand_computed_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5)
    labels = torch.tensor([[1, 2, -100, 4]])
    weights = torch.tensor([[1.0, 0.5, 0.5, 1.0]])
    logp = torch.log_softmax(logits, dim=-1)[0]
    # targets: position 0 -> 2 (w .5), position 1 -> -100 (skipped), position 2 -> 4 (w 1)
    expected = (0.5 * -logp[0, 2] + 1.0 * -logp[2, 4]) / 2
    torch.testing.assert_close(weighted_causal_lm_loss(logits, labels, weights), expected)


def _first_step_loss_is_ours(trainer: Any, model: Any, rows: list[dict[str, list]], tok: Any) -> None:
    """The loss the trainer logged at step 1 is weighted_causal_lm_loss on that batch
    (one batch holds the whole data set, so shuffling cannot change it)."""
    batch = TraceMaskCollator(tok)(rows)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        expected = float(weighted_causal_lm_loss(logits, batch["labels"], batch.get("loss_weights")))
    trainer.train()
    assert trainer.state.log_history[0]["loss"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["none", "prompt", "think", "prompt+think", "partial"])
def test_trainer_steps(tok: Any, tmp_path: Path, mode: str) -> None:
    from transformers import TrainingArguments

    from lm_eval_tracecollapse.training.masking import TraceMaskTrainer

    model = build_model(tok, hidden=32, layers=1, heads=2)
    rows = tokenize_with_masks(_examples() * 2, tok, mode=mode, weight=0.5)
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=len(rows), max_steps=3, learning_rate=1e-2,
        report_to=[], save_strategy="no", logging_steps=1, remove_unused_columns=False, use_cpu=True,
    )  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    trainer = TraceMaskTrainer(model=model, args=args, train_dataset=rows, data_collator=TraceMaskCollator(tok))
    _first_step_loss_is_ours(trainer, model, rows, tok)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.slow
def test_trl_sft_trainer_with_partial_masking(tok: Any, tmp_path: Path) -> None:
    import datasets
    from trl import SFTConfig, SFTTrainer

    from lm_eval_tracecollapse.training.masking import WeightedLossMixin

    class WeightedSFT(WeightedLossMixin, SFTTrainer):  # type: ignore[misc]
        pass

    model = build_model(tok, hidden=32, layers=1, heads=2)
    rows = tokenize_with_masks(_examples() * 2, tok, mode="partial", weight=0.2)
    args = SFTConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=len(rows), max_steps=2, report_to=[],
        save_strategy="no", logging_steps=1, remove_unused_columns=False, use_cpu=True,
        dataset_kwargs={"skip_prepare_dataset": True},
    )  # fmt: skip
    trainer = WeightedSFT(
        model=model, args=args, train_dataset=datasets.Dataset.from_list(rows), processing_class=tok,
        data_collator=TraceMaskCollator(tok),
    )  # fmt: skip
    _first_step_loss_is_ours(trainer, model, rows, tok)
