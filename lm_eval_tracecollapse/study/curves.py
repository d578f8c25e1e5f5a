"""The collapse curves a study's trace monitor measured while each arm trained.

With a ``monitor:`` key, :class:`~lm_eval_tracecollapse.training.monitor.TraceMonitorCallback`
logs ``trace/*`` into the Trainer's ``log_history`` at step 0 (the base) and every
``every_n_steps``.  When an arm finishes, :func:`write_arm_curve` keeps those points as
``train/<arm>/curve.json`` (a resumed arm's history comes back with its checkpoint, so
the curve is whole); :func:`training_curves` gathers every arm's curve under its
``title`` (``"<title> seed<N>"`` when the study has several seeds), which the study
writes as ``training_curves.json`` and draws as ``figures/training_curves.png``.

Example:
    >>> history = [{"loss": 2.0, "step": 5},
    ...            {"trace/valid_rate": 1.0, "trace/pass@1": 0.9, "trace/eval_seconds": 0.4, "step": 0},
    ...            {"trace/valid_rate": 0.0, "trace/pass@1": 0.8, "trace/eval_seconds": 0.5, "step": 30}]
    >>> [(p["step"], p["valid_rate"], p["pass@1"]) for p in monitor_points(history)]
    [(0, 1.0, 0.9), (30, 0.0, 0.8)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._io import atomic_json
from .config import StudyConfig, arms

__all__ = ["CURVE", "monitor_points", "training_curves", "write_arm_curve"]

CURVE = "curve.json"
_PREFIX = "trace/"


def monitor_points(log_history: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The trace monitor's entries of a Trainer ``log_history``, ``trace/`` dropped from
    their keys (``eval_seconds`` becomes ``seconds``), one per step in step order."""
    by_step: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        if f"{_PREFIX}valid_rate" not in entry:
            continue
        point: dict[str, Any] = {"step": int(entry["step"])}
        for key, value in entry.items():
            if key.startswith(_PREFIX):
                name = key.removeprefix(_PREFIX)
                point["seconds" if name == "eval_seconds" else name] = value
        by_step[point["step"]] = point  # a resumed run may log a step twice: the later one counts
    return [by_step[s] for s in sorted(by_step)]


def write_arm_curve(folder: Path, log_history: Iterable[Mapping[str, Any]]) -> Path | None:
    """``folder/curve.json`` from the arm's log history (None: nothing monitored)."""
    points = monitor_points(log_history)
    if not points:
        return None
    atomic_json(folder / CURVE, points)
    return folder / CURVE


def training_curves(cfg: StudyConfig) -> dict[str, list[dict[str, Any]]]:
    """{arm title: its curve} for every arm of ``cfg`` whose training wrote one."""
    several = len(cfg.training.seeds) > 1
    curves = {}
    for arm in arms(cfg):
        path = cfg.out / "train" / arm.name / CURVE
        if path.is_file():
            title = f"{arm.strategy.display} seed{arm.seed}" if several else arm.strategy.display
            curves[title] = json.loads(path.read_text(encoding="utf-8"))
    return curves
