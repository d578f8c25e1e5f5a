"""``TraceMonitorCallback``: measure the reasoning trace while a ``transformers`` Trainer trains.

At the start of training (step 0), every ``every_n_steps`` optimizer steps (gradient
accumulation counts once per optimizer step), on the trainer's evaluation events when
``on_evaluate=True``, and at the end, the callback runs
:func:`~lm_eval_tracecollapse.training.monitor.measure_traces` on its held-out prompts and logs
``trace/valid_rate``, ``trace/empty_rate``, ``trace/missing_rate``,
``trace/truncated_rate``, ``trace/answer_rate``, ``trace/pass@1``, ``trace/rpass@1``,
``trace/mean_trace_tokens`` and ``trace/eval_seconds`` through ``Trainer.log`` — the
path the Trainer's own loss takes, so ``report_to`` integrations (W&B, TensorBoard,
MLflow, ...) receive them and ``trainer.state.log_history`` keeps them — as a row of their
own at the measured step, **beside** the Trainer's own ``loss``/``grad_norm``/
``learning_rate`` row of that step, which it never suppresses (:meth:`TraceMonitorCallback._log`).
``pass@1`` is logged only with gold answers, ``rpass@1`` only when some response has a
valid trace (undefined otherwise: left out, never logged as 0 or NaN).

It needs the trainer to log through: ``TraceMonitorCallback(...).attach(trainer)``
(which also adds it to the trainer's callbacks), as TRL's callbacks take theirs.

**Alarm.** When the valid rate falls more than ``alarm_margin`` below its baseline, one
warning names the step and the rates; with ``stop_on_alarm=True`` training stops there
(``control.should_training_stop``).  The baseline is ``baseline_valid_rate`` if given, else
the run's first logged ``trace/valid_rate`` (step 0).  A run resumed with
``train(resume_from_checkpoint=...)`` keeps it: it is read back from the checkpoint's
``state.log_history`` (:func:`logged_baseline`), so a run resumed after the drop still
alarms.

**Generations** of every measurement are written as an lm-eval samples file under
``<output_dir>/trace_monitor/step-<N>/`` (``save_generations=False`` turns this off):
``tracecollapse analyze <output_dir>/trace_monitor`` reports each step as a run, and
``tracecollapse compare`` pairs two steps.

**Several processes** (DDP through ``torchrun`` or ``accelerate launch``): only the world
main process generates, on the unwrapped model, with the same batches as a single
process; the others wait and receive its numbers (``torch.distributed`` broadcast), so
every process logs the same numbers and stops at the same step whatever the process
count; the alarm is said once, by the main process.  Sharded parameters (FSDP, DeepSpeed
ZeRO-3) are not supported: generation on one process would wait for the others forever.

Example:
    >>> cb = TraceMonitorCallback(["3+4"], ["7"], every_n_steps=50)
    >>> cb.every_n_steps, cb.alarm_margin, cb.alarm_step is None
    (50, 0.3, True)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .measure import Grader, GraderName, Prompt, TraceMeasurement, measure_traces, resolve_grader
from .writer import write_samples

__all__ = ["TraceMonitorCallback", "logged_baseline"]

logger = logging.getLogger(__name__)


def logged_baseline(log_history: Sequence[dict[str, Any]]) -> float | None:
    """The first ``trace/valid_rate`` in a Trainer's ``state.log_history`` (None if none):
    the baseline of a resumed run.

    The log history is where the baseline already is: the step-0 row this callback logged
    is saved in every checkpoint's ``trainer_state.json`` and restored by every Trainer on
    ``resume_from_checkpoint`` before ``on_train_begin``, on every process, whatever the
    arguments.  A callback state of its own (``ExportableState``) would be restored only with
    ``restore_callback_states_from_checkpoint=True`` (off by default).  A fresh ``train()``
    starts with an empty history, so it measures its own step 0.

    >>> logged_baseline([{"loss": 1.0, "step": 10}, {"trace/valid_rate": 0.9, "step": 0},
    ...                  {"trace/valid_rate": 0.1, "step": 20}])
    0.9
    >>> logged_baseline([]) is None
    True
    """
    return next((float(row["trace/valid_rate"]) for row in log_history if "trace/valid_rate" in row), None)


def _broadcast(payload: TraceMeasurement | None, is_main: bool) -> TraceMeasurement:
    """The main process's measurement (without its texts), on every process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box: list[Any] = [payload if is_main else None]
        dist.broadcast_object_list(box, src=0)
        payload = box[0]
    if payload is None:  # pragma: no cover - a non-main process without a process group
        raise RuntimeError("trace monitor: this process is not the main one and no process group is initialised")
    return payload


class TraceMonitorCallback(TrainerCallback):
    """Log trace-status rates of held-out generations during training (module docstring).

    Args:
        prompts: held-out user messages (or chat message lists); keep them few (16-64).
        golds: one gold answer per prompt, or None (then no pass@1 / rpass@1).
        every_n_steps: measure every this many optimizer steps (None: only at step 0,
            on evaluation events with ``on_evaluate`` and at the end).
        on_evaluate: also measure when the trainer evaluates.
        at_end: measure at the end of training when the last step was not measured.
        fmt, grader, max_new_tokens, batch_size, chat_template_kwargs: as for
            :func:`~lm_eval_tracecollapse.training.monitor.measure_traces`.
        alarm_margin: warn when the valid rate falls more than this below the baseline.
        stop_on_alarm: stop training at the alarm.
        baseline_valid_rate: the reference valid rate (default: the run's first logged
            measurement, also after a resume; see :func:`logged_baseline`).
        save_generations: write samples files under ``output_dir``.
        output_dir: where (default: ``<TrainingArguments.output_dir>/trace_monitor``).
        tokenizer: the tokenizer with the chat template (default: the trainer's
            ``processing_class``).
        progress: show a progress bar and print one line per measurement.

    Attributes:
        history: ``(step, TraceMeasurement)`` of every measurement (main process:
            with generations; others: the numbers only).
        alarm_step: the step at which the alarm fired, or None.
        baseline: the valid rate the alarm compares with (None before the first measurement).
    """

    def __init__(
        self,
        prompts: Sequence[Prompt],
        golds: Sequence[Any] | None = None,
        *,
        every_n_steps: int | None = 50,
        on_evaluate: bool = False,
        at_end: bool = True,
        fmt: str = "auto",
        grader: GraderName | Grader = "math",
        max_new_tokens: int = 256,
        batch_size: int = 16,
        chat_template_kwargs: dict[str, Any] | None = None,
        alarm_margin: float = 0.3,
        stop_on_alarm: bool = False,
        baseline_valid_rate: float | None = None,
        save_generations: bool = True,
        output_dir: str | os.PathLike[str] | None = None,
        tokenizer: Any = None,
        progress: bool = True,
    ) -> None:
        if not prompts:
            raise ValueError("TraceMonitorCallback: prompts is empty; pass a few held-out prompts")
        if golds is not None and len(golds) != len(prompts):
            raise ValueError(
                f"TraceMonitorCallback: {len(prompts)} prompts but {len(golds)} golds; pass one per prompt"
            )
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int)
                                          or every_n_steps < 1):  # fmt: skip
            raise ValueError(f"every_n_steps must be a positive int or None, got {every_n_steps!r}")
        if not 0.0 <= alarm_margin <= 1.0:
            raise ValueError(f"alarm_margin is a drop in valid rate, between 0 and 1; got {alarm_margin!r}")
        resolve_grader(grader)  # an unknown name fails here, not at step 0
        self.prompts, self.golds = list(prompts), None if golds is None else list(golds)
        self.every_n_steps, self.on_evaluate_too, self.at_end = every_n_steps, on_evaluate, at_end
        self.measure_kwargs: dict[str, Any] = {
            "fmt": fmt, "grader": grader, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
            "chat_template_kwargs": chat_template_kwargs,
        }  # fmt: skip
        self.alarm_margin, self.stop_on_alarm = alarm_margin, stop_on_alarm
        self.baseline_valid_rate = baseline_valid_rate
        self.save_generations, self.output_dir = save_generations, output_dir
        self.tokenizer, self.progress = tokenizer, progress
        self.trainer: Any = None
        self.history: list[tuple[int, TraceMeasurement]] = []
        self.alarm_step: int | None = None
        self.baseline: float | None = baseline_valid_rate

    def attach(self, trainer: Any) -> TraceMonitorCallback:
        """Log through ``trainer`` (and add this callback to it if not yet there); returns self.

        >>> TraceMonitorCallback(["1+1"]).trainer is None
        True
        """
        self.trainer = trainer
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)
        return self

    # -- trainer events -------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.trainer is None:
            raise RuntimeError(
                "TraceMonitorCallback is not attached to a trainer, so it cannot log: "
                "call monitor.attach(trainer) after building the trainer"
            )
        self.alarm_step, self.history = None, []
        # resumed from a checkpoint: its log history holds the run's step-0 row
        self.baseline = self.baseline_valid_rate
        if self.baseline is None:
            self.baseline = logged_baseline(state.log_history)
        return self._measure(args, state, control, kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.every_n_steps and state.global_step % self.every_n_steps == 0:
            return self._measure(args, state, control, kwargs)
        return control

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.on_evaluate_too:
            return self._measure(args, state, control, kwargs)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.at_end:
            return self._measure(args, state, control, kwargs)
        return control

    # -- measuring ------------------------------------------------------------------
    def _measure(self, args: Any, state: Any, control: Any, kwargs: dict[str, Any]) -> Any:
        step = int(state.global_step)
        if self.history and self.history[-1][0] == step:
            return control  # measured at this step already (a step that also evaluates)
        tokenizer = self.tokenizer if self.tokenizer is not None else kwargs.get("processing_class")
        if tokenizer is None:
            raise ValueError(
                "TraceMonitorCallback: the trainer has no processing_class (tokenizer); "
                "pass tokenizer=... to the callback"
            )
        is_main = bool(state.is_world_process_zero)
        payload = None
        measured: TraceMeasurement | None = None
        if is_main:
            measured = measure_traces(
                kwargs["model"], tokenizer, self.prompts, self.golds, progress=self.progress, **self.measure_kwargs
            )
            payload = replace(measured, prompts=(), responses=(), finish_reasons=(), traces=(), correct=None,
                              golds=None)  # fmt: skip
            if self.save_generations:
                root = Path(self.output_dir) if self.output_dir is not None else Path(args.output_dir) / "trace_monitor"
                write_samples(measured, root / f"step-{step}")
        numbers = _broadcast(payload, is_main)
        metrics = numbers.metrics()
        self.history.append((step, measured or numbers))
        if is_main and self.progress:
            print(f"trace monitor, step {step}: {_summary(metrics)} ({metrics['trace/eval_seconds']:.2f} s, "
                  f"{len(self.prompts)} prompts)", flush=True)  # fmt: skip
        self._log(dict(metrics), control)
        self._check_alarm(step, metrics, control, warn=is_main)
        return control

    def _log(self, metrics: dict[str, float], control: Any) -> None:
        """Log ``metrics`` as a row of their own, keeping the Trainer's own log of this step.

        ``transformers.Trainer.log`` appends the row to ``state.log_history`` and passes it to
        every callback's ``on_log`` (the ``report_to`` integrations), but its
        ``CallbackHandler.on_log`` also clears ``control.should_log``: called from
        ``on_step_end`` — which runs after ``DefaultFlowCallback`` set ``should_log`` and
        before the Trainer reads it — it would drop the Trainer's ``loss``/``grad_norm``/
        ``learning_rate`` row of that step.  So the flag is put back as it was.  The base
        class's ``log`` is called, not a subclass's: TRL's ``SFTTrainer.log`` (like its other
        trainers) moves the training metrics it has accumulated since its last row
        (``mean_token_accuracy``, ``entropy``, ``num_tokens``) into whatever row it logs and
        clears them, so through ``trainer.log`` they would land in this row instead of the
        Trainer's own.
        """
        from transformers import Trainer

        should_log = control.should_log
        if isinstance(self.trainer, Trainer):
            Trainer.log(self.trainer, metrics)
        else:  # pragma: no cover - a trainer-like object of the user's: its own log
            self.trainer.log(metrics)
        control.should_log = should_log
        if getattr(self.trainer, "control", control) is not control:  # a callback returned another control
            self.trainer.control.should_log = should_log

    def _check_alarm(self, step: int, metrics: dict[str, float], control: Any, warn: bool = True) -> None:
        """Fire the alarm once per run; every process decides (the same numbers, so the same step
        and the same stop), only the world main one (``warn``) says so."""
        vr = metrics["trace/valid_rate"]
        if self.baseline is None:
            self.baseline = vr
            return
        if self.alarm_step is not None or self.baseline - vr <= self.alarm_margin:
            return
        self.alarm_step = step
        action = "stopping training (stop_on_alarm=True)" if self.stop_on_alarm else "training goes on"
        if warn:
            logger.warning(
                "trace collapse alarm at step %d: valid-trace rate %.2f is %.2f below its baseline %.2f "
                "(alarm_margin %.2f); %s; %s",
                step, vr, self.baseline - vr, self.baseline, self.alarm_margin, _summary(metrics), action,
            )  # fmt: skip
        if self.stop_on_alarm:
            control.should_training_stop = True


def _summary(metrics: dict[str, float]) -> str:
    names = [("valid_rate", "valid"), ("empty_rate", "empty"), ("missing_rate", "missing"),
             ("truncated_rate", "truncated"), ("pass@1", "pass@1"), ("rpass@1", "rpass@1")]  # fmt: skip
    return ", ".join(f"{label} {metrics['trace/' + key]:.2f}" for key, label in names if "trace/" + key in metrics)
