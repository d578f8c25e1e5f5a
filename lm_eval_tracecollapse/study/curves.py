"""The collapse curves a study's trace monitor measured while each arm trained.

With a ``monitor:`` key, :class:`~lm_eval_tracecollapse.training.monitor.TraceMonitorCallback`
logs ``trace/*`` into the Trainer's ``log_history`` at step 0 (the base) and every
``every_n_steps``.  When an arm finishes, :func:`write_arm_curve` keeps those points as
``train/<arm>/curve.json`` (a resumed arm's history comes back with its checkpoint, so
the curve is whole); :func:`training_curves` gathers every arm's curve under its
``title`` (``"<title> seed<N>"`` when the study has several seeds), which the study
writes as ``training_curves.json``, draws as ``figures/training_curves.png`` and shows in
``report.html``.  (:func:`monitor_points` is :mod:`lm_eval_tracecollapse.report.curves`'s,
which also finds these curves for ``tracecollapse report``.)

Example:
    >>> import tempfile
    >>> arm = Path(tempfile.mkdtemp())
    >>> write_arm_curve(arm, [{"trace/valid_rate": 1.0, "step": 0}]).name, write_arm_curve(arm, [{"loss": 2.0}])
    ('curve.json', None)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..report.curves import monitor_points
from ._io import atomic_json
from .config import StudyConfig, arms

__all__ = ["CURVE", "monitor_points", "training_curves", "write_arm_curve"]

CURVE = "curve.json"


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
