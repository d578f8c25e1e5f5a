"""The CPU demo: ``tracecollapse study`` on the shipped tiny config, then its summary.

``make demo`` runs ``tracecollapse study studies/tiny_cpu.yaml`` and then
``python -m lm_eval_tracecollapse.demo`` (:func:`run`, which runs the study too when it
is not complete, so either command alone gives the whole demo):

1. the study builds the built-in base (``builtin:tiny-arith``: a tokenizer with
   ``<think>`` tags as ordinary tokens and a small Llama trained from scratch on
   arithmetic whose answers carry a worked trace — :func:`train_base` here);
2. it fine-tunes the base five ways on trace-free data with our masking
   (``TraceMaskTrainer``), the trace monitor (``TraceMonitorCallback``) measuring
   the held-out easy items every few steps: the collapse curves;
3. it evaluates the base and every checkpoint through lm-eval's ``hf`` model on
   ``tc_demo_easy`` and ``tc_demo_hard`` (samples logged) and writes its table,
   figures, comparisons and HTML report into ``demo_out/``;
4. :func:`summarize` (``demo.results``) renders the demo's table, curve table,
   signature check and findings (``demo_out/summary.md``, ``results.json``) from those
   outputs; ``--write-docs`` copies them to ``docs/``.

The study folder is its cache: a second run only re-reads it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..masking import TraceMaskCollator, split_trace, tokenize_with_masks, weighted_causal_lm_loss
from .data import response, train_items
from .tiny import build_model, build_tokenizer

__all__ = ["BASE", "CONFIG", "SIZES", "THREADS", "TOY", "DemoSize", "demo_config", "final_runs", "pin_torch", "run",
           "sft_examples", "train_base"]  # fmt: skip


@dataclass(frozen=True)
class DemoSize:
    """The built-in base model's recipe (``builtin:tiny-arith@<size>``) and its SFT items."""

    base_items: int
    base_steps: int
    sft_items: int
    hidden: int
    layers: int = 2
    batch: int = 64
    base_lr: float = 3e-3
    sft_hard_share: float = 0.0  # share of 2-digit items in the trace-free SFT data
    seed: int = 0  # model init, data order and the SFT data draw


SIZES = {
    "toy": DemoSize(base_items=64, base_steps=3, sft_items=32, hidden=32, batch=16),
    "small": DemoSize(base_items=4000, base_steps=500, sft_items=2000, hidden=128, layers=4),
    "full": DemoSize(base_items=20000, base_steps=1500, sft_items=5000, hidden=192),
}
#: torch threads for training and evaluation: fixed, so the float reduction order (and the
#: numbers) do not depend on the machine's core count
THREADS = 2
#: the shipped study config the demo is (``studies/tiny_cpu.yaml``)
CONFIG = "tiny_cpu"
BASE = "base (trained with traces)"
#: the config changes that make the demo a seconds-long test (``run(size="toy")``)
TOY: dict[str, Any] = {
    "model": "builtin:tiny-arith@toy",
    "training": {"max_steps": 2, "batch_size": 16, "save_steps": 2, "warmup_ratio": 0.0},
    "monitor": {"held_out": 4, "every_n_steps": 1},
    "evaluation": {"metadata": {"n": 4}},
}


def _chats(items: list[dict[str, str]], trace: str) -> list[dict[str, Any]]:
    """SFT examples with the trace in a ``reasoning`` key: the template writes the block
    (``<think>\\n…\\n</think>\\n`` on the demo's ChatML, the text the demo has always trained on)."""
    rows: list[dict[str, Any]] = []
    for it in items:
        reasoning, answer = split_trace(response(it, trace))
        rows.append({"prompt": it["question"], "response": answer}
                    | ({} if reasoning is None else {"reasoning": reasoning}))  # fmt: skip
    return rows


def _train(model: Any, rows: list[dict[str, list]], tok: Any, steps: int, lr: float, batch: int, desc: str,
           seed: int = 0) -> None:  # fmt: skip
    """AdamW on ``rows`` (the base's pre-training, and tests' tiny models)."""
    import torch

    torch.manual_seed(seed)
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


def pin_torch() -> None:
    """A fixed thread count (``docs/demo.md`` says what else is pinned).  The CPU kernels the
    demo uses are deterministic at a fixed thread count: ``torch.use_deterministic_algorithms(True)``
    gave bit-identical weights and is left off (it only adds checks)."""
    import torch

    torch.set_num_threads(THREADS)


def train_base(size: str, path: Path) -> Path:
    """Build the tokenizer and train the tiny base of ``size`` from scratch; saved at ``path``."""
    pin_torch()
    s = SIZES[size]
    data = train_items(s.base_items, seed=s.seed)
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in data[:200])], vocab_size=280)
    model = build_model(tok, hidden=s.hidden, layers=s.layers, heads=4, seed=s.seed)
    rows = tokenize_with_masks(_chats(data, "full"), tok, mode="prompt")
    _train(model, rows, tok, s.base_steps, s.base_lr, s.batch, "training the built-in base model", seed=s.seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def sft_examples(size: str) -> list[dict[str, str]]:
    """The trace-carrying SFT examples of ``data.train: builtin:tiny-arith`` (``prompt``,
    ``reasoning``, ``response``), drawn apart from the base's items.

    >>> ex = sft_examples("toy")[0]
    >>> sorted(ex), ex["response"].startswith("The answer is")
    (['prompt', 'reasoning', 'response'], True)
    """
    s = SIZES[size]
    items = train_items(s.sft_items, seed=s.seed + 1, hard_share=s.sft_hard_share)
    return [{"prompt": it["question"], "reasoning": it["reasoning"], "response": response(it, "none")}
            for it in items]  # fmt: skip


def demo_config(out_dir: str | os.PathLike[str] = "demo_out", size: str = "small") -> Any:
    """The demo's study config: ``studies/tiny_cpu.yaml`` writing into ``out_dir``
    (``size="toy"``: with :data:`TOY`'s changes)."""
    from ..study.config import load_config

    if size not in ("small", "toy"):
        raise ValueError(f"the demo's size is 'small' (make demo) or 'toy' (tests), got {size!r}")
    return load_config(CONFIG, {**(TOY if size == "toy" else {}), "output_dir": str(out_dir)})


def final_runs(cfg: Any) -> dict[str, tuple[Path, Path]]:
    """{:data:`BASE` or arm title: (its model folder, its lm-eval output folder)} for the base
    and each arm's last checkpoint of the demo's study ``cfg``."""
    from ..study.data import builtin_path
    from ..study.evaluate import plan
    from ..study.train import arms

    titles = {a.name: a.strategy.display for a in arms(cfg)}
    base = builtin_path(cfg.model, cfg.out / "builtin")  # where the study keeps the built-in base
    runs: dict[str, tuple[Path, Path]] = {}
    for ev in plan(cfg):  # by step within an arm: its last checkpoint stays
        key = BASE if ev.arm is None else titles[ev.arm]
        runs[key] = (base if ev.checkpoint is None else ev.checkpoint, cfg.out / "eval" / ev.label)
    return runs


def run(
    out_dir: str | os.PathLike[str] = "demo_out", size: str = "small", docs: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The demo: the study (unless its folder already holds the finished study), then
    :func:`~lm_eval_tracecollapse.demo.results.summarize`; returns its result plus
    ``"seconds"``.  With ``docs``, the results, block and figures are copied there."""
    from ..study.run import is_complete, run_study
    from .results import summarize

    cfg = demo_config(out_dir, size)
    started = time.perf_counter()
    pin_torch()
    if not is_complete(cfg):
        run_study(cfg)
    result = summarize(cfg, docs=Path(docs) if docs is not None else None)
    result["seconds"] = time.perf_counter() - started
    return result
