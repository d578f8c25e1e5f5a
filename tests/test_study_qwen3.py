"""The study shows the mitigation on a Qwen3-shaped model with Qwen3's real chat template
(issue 37): the built-in recipe's tiny base built as a ``Qwen3ForCausalLM`` that learned its
turns in Qwen3-0.6B's own template (tests/fixtures/chat_templates), fine-tuned by
``tracecollapse study`` on trace-free answers with the paper's ``default`` and ``mask`` and our
``partial`` (w=0.1, the data's traces kept), each completion-only (``prompt: mask``, as the demo's
arms: a trained prompt teaches this tiny model that digits end a turn, which blurs its traces
whatever the arm), every checkpoint evaluated through lm-eval.

``default`` trains Qwen3's own empty ``<think>\\n\\n</think>`` block and loses the trace; ``mask``
masks that block and keeps it; ``partial`` keeps it.  Before the training text held one block
per turn, Qwen3's template wrote its empty block *and* the masking's own: ``mask`` masked the
inner one and trained the template's, and collapsed like ``default`` (valid 1.00 -> 0.02,
empty 0.98 in the issue's run); the labels checked first here are the mechanism.

``python tests/test_study_qwen3.py OUT [--write-docs]`` runs the same study into OUT (every
checkpoint evaluated) and prints the valid-trace rates per checkpoint (docs/study.md's block)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "chat_templates" / "qwen3-0.6b.jinja"
ARMS = ("default", "mask", "partial_w0.1")


def qwen3_base(path: Path) -> Path:
    """The built-in recipe's base as a tiny ``Qwen3ForCausalLM`` in Qwen3's template (≈5 s):
    1-digit sums with worked traces, every response ``<think>\\n…\\n</think>\\n\\nThe answer is N.``.
    Torch runs one thread from here on (the study too): the same numbers on every machine, and
    no threads waiting on each other on a busy one (two were 3-5x slower there)."""
    from lm_eval_tracecollapse.builtin.recipe import DemoSize, train_base

    size = DemoSize(base_items=2000, base_steps=200, sft_items=0, hidden=64, batch=32, base_lr=5e-3,
                    base_hard_share=0.0)  # fmt: skip
    return train_base(size, path, chat_template=FIXTURE.read_text(encoding="utf-8"), arch="qwen3", threads=1)


def study_config(folder: Path, base: Path, checkpoints: str = "all") -> Path:
    """Full fine-tuning, completion-only, 100 steps of 16 trace-free sums (lr 3e-4), checkpoints at 50 and 100
    (``checkpoints``: evaluate ``all`` or the ``final`` one), 32 items of ``tc_demo_easy``."""
    path = folder / "qwen3_study.yaml"
    path.write_text(f"""
name: qwen3-template
model: {base}
model_args: {{dtype: float32}}
data: {{train: builtin:tiny-arith, limit: 800}}
strategies: [{{kind: default, prompt: mask}}, {{kind: mask, prompt: mask}},
             {{kind: partial, weight: 0.1, prompt: mask}}]
lora: null
training: {{seeds: [1], max_steps: 100, batch_size: 16, grad_accum: 1, lr: 3e-4, warmup_ratio: 0.0, precision: fp32,
           save_steps: 50, logging_steps: 50}}
evaluation: {{tasks: [tc_demo_easy], gen_kwargs: {{max_gen_toks: 40}}, model_args: {{dtype: float32}}, device: cpu,
             batch_size: 32, include_defaults: false, metadata: {{n: 32}}, checkpoints: {checkpoints}}}
output_dir: {folder / "run"}
""")
    return path


def valid_rates(out: Path) -> dict[str, float]:
    """Each evaluation's valid-trace rate, from lm-eval's aggregated results."""
    rates = {}
    for folder in sorted((out / "eval").iterdir()):
        (results,) = folder.glob("results_*.json")
        rates[folder.name] = json.loads(results.read_text())["results"]["tc_demo_easy"]["valid_rate,answer"]
    return rates


def _trained(tok: Any, row: dict[str, list]) -> str:
    return str(tok.decode([i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]))


@pytest.mark.slow
def test_mask_and_partial_keep_the_trace_default_loses_it(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from lm_eval_tracecollapse.study import load_config, run_study
    from lm_eval_tracecollapse.study.data import for_strategy, load_examples
    from lm_eval_tracecollapse.training.masking import tokenize_with_masks

    base = qwen3_base(tmp_path / "base")
    cfg = load_config(study_config(tmp_path, base, checkpoints="final"))
    tok = AutoTokenizer.from_pretrained(base)
    example = load_examples(cfg)[:1]
    rows = {s.name: tokenize_with_masks(for_strategy(example, s), tok, mode=s.mode, weight=s.weight or 0.5,
                                        insert_empty_trace=s.insert_empty)[0] for s in cfg.strategies}  # fmt: skip
    for name, row in rows.items():  # one block in every training text: Qwen3's own, or the data's trace
        assert tok.decode(row["input_ids"]).count("<think>") == 1, name
    assert "<think>\n\n</think>\n\nThe answer is" in _trained(tok, rows["default"])  # the empty block, trained
    assert "<think>" not in _trained(tok, rows["mask"]) and "</think>" not in _trained(tok, rows["mask"])
    run_study(cfg)
    vr = valid_rates(tmp_path / "run")
    assert vr["base"] >= 0.95
    assert vr["default_seed1_step100"] <= 0.1  # the trace is lost: Qwen3's empty block is what it learned
    assert vr["mask_seed1_step100"] >= 0.6 and vr["partial_w0.1_seed1_step100"] >= 0.8  # kept


DOC = Path(__file__).parents[1] / "docs" / "study.md"
_BEGIN = "<!-- qwen3-study: generated by `.venv/bin/python tests/test_study_qwen3.py OUT --write-docs`; do not edit -->"
_END = "<!-- qwen3-study end -->"


def doc_block(out: Path) -> str:
    """The valid-trace rate of the base and of each arm at each checkpoint, as docs/study.md shows it."""
    vr = valid_rates(out)
    steps = sorted({int(k.rsplit("_step", 1)[1]) for k in vr if "_step" in k})
    lines = [
        "| arm | " + " | ".join(["base", *(f"step {s}" for s in steps)]) + " |",
        "|---|" + "---:|" * (1 + len(steps)),
    ]
    for arm in ARMS:
        cells = [f"{vr['base']:.2f}", *(f"{vr[f'{arm}_seed1_step{s}']:.2f}" for s in steps)]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    from lm_eval_tracecollapse.study import run_study

    where = Path(sys.argv[1])
    where.mkdir(parents=True, exist_ok=True)
    run_study(study_config(where, qwen3_base(where / "base")))
    block = doc_block(where / "run")
    print(block)
    if "--write-docs" in sys.argv:
        text = DOC.read_text(encoding="utf-8")
        head, rest = text.split(_BEGIN)
        DOC.write_text(f"{head}{_BEGIN}\n{block}\n{_END}{rest.split(_END, 1)[1]}", encoding="utf-8")
        print(f"wrote {DOC}")
