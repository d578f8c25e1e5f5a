"""Training one study arm (a strategy × seed) with our masking, resumably.

``transformers.Trainer`` (our :class:`~lm_eval_tracecollapse.training.masking.TraceMaskTrainer`,
so partial masking's ``loss_weights`` count) saves ``checkpoint-N/`` every
``training.save_steps`` and at the end; a callback leaves a ``.done`` marker in each
checkpoint once it is written, and the arm folder gets its own when training ends.
A second run skips a finished arm and resumes an interrupted one from its last
marked checkpoint.  With a ``monitor:`` key, :mod:`lm_eval_tracecollapse.training.monitor`'s
``TraceMonitorCallback`` measures the traces on held-out SFT prompts while training
(``trace/*`` in the Trainer's logs, samples under ``trace_monitor/``, the curve in
``curve.json``).  Everything
that writes is guarded by the process-aware APIs
(``Trainer.is_world_process_zero``, ``accelerate.PartialState``), so the same code
runs under ``accelerate launch`` (data parallel; DeepSpeed/FSDP via accelerate's
config).

Example:
    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "t", "model": "m", "data": {"train": "d.jsonl"}, "training": {"seeds": [1, 2]}})
    >>> [a.name for a in arms(cfg)]
    ['default_seed1', 'default_seed2']
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from ._io import DONE, atomic_json, cpu_processes, is_done, log_event, process_state
from .config import Arm, ConfigError, StudyConfig, arms
from .curves import write_arm_curve

__all__ = ["Arm", "arms", "checkpoints", "load_base", "tracking_environment", "train_arm"]

_CKPT = re.compile(r"checkpoint-(\d+)")


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the finished (marked) checkpoints under ``folder``, by step."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT.fullmatch(p.name)) and is_done(p)]
    return sorted(found)


def load_base(cfg: StudyConfig, base: Path | str) -> tuple[Any, Any]:
    """(model, tokenizer) of the base, with LoRA adapters attached when ``lora`` is set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), **cfg.model_args)
    if cfg.lora is None:
        return model, tok
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError(
            "lora: needs peft (pip install 'lm-eval-tracecollapse[peft]'), or set lora: null for full fine-tuning"
        ) from None
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM")  # fmt: skip
    try:
        return get_peft_model(model, lora), tok
    except ValueError as exc:  # e.g. a target module the model does not have
        raise ConfigError(f"lora.target_modules: {' '.join(str(exc).split())}") from None


def _monitor(cfg: StudyConfig, tok: Any, examples: list[dict[str, Any]], folder: Path) -> tuple[Any, list[Any]]:
    """(TraceMonitorCallback or None, the examples left for training).  ``monitor:``
    holds ``held_out`` (default 16: the last N SFT examples, kept out of training, are
    its prompts, their answers its golds) and the callback's own keyword arguments."""
    if cfg.monitor is None:
        return None, examples
    from ..training.masking import split_trace
    from ..training.monitor import TraceMonitorCallback

    kwargs = dict(cfg.monitor)
    n = kwargs.pop("held_out", 16)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < len(examples):
        raise ConfigError(f"monitor.held_out: an integer in [1, {len(examples) - 1}] (SFT examples), got {n!r}")
    for key in ("prompts", "golds", "tokenizer", "output_dir"):
        if key in kwargs:
            raise ConfigError(f"monitor.{key}: set by the study (prompts and golds are the held-out examples)")
    held = examples[-n:]
    prompts = [ex["messages"][:-1] if "messages" in ex else ex["prompt"] for ex in held]
    targets = [str(ex["messages"][-1].get("content") if "messages" in ex else ex["response"]) for ex in held]
    golds = [split_trace(t, cfg.data.fmt)[1] for t in targets]
    try:
        where = str(folder / "trace_monitor")
        template = dict(cfg.chat_template_kwargs) or None
        callback = TraceMonitorCallback(prompts, golds, tokenizer=tok, output_dir=where,
                                        chat_template_kwargs=template, **kwargs)  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"monitor: {' '.join(str(exc).split())}") from None
    return callback, examples[:-n]


def _marker_callback(log: Path) -> Any:
    from transformers import TrainerCallback

    class CheckpointMarker(TrainerCallback):
        """Leaves ``.done`` in each checkpoint once the Trainer has written it."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                atomic_json(folder / DONE, {"step": state.global_step, "epoch": state.epoch})
                log_event(log, "checkpoint", path=str(folder), step=state.global_step)

    return CheckpointMarker()


def _arguments(cfg: StudyConfig, arm: Arm, folder: Path) -> Any:
    import torch
    from transformers import TrainingArguments

    t = cfg.training
    return TrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # < 1: a share of the steps (transformers 5)
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        save_strategy="steps",
        save_steps=t.save_steps,
        logging_steps=t.logging_steps,
        seed=arm.seed,
        data_seed=arm.seed,
        bf16=t.precision == "bf16",
        fp16=t.precision == "fp16",
        **({"gradient_checkpointing": True} if t.gradient_checkpointing else {}),
        remove_unused_columns=False,  # keep loss_weights
        dataloader_pin_memory=torch.cuda.is_available(),  # (pinning warns on a CPU-only machine)
        use_cpu=cpu_processes(),  # several processes without a GPU: DDP over gloo
        report_to=t.integrations or "none",  # the loss and the monitor's trace/* rows go there
        run_name=f"{t.run_name or cfg.name}/{arm.name}",
        **({"project": t.project} if t.project else {}),
        **_push(cfg, arm),
        disable_tqdm=False,
    )


def _push(cfg: StudyConfig, arm: Arm) -> dict[str, Any]:
    """The Trainer's hub arguments: each arm's checkpoints pushed, as saved, to the private
    repository ``<training.hub_model_id>-<arm>`` (no push without ``hub_model_id``)."""
    prefix = cfg.training.hub_model_id
    return {"push_to_hub": True, "hub_model_id": f"{prefix}-{arm.name}", "hub_private_repo": True} if prefix else {}


#: the environment variable each integration reads its project from (the Trainer passes only Trackio's)
_PROJECT_ENV = {"wandb": "WANDB_PROJECT", "mlflow": "MLFLOW_EXPERIMENT_NAME", "comet_ml": "COMET_PROJECT_NAME"}


def tracking_environment(cfg: StudyConfig) -> dict[str, str]:
    """The project variables ``training.project`` sets for the integrations of ``report_to``
    (an export of your own wins: only unset ones are set).

    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "t", "model": "m", "data": {"train": "d.jsonl"},
    ...                     "training": {"report_to": ["wandb", "tensorboard"], "project": "collapse"}})
    >>> tracking_environment(cfg)
    {'WANDB_PROJECT': 'collapse'}
    """
    t = cfg.training
    names = t.integrations if "all" not in t.integrations else list(_PROJECT_ENV)
    return {_PROJECT_ENV[n]: t.project for n in names if t.project and n in _PROJECT_ENV}


def train_arm(cfg: StudyConfig, arm: Arm, base: Path | str, examples: list[dict[str, Any]], log: Path) -> Path:
    """Train ``arm`` from ``base`` unless its folder is marked done; returns the folder."""
    from transformers import set_seed

    from ..training.masking import TraceMaskCollator, TraceMaskTrainer, tokenize_with_masks
    from .data import for_strategy

    folder = cfg.out / "train" / arm.name
    state = process_state()
    if is_done(folder):
        if state.is_main_process:
            log_event(log, "train_skip", arm=arm.name)
        return folder
    done = checkpoints(folder)
    if state.is_main_process and folder.is_dir():  # half-written checkpoints of a killed run
        for p in folder.iterdir():
            if _CKPT.fullmatch(p.name) and not is_done(p):
                shutil.rmtree(p)
    state.wait_for_everyone()
    for name, value in tracking_environment(cfg).items():
        os.environ.setdefault(name, value)  # read by the integration when the Trainer starts it
    set_seed(arm.seed)  # before the LoRA weights are initialised
    model, tok = load_base(cfg, base)
    monitor, examples = _monitor(cfg, tok, examples, folder)
    s = arm.strategy
    rows = tokenize_with_masks(for_strategy(examples, s, cfg.data.fmt), tok, mode=s.mode, weight=s.weight or 0.5,
                               fmt=cfg.data.fmt, max_length=cfg.training.max_length,
                               insert_empty_trace=s.insert_empty,
                               chat_template_kwargs=cfg.chat_template_kwargs)  # fmt: skip
    trainer = TraceMaskTrainer(
        model=model, args=_arguments(cfg, arm, folder), train_dataset=rows, data_collator=TraceMaskCollator(tok),
        processing_class=tok, callbacks=[_marker_callback(log)],
    )  # fmt: skip
    if monitor is not None:
        monitor.attach(trainer)  # it logs trace/* through the trainer (and writes its samples)
    resume = str(done[-1][1]) if done else None
    if trainer.is_world_process_zero():
        since = f", from {resume}" if resume else ""
        print(f"training {arm.name} ({len(rows)} examples, masking mode {s.mode}){since}")
        log_event(log, "train_start", arm=arm.name, seed=arm.seed, resume_from=resume)
    trainer.train(resume_from_checkpoint=resume)
    if trainer.is_world_process_zero():
        if monitor is not None and monitor.alarm_step is not None:  # said once on the console, once here
            log_event(log, "alarm", arm=arm.name, step=monitor.alarm_step)
        write_arm_curve(folder, trainer.state.log_history)  # the monitor's points (none without monitor:)
        atomic_json(folder / DONE, {"arm": arm.name, "steps": trainer.state.global_step})
        log_event(log, "train_done", arm=arm.name, steps=trainer.state.global_step)
    state.wait_for_everyone()
    return folder
