"""Running lm-eval for the study, the probes and the demo: its public entry points, in one place.

The study evaluates checkpoints, the probes ask a model for paraphrases, the demo probes
its checkpoints; each goes through these few functions, so only :mod:`lm_eval_tracecollapse.harness`
imports lm-eval.

Example:
    >>> tm = task_manager([], include_defaults=False)
    >>> "tc_demo_easy" in tm.all_tasks
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..locations import task_yamls_dir
from . import compat
from .registry import register
from .task_index import lm_eval_entries

__all__ = ["evaluate_and_save", "generation_request", "hf_model", "load_model", "task_manager"]


def task_manager(
    include_path: Sequence[str | Path] = (),
    include_defaults: bool = True,
    metadata: Mapping[str, Any] | None = None,
    *,
    ours: Path | None = None,
) -> Any:
    """An lm-eval ``TaskManager`` over our task YAMLs (``ours``, default all of ``task_yamls/``)
    and ``include_path`` (yours, after ours), with lm-eval's own tasks unless told not to;
    each folder's index read from our cache when it is unchanged (:func:`.task_index.lm_eval_entries`)."""
    from lm_eval.tasks import TaskManager

    register()
    include: list[str | Path] = [str(ours or task_yamls_dir()), *map(str, include_path)]
    with compat.cached_index_builds(lm_eval_entries):
        return TaskManager(
            include_path=include, include_defaults=include_defaults, metadata=dict(metadata or {}) or None
        )


def evaluate_and_save(
    model: Any, tasks: list[str], tm: Any, out: Path, main_process: bool = True, **kwargs: Any
) -> dict[str, Any] | None:
    """lm-eval's ``simple_evaluate`` with samples logged, written by lm-eval's own
    ``EvaluationTracker`` under ``out/<model name>/`` (``results_*.json``,
    ``samples_<task>_*.jsonl``); the results on the main process, None elsewhere."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    res: dict[str, Any] | None = simple_evaluate(
        model=model, tasks=tasks, task_manager=tm, log_samples=True, evaluation_tracker=tracker, **kwargs
    )
    if not main_process:
        return None
    if res is None:
        raise RuntimeError(f"lm-eval returned no result on the main process for {', '.join(tasks)}")
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    for task in res["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return res


def load_model(name: str, model_args: str = "", batch_size: int | str | None = None, device: str | None = None) -> Any:
    """An lm-eval model by its registered name, built from its ``model_args`` string."""
    from lm_eval.api.registry import get_model

    register()
    try:
        cls = get_model(name)
    except ValueError as exc:
        raise ValueError(f"unknown lm-eval model {name!r}: {exc}") from None
    return cls.create_from_arg_string(model_args, {"batch_size": batch_size, "device": device})


def hf_model(**kwargs: Any) -> Any:
    """lm-eval's ``hf`` model (``HFLM``) with ``kwargs``."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(**kwargs)


def generation_request(text: str, gen: dict[str, Any], doc: dict[str, Any], idx: tuple[str, int, int]) -> Any:
    """One ``generate_until`` request (an lm-eval ``Instance``) for ``text`` with ``gen``'s settings."""
    from lm_eval.api.instance import Instance

    return Instance("generate_until", doc, (text, gen), 0, idx)
