"""Evaluating the base and every saved checkpoint through lm-eval, samples logged.

Each evaluation is lm-eval's ``simple_evaluate`` (``hf`` or ``vllm`` model, one
``TaskManager`` for the whole study) with lm-eval's own ``EvaluationTracker``
writing ``results_*.json`` and ``samples_<task>_*.jsonl`` — the files
``lm_eval --output_path --log_samples`` writes — into a staging folder, which is
then moved to ``<out>/eval/<label>/`` and marked ``.done``.  So the folder name is
the run name ``tracecollapse analyze/compare/table`` show, and a second run skips
every marked evaluation.  Only the main process writes; under ``accelerate launch``
lm-eval's ``hf`` model shards the documents over the processes itself (``vllm``
parallelises inside one process: ``tensor_parallel_size``/``data_parallel_size``).

Example:
    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "t", "model": "m", "data": {"train": "d.jsonl"},
    ...                     "evaluation": {"model_args": {"dtype": "float32"}}})
    >>> model_args(cfg, "/base", Path("/ckpt"))
    {'pretrained': '/base', 'peft': '/ckpt', 'dtype': 'float32'}
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._io import DONE, atomic_json, cpu_processes, is_done, log_event, process_state
from .config import ConfigError, StudyConfig, arms
from .jobs import Selection
from .train import checkpoints

__all__ = ["Evaluation", "evaluate_all", "evaluate_logged", "model_args", "plan", "task_manager"]


@dataclass(frozen=True)
class Evaluation:
    """One lm-eval run: the base (``arm`` None, step 0) or one checkpoint of an arm."""

    label: str  # its folder under <out>/eval and its run name in the reports
    arm: str | None
    step: int
    checkpoint: Path | None  # None: the base


def plan(cfg: StudyConfig) -> list[Evaluation]:
    """The base, then every finished checkpoint of every arm (the last only with
    ``evaluation.checkpoints: final``)."""
    out = [Evaluation("base", None, 0, None)]
    for arm in arms(cfg):
        found = checkpoints(cfg.out / "train" / arm.name)
        if cfg.evaluation.checkpoints == "final":
            found = found[-1:]
        out += [Evaluation(f"{arm.name}_step{step}", arm.name, step, path) for step, path in found]
    return out


def model_args(cfg: StudyConfig, base: str, checkpoint: Path | None, merged: Path | None = None) -> dict[str, Any]:
    """lm-eval ``model_args`` for one evaluation: the base, a full checkpoint, or the
    base with the checkpoint's adapter (``peft`` for ``hf``, ``lora_local_path`` for
    ``vllm``; ``merged`` when the adapter was merged first)."""
    if checkpoint is None:
        args: dict[str, Any] = {"pretrained": base}
    elif merged is not None or cfg.lora is None:
        args = {"pretrained": str(merged or checkpoint)}
    else:
        key = "peft" if cfg.evaluation.backend == "hf" else "lora_local_path"
        args = {"pretrained": base, key: str(checkpoint)}
    return {**args, **cfg.evaluation.model_args, **_template_args(cfg)}


def _template_args(cfg: StudyConfig) -> dict[str, Any]:
    """The study's ``chat_template_kwargs`` as lm-eval model arguments: ``chat_template_args``
    (its vllm backend drops ``enable_thinking`` from there, so False goes on its own).

    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "x", "model": "m", "data": {"train": "t.jsonl"},
    ...                     "chat_template_kwargs": {"enable_thinking": False}})
    >>> _template_args(cfg)
    {'chat_template_args': {'enable_thinking': False}}
    """
    kwargs = dict(cfg.chat_template_kwargs)
    if not kwargs:
        return {}
    if cfg.evaluation.backend == "vllm" and "enable_thinking" in kwargs:
        thinking = kwargs.pop("enable_thinking")
        return {"enable_thinking": thinking, **({"chat_template_args": kwargs} if kwargs else {})}
    return {"chat_template_args": kwargs}


def task_manager(cfg: StudyConfig) -> Any:
    """One ``TaskManager`` for every evaluation: our task YAMLs, yours, lm-eval's own."""
    from ..harness.run import task_manager as build

    return build(cfg.evaluation.include_path, cfg.evaluation.include_defaults, cfg.evaluation.metadata)


def _merge(base: str, checkpoint: Path, into: Path, cfg: StudyConfig) -> Path:
    """The base with the checkpoint's LoRA adapter merged in, saved under ``into``."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, **cfg.model_args)
    PeftModel.from_pretrained(model, str(checkpoint)).merge_and_unload().save_pretrained(into)
    AutoTokenizer.from_pretrained(base).save_pretrained(into)
    return into


def evaluate_logged(model: Any, tasks: list[str], task_manager: Any, out: Path, **kwargs: Any) -> dict[str, Any] | None:
    """``simple_evaluate`` with samples logged: lm-eval's own ``EvaluationTracker`` writes
    ``results_*.json`` and ``samples_<task>_*.jsonl`` under ``out/<model name>/`` (``out``
    is emptied first, so a rerun replaces the files instead of adding a second
    timestamped set that ``analyze`` would count twice).  Returns the results on the
    main process, None on the others; only the main process writes.  Several processes
    on GPUs split the documents (lm-eval gathers them on the main one); on CPU lm-eval's
    ``hf`` model does not split them (it shards only over GPUs), so there the main process
    evaluates alone while the others wait."""
    from ..harness.run import evaluate_and_save

    state = process_state()
    if state.is_main_process and out.exists():
        shutil.rmtree(out)
    state.wait_for_everyone()
    if not state.is_main_process and cpu_processes():
        return None
    return evaluate_and_save(model, tasks, task_manager, out, state.is_main_process, **kwargs)


def _run(cfg: StudyConfig, ev: Evaluation, base: str, tm: Any, log: Path) -> None:
    state = process_state()
    folder, staging = cfg.out / "eval" / ev.label, cfg.out / ".staging" / ev.label
    # a LoRA checkpoint to merge into the base before evaluating (merge_lora), else None
    adapter = ev.checkpoint if cfg.lora is not None and cfg.evaluation.merge_lora else None
    if state.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        if adapter is not None:
            _merge(base, adapter, staging / "merged", cfg)
    state.wait_for_everyone()
    merged = staging / "merged" if adapter is not None else None
    e = cfg.evaluation
    evaluate_logged(
        e.backend, list(e.tasks), tm, staging / "lm_eval", model_args=model_args(cfg, base, ev.checkpoint, merged),
        limit=e.limit, gen_kwargs=dict(e.gen_kwargs) or None, apply_chat_template=e.apply_chat_template,
        batch_size=e.batch_size, device=e.device, random_seed=e.seed, numpy_random_seed=e.seed,
        torch_random_seed=e.seed, fewshot_random_seed=e.seed, confirm_run_unsafe_code=e.confirm_run_unsafe_code,
    )  # fmt: skip
    if state.is_main_process:
        (written,) = [p for p in (staging / "lm_eval").iterdir() if p.is_dir()]  # <model_name_sanitized>/
        if folder.exists():  # an unmarked leftover of a killed run
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written, folder)
        atomic_json(folder / DONE, {"label": ev.label, "arm": ev.arm, "step": ev.step,
                                    "checkpoint": str(ev.checkpoint) if ev.checkpoint else None})  # fmt: skip
        log_event(log, "evaluate", label=ev.label)
        shutil.rmtree(staging, ignore_errors=True)
    state.wait_for_everyone()


def evaluate_all(cfg: StudyConfig, base: str, log: Path, selection: Selection | None = None) -> list[Evaluation]:
    """Evaluate every planned run not yet marked done (of ``selection``'s arms and base: ``--only``);
    returns the plan."""
    from tqdm.auto import tqdm

    state = process_state()
    if cfg.evaluation.backend == "vllm" and state.num_processes > 1:
        raise ConfigError(
            "evaluation.backend: vllm runs in one process; run the evaluate stage without accelerate launch "
            "and set tensor_parallel_size/data_parallel_size in evaluation.model_args"
        )
    todo = plan(cfg)
    mine = [ev for ev in todo if selection is None or selection.wants(ev.arm)]
    pending = [ev for ev in mine if not is_done(cfg.out / "eval" / ev.label)]
    if state.is_main_process:
        for ev in mine:
            if ev not in pending:
                log_event(log, "evaluate_skip", label=ev.label)
    if pending:
        tm = task_manager(cfg)
        for ev in tqdm(pending, desc="evaluating with lm-eval", disable=not state.is_main_process):
            _run(cfg, ev, base, tm, log)
    if state.is_main_process:
        with contextlib.suppress(OSError):  # gone, or another job of the study is staging there
            (cfg.out / ".staging").rmdir()
    return todo
