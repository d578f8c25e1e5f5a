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
from pathlib import Path
from typing import Any

from ..builtin.recipe import SIZES, THREADS, DemoSize, pin_torch, sft_examples, train_base

__all__ = ["BASE", "CONFIG", "SIZES", "THREADS", "TOY", "DemoSize", "demo_config", "final_runs", "pin_torch",
           "sft_examples", "train_base"]  # fmt: skip


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
    from ..builtin.recipe import builtin_path
    from ..study.config import arms
    from ..study.evaluate import plan

    titles = {a.name: a.strategy.display for a in arms(cfg)}
    base = builtin_path(cfg.model, cfg.out / "builtin")  # where the study keeps the built-in base
    runs: dict[str, tuple[Path, Path]] = {}
    for ev in plan(cfg):  # by step within an arm: its last checkpoint stays
        key = BASE if ev.arm is None else titles[ev.arm]
        runs[key] = (base if ev.checkpoint is None else ev.checkpoint, cfg.out / "eval" / ev.label)
    return runs
