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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..masking import TraceMaskCollator, tokenize_with_masks, weighted_causal_lm_loss
from .data import response, train_items
from .tiny import build_model, build_tokenizer

__all__ = ["ARMS", "BASE", "FOLDERS", "SIZES", "THREADS", "DemoSize", "evaluate_logged", "pin_torch", "run"]


@dataclass(frozen=True)
class DemoSize:
    base_items: int
    base_steps: int
    sft_items: int
    sft_steps: int
    eval_items: int
    hidden: int
    batch: int = 64
    base_lr: float = 3e-3
    sft_lr: float = 1e-4
    sft_hard_share: float = 0.5  # share of 2-digit items in the trace-free SFT data
    sft_batch: int = 64
    sft_warmup: int = 0  # linear learning-rate warm-up steps of the fine-tuning
    every: int = 10  # the collapse curve: a measurement every ``every`` fine-tuning steps
    monitor_items: int = 64  # ... on this many held-out easy items
    seed: int = 0  # model init, data order and the SFT data draw


SIZES = {
    "toy": DemoSize(base_items=64, base_steps=3, sft_items=32, sft_steps=2, eval_items=4, hidden=32, batch=16,
                    sft_batch=16, every=1, monitor_items=4),
    # fine-tuning on easy items only, long and fast enough for plain SFT to relearn answering without the
    # trace (so its accuracy comes back while the trace stays gone); see docs/demo_table.md
    "small": DemoSize(base_items=4000, base_steps=500, sft_items=2000, sft_steps=300, eval_items=100, hidden=128,
                      sft_lr=1e-3, sft_hard_share=0.0, sft_batch=32, sft_warmup=10, every=30),
    "full": DemoSize(base_items=20000, base_steps=1500, sft_items=5000, sft_steps=600, eval_items=400, hidden=192,
                     sft_lr=1e-3, sft_hard_share=0.0, sft_batch=32, sft_warmup=20, every=50, monitor_items=100),
}  # fmt: skip
#: torch threads for training and evaluation: fixed, so the float reduction order (and the
#: numbers) do not depend on the machine's core count
THREADS = 2

#: arm -> (trace kept in the SFT target data, masking mode, weight, insert empty block); the
#: prompt is never trained (completion-only SFT: training on the random digits of the
#: questions costs the tiny model its answers)
ARMS: dict[str, tuple[str, str, float, bool]] = {
    "sft: answer only": ("none", "prompt", 0.0, False),
    "sft: <think></think>answer": ("empty", "prompt", 0.0, False),
    "mask: empty think masked": ("none", "prompt+think", 0.0, True),
    "mask: real trace masked": ("full", "prompt+think", 0.0, True),
    "mask: real trace, partial w=0.1": ("full", "prompt+partial", 0.1, True),
}
BASE = "base (trained with traces)"
#: checkpoint -> its folder name (under checkpoints/<size>/ and lm_eval/)
FOLDERS = {BASE: "base", **{arm: f"arm{i}" for i, arm in enumerate(ARMS)}}
TASKS = ("tc_demo_easy", "tc_demo_hard")
_LABELS = {"valid_rate": "VR", "empty_rate": "ER", "missing_rate": "MR", "truncated_rate": "TR"}


def _chats(items: list[dict[str, str]], trace: str) -> list[dict[str, Any]]:
    return [{"prompt": it["question"], "response": response(it, trace)} for it in items]


def _train(
    model: Any,
    rows: list[dict[str, list]],
    tok: Any,
    steps: int,
    lr: float,
    batch: int,
    desc: str,
    monitor: Callable[[Any, int], dict[str, Any]] | None = None,
    every: int = 0,
    seed: int = 0,
    warmup: int = 0,
) -> list[dict[str, Any]]:
    """AdamW on ``rows``; with ``monitor``, a curve point after every ``every`` steps
    (and the last), returned in step order (step 0 is not measured here)."""
    import torch

    torch.manual_seed(seed)
    collate = TraceMaskCollator(tok)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    model.train()
    order = torch.randperm(len(rows)).tolist()
    points = []
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
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if monitor is not None and every > 0 and ((step + 1) % every == 0 or step + 1 == steps):
            points.append(monitor(model, step + 1))
    model.eval()
    return points


def pin_torch() -> None:
    """A fixed thread count (``docs/demo.md`` says what else is pinned).  The CPU kernels the
    demo uses are deterministic at a fixed thread count: ``torch.use_deterministic_algorithms(True)``
    gave bit-identical weights and is left off (it only adds checks)."""
    import torch

    torch.set_num_threads(THREADS)


def _sft_rows(chats: list[dict[str, Any]], tok: Any, mode: str, weight: float, insert: bool) -> list[dict[str, list]]:
    """The arm's rows (every arm's mode leaves the prompt untrained)."""
    return tokenize_with_masks(chats, tok, mode=mode, weight=weight or 0.5, insert_empty_trace=insert)  # type: ignore[arg-type]


def _read_curve(path: Path) -> list[dict[str, Any]] | None:
    f = path / "curve.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() and (path / "config.json").is_file() else None


def _save(model: Any, tok: Any, path: Path, curve: list[dict[str, Any]]) -> None:
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "curve.json").write_text(json.dumps(curve, indent=1), encoding="utf-8")  # last: marks it complete


def _checkpoints(size: DemoSize, cache: Path) -> tuple[dict[str, Path], dict[str, list[dict[str, Any]]]]:
    """Train (or reuse) the base and every arm; returns arm -> checkpoint folder and
    arm -> its collapse curve on the easy items (step 0 = the base), cached beside it."""
    from transformers import AutoModelForCausalLM

    from .curves import Monitor

    pin_torch()
    paths = {arm: cache / name for arm, name in FOLDERS.items()}
    cached = {arm: _read_curve(p) for arm, p in paths.items()}
    if all(c is not None for c in cached.values()):
        base_point = cached[BASE][0]  # type: ignore[index]
        return paths, {arm: [base_point, *cached[arm]] for arm in ARMS}  # type: ignore[misc]
    base_data = train_items(size.base_items, seed=size.seed)
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in base_data[:200])], vocab_size=280)
    monitor = Monitor(tok, size.monitor_items)
    base_curve = cached[BASE]
    if base_curve is None:
        model = build_model(tok, hidden=size.hidden, layers=2, heads=4, seed=size.seed)
        rows = tokenize_with_masks(_chats(base_data, "full"), tok, mode="prompt")
        _train(model, rows, tok, size.base_steps, size.base_lr, size.batch, "training the base model", seed=size.seed)
        base_curve = [monitor(model, 0)]
        _save(model, tok, paths[BASE], base_curve)
    sft_data = train_items(size.sft_items, seed=size.seed + 1, hard_share=size.sft_hard_share)
    curves = {}
    for arm, (trace, mode, weight, insert) in tqdm(list(ARMS.items()), desc="fine-tuning", leave=False):
        curve = cached[arm]
        if curve is None:
            model = AutoModelForCausalLM.from_pretrained(paths[BASE])
            rows = _sft_rows(_chats(sft_data, trace), tok, mode, weight, insert)
            curve = _train(model, rows, tok, size.sft_steps, size.sft_lr, size.sft_batch, arm, monitor, size.every,
                           seed=size.seed, warmup=size.sft_warmup)  # fmt: skip
            _save(model, tok, paths[arm], curve)
        curves[arm] = [base_curve[0], *curve]
    return paths, curves


def evaluate_logged(model: Any, tasks: list[str], task_manager: Any, out: Path, **kwargs: Any) -> dict[str, Any]:
    """``simple_evaluate`` with samples logged; lm-eval's result and ``samples_*.jsonl``
    files are written under ``out`` by its own ``EvaluationTracker``.  ``out`` is this
    evaluation's own folder and is emptied first: a re-run replaces the files instead of
    adding a second timestamped set that ``analyze``, the probes and the report would count twice."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    if out.exists():
        shutil.rmtree(out)

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

    from ..locations import task_yamls_dir

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


def _machine() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
    }


def run(
    out_dir: str | os.PathLike[str] = "demo_out",
    size: str | None = None,
    fresh: bool = False,
    docs: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the demo; returns ``{"table", "curves", "markdown", "seconds", "paths", "ok"}``.  With ``docs``,
    the results, table block and figures are copied there (``--write-docs``: ``docs/``)."""
    from ..report.render import plot_curves
    from .curves import check
    from .results import conclusion, markdown, render, write_docs

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
    paths, curves = _checkpoints(SIZES[name], cache)
    table = _evaluate(paths, SIZES[name], out)
    table = {arm: {t: {k: v for k, v in row.items() if k.endswith(",answer")} for t, row in tasks.items()}
             for arm, tasks in table.items()}  # fmt: skip
    text = markdown(table)
    (out / "table.md").write_text(text + "\n", encoding="utf-8")
    (out / "table.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
    (out / "training_curves.json").write_text(json.dumps(curves, indent=1), encoding="utf-8")
    results = {"size": name, "eval_items": SIZES[name].eval_items, "monitor_items": SIZES[name].monitor_items,
               "settings": asdict(SIZES[name]), "machine": _machine(), "table": table, "curves": curves}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _figure(table, out / "figure.png")
    plot_curves(curves, out / "curves.png", title=f"{SIZES[name].monitor_items} easy items")
    (out / "summary.md").write_text(render(results) + "\n", encoding="utf-8")
    if docs is not None:
        print(f"docs: {write_docs(out, Path(docs))}")
    seconds = time.perf_counter() - started
    ok, checks = check(curves)
    print(f"\n{text}\n\n{conclusion(table, curves)}\n")
    print(f"Collapse signature {'MET' if ok else 'NOT met'}:\n" + "\n".join(f"  {c}" for c in checks))
    print(f"DEMO_SIZE={name}: {seconds:.0f} s. Table: {out / 'table.md'}, curves: {out / 'training_curves.json'}, "
          f"{out / 'curves.png'}, figure: {out / 'figure.png'}, lm-eval samples: {out / 'lm_eval'}")  # fmt: skip
    return {"table": table, "curves": curves, "markdown": text, "seconds": seconds, "paths": paths, "ok": ok}
