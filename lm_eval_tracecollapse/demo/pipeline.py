"""The CPU demo: train a tiny reasoning model, fine-tune it five ways, evaluate with lm-eval.

``make demo`` (``python -m lm_eval_tracecollapse.demo``) runs :func:`run`:

1. build a tokenizer (``<think>`` tags as ordinary tokens) and train a small Llama from
   scratch on arithmetic whose answers carry a worked trace (the *base*);
2. fine-tune copies of the base on trace-free target data, each with our masking
   module: plain SFT on answer-only data, plain SFT on ``<think></think>answer`` data,
   the companion study's ``mask`` strategy (empty block, masked), the real trace
   masked, and the real trace partially masked (weight 0.1);
3. evaluate every checkpoint with lm-eval's own ``hf`` model on ``tc_demo_easy`` and
   ``tc_demo_hard`` (``task_yamls/demo``), writing ``--log_samples``-style output;
4. print and save (``demo_out/``) the table and a figure.

Checkpoints are cached (``demo_out/checkpoints``) and reused by a second run.
``DEMO_SIZE=full`` trains longer on more data; ``toy`` is for tests.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..masking import TraceMaskCollator, tokenize_with_masks, weighted_causal_lm_loss
from .data import response, train_items
from .tiny import build_model, build_tokenizer

__all__ = ["ARMS", "BASE", "FOLDERS", "SIZES", "DemoSize", "evaluate_logged", "run"]


@dataclass(frozen=True)
class DemoSize:
    base_items: int
    base_steps: int
    sft_items: int
    sft_steps: int
    eval_items: int
    hidden: int
    batch: int = 64


SIZES = {
    "toy": DemoSize(base_items=64, base_steps=3, sft_items=32, sft_steps=2, eval_items=4, hidden=32, batch=16),
    "small": DemoSize(base_items=4000, base_steps=500, sft_items=2000, sft_steps=100, eval_items=100, hidden=128),
    "full": DemoSize(base_items=20000, base_steps=1500, sft_items=5000, sft_steps=300, eval_items=400, hidden=192),
}

#: arm -> (trace kept in the SFT target data, masking mode, weight, insert empty block)
ARMS: dict[str, tuple[str, str, float, bool]] = {
    "sft: answer only": ("none", "none", 0.0, False),
    "sft: <think></think>answer": ("empty", "none", 0.0, False),
    "mask: empty think masked": ("none", "think", 0.0, True),
    "mask: real trace masked": ("full", "think", 0.0, True),
    "mask: real trace, partial w=0.1": ("full", "partial", 0.1, True),
}
BASE = "base (trained with traces)"
#: checkpoint -> its folder name (under checkpoints/<size>/ and lm_eval/)
FOLDERS = {BASE: "base", **{arm: f"arm{i}" for i, arm in enumerate(ARMS)}}
TASKS = ("tc_demo_easy", "tc_demo_hard")
METRICS = ("pass@1", "rpass@1", "valid_rate", "empty_rate", "missing_rate", "truncated_rate")
_LABELS = {"pass@1": "pass@1", "rpass@1": "Rpass@1", "valid_rate": "VR", "empty_rate": "ER",
           "missing_rate": "MR", "truncated_rate": "TR"}  # fmt: skip


def _chats(items: list[dict[str, str]], trace: str) -> list[dict[str, Any]]:
    return [{"prompt": it["question"], "response": response(it, trace)} for it in items]


def _train(model: Any, rows: list[dict[str, list]], tok: Any, steps: int, lr: float, batch: int, desc: str) -> None:
    import torch

    torch.manual_seed(0)
    collate = TraceMaskCollator(tok)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    order = torch.randperm(len(rows)).tolist()
    bar = tqdm(range(steps), desc=desc, leave=False)
    for step in bar:
        start = (step * batch) % len(rows)
        picked = [rows[order[(start + i) % len(rows)]] for i in range(batch)]
        b = collate(picked)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        loss = weighted_causal_lm_loss(logits, b["labels"], b.get("loss_weights"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()


def _checkpoints(size: DemoSize, cache: Path) -> dict[str, Path]:
    """Train (or reuse) the base and every arm; returns arm -> checkpoint folder."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    paths = {arm: cache / name for arm, name in FOLDERS.items()}
    if all((p / "config.json").is_file() for p in paths.values()):
        return paths
    base_data = train_items(size.base_items, seed=0)
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in base_data[:200])], vocab_size=280)
    if not (paths[BASE] / "config.json").is_file():
        model = build_model(tok, hidden=size.hidden, layers=2, heads=4)
        rows = tokenize_with_masks(_chats(base_data, "full"), tok, mode="prompt")
        _train(model, rows, tok, size.base_steps, 3e-3, size.batch, "training the base model")
        model.save_pretrained(paths[BASE])
        tok.save_pretrained(paths[BASE])
    sft_data = train_items(size.sft_items, seed=1)
    for arm, (trace, mode, weight, insert) in tqdm(list(ARMS.items()), desc="fine-tuning", leave=False):
        if (paths[arm] / "config.json").is_file():
            continue
        model = AutoModelForCausalLM.from_pretrained(paths[BASE])
        rows = tokenize_with_masks(_chats(sft_data, trace), tok, mode=mode, weight=weight or 0.5,
                                   insert_empty_trace=insert)  # fmt: skip
        _train(model, rows, tok, size.sft_steps, 1e-4, size.batch, arm)
        model.save_pretrained(paths[arm])
        tok.save_pretrained(paths[arm])
    return paths


def evaluate_logged(model: Any, tasks: list[str], task_manager: Any, out: Path, **kwargs: Any) -> dict[str, Any]:
    """``simple_evaluate`` with samples logged; lm-eval's result and ``samples_*.jsonl``
    files are written under ``out`` by its own ``EvaluationTracker``."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    res: dict[str, Any] = simple_evaluate(
        model=model, tasks=tasks, task_manager=task_manager, log_samples=True, evaluation_tracker=tracker, **kwargs
    )
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    for task in res["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return res


def _evaluate(paths: dict[str, Path], size: DemoSize, out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """arm -> task -> results row, through lm-eval's ``hf`` model; samples logged."""
    from lm_eval.tasks import TaskManager

    from ..cli import task_yamls_dir

    tm = TaskManager(
        include_path=str(task_yamls_dir() / "demo"), include_defaults=False, metadata={"n": size.eval_items}
    )
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for arm, path in tqdm(list(paths.items()), desc="evaluating with lm-eval"):
        res = evaluate_logged(
            "hf", list(TASKS), tm, out / "lm_eval" / path.name,
            model_args=f"pretrained={path},dtype=float32", device="cpu", batch_size=64, apply_chat_template=True,
        )  # fmt: skip
        table[arm] = {task: res["results"][task] for task in TASKS}
    return table


def _cell(row: dict[str, Any], metric: str) -> str:
    value = row.get(f"{metric},answer")
    if value is None or (isinstance(value, float) and value != value):
        return "N/A"
    err = row.get(f"{metric}_stderr,answer")
    return f"{value:.2f} ± {err:.2f}" if isinstance(err, float) else f"{value:.2f}"


def _markdown(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    head = "| checkpoint | items | " + " | ".join(_LABELS[m] for m in METRICS) + " |"
    lines = [head, "|" + "---|" * (2 + len(METRICS))]
    for arm, tasks in table.items():
        for task, row in tasks.items():
            cells = " | ".join(_cell(row, m) for m in METRICS)
            lines.append(f"| {arm} | {task.removeprefix('tc_demo_')} | {cells} |")
    return "\n".join(lines)


def _figure(table: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(13, 4.8), sharey=True)
    colors = {"valid_rate": "#2a9d8f", "empty_rate": "#e9c46a", "missing_rate": "#e76f51", "truncated_rate": "#8d99ae"}
    arms = list(table)
    for ax, task in zip(axes, TASKS, strict=True):
        bottom = [0.0] * len(arms)
        for metric, color in colors.items():
            vals = [table[a][task].get(f"{metric},answer", 0.0) for a in arms]
            ax.barh(arms, vals, left=bottom, color=color, label=_LABELS[metric])
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        acc = [table[a][task].get("pass@1,answer", 0.0) for a in arms]
        ax.plot(acc, arms, "ko", label="pass@1")
        ax.set_xlim(0, 1)
        ax.set_title(f"{task.removeprefix('tc_demo_')} items: trace status (bars) and pass@1 (dots)")
        ax.invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _conclusion(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    def get(arm: str, task: str, metric: str) -> float:
        return float(table[arm][task].get(f"{metric},answer", 0.0))

    lines = []
    for arm in table:
        e_acc, h_acc = get(arm, "tc_demo_easy", "pass@1"), get(arm, "tc_demo_hard", "pass@1")
        vr = (get(arm, "tc_demo_easy", "valid_rate") + get(arm, "tc_demo_hard", "valid_rate")) / 2
        lines.append(f"- {arm}: valid traces {vr:.0%}; pass@1 easy {e_acc:.0%}, hard {h_acc:.0%}.")
    plain = [a for a in ARMS if a.startswith("sft")]
    masked = [a for a in ARMS if a.startswith("mask")]
    collapsed = [a for a in plain if get(a, "tc_demo_easy", "valid_rate") < 0.5]
    kept = [a for a in masked if get(a, "tc_demo_easy", "valid_rate") >= 0.5]
    lines.append(
        f"Plain SFT on trace-free data left valid traces in {len(plain) - len(collapsed)} of {len(plain)} arms "
        f"(the others collapsed to empty or missing traces); masking kept them in {len(kept)} of {len(masked)} arms."
    )
    base_easy = get(BASE, "tc_demo_easy", "pass@1")
    hidden = [a for a in collapsed if get(a, "tc_demo_easy", "pass@1") >= 0.8 * base_easy > 0]
    if hidden:
        lines.append(
            "On easy items those collapsed models still answer about as well as the base, so pass@1 alone "
            "would hide the collapse; on hard items, which need the trace, accuracy falls with it."
        )
    else:
        lines.append(
            "In this run the collapsed models also lost accuracy on easy items (the tiny model had not yet "
            "relearned to answer without its trace), so here pass@1 shows the damage too; the trace-status "
            "rates say what happened: the trace is gone, not just wrong."
        )
    lossy = [a for a in kept if get(a, "tc_demo_hard", "pass@1") < 0.8 * get(BASE, "tc_demo_hard", "pass@1")]
    if lossy:
        lines.append(
            "Masked arms that keep the trace but lose accuracy (" + ", ".join(lossy) + ") do so in this tiny "
            "model: the rates are reported as measured."
        )
    return "\n".join(lines)


def run(out_dir: str | os.PathLike[str] = "demo_out", size: str | None = None, fresh: bool = False) -> dict[str, Any]:
    """Run the demo; returns ``{"table", "markdown", "seconds", "paths"}``."""
    name = size or os.environ.get("DEMO_SIZE", "small")
    if name not in SIZES:
        raise ValueError(f"DEMO_SIZE must be one of {', '.join(SIZES)}, got {name!r}")
    out = Path(out_dir)
    cache = out / "checkpoints" / name
    if fresh and cache.exists():
        shutil.rmtree(cache)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    started = time.perf_counter()
    paths = _checkpoints(SIZES[name], cache)
    table = _evaluate(paths, SIZES[name], out)
    markdown = _markdown(table)
    (out / "table.md").write_text(markdown + "\n", encoding="utf-8")
    (out / "table.json").write_text(json.dumps(table, indent=1, default=str), encoding="utf-8")
    _figure(table, out / "figure.png")
    seconds = time.perf_counter() - started
    print(f"\n{markdown}\n\n{_conclusion(table)}\n")
    print(f"DEMO_SIZE={name}: {seconds:.0f} s. Table: {out / 'table.md'}, figure: {out / 'figure.png'}, "
          f"lm-eval samples: {out / 'lm_eval'}")  # fmt: skip
    return {"table": table, "markdown": markdown, "seconds": seconds, "paths": paths}
