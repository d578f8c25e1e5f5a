"""The training curves beside a set of runs: what the trace monitor measured while training.

Two sources hold them, both found from the runs' folders (:func:`find_curves`):

- a study's ``training_curves.json`` (``{arm title: [{"step", "valid_rate", "pass@1",
  ...}]}``, step 0 = the base; :mod:`lm_eval_tracecollapse.study.curves` writes it in the
  study's folder, above ``eval/<run>/``);
- a Trainer's ``trainer_state.json`` (its own, or its latest ``checkpoint-N/``'s), whose
  ``log_history`` holds the ``trace/*`` rows :class:`~lm_eval_tracecollapse.training.monitor.TraceMonitorCallback`
  logs (:func:`monitor_points`): one curve named by the training folder, which also holds
  the monitor's ``trace_monitor/step-N/`` runs.

Each point is read to ``{"step": int, "valid_rate": float, "pass@1": float, ...}`` (``pass@1``
NaN when the monitor had no gold answers).

Example:
    >>> history = [{"loss": 2.0, "step": 5},
    ...            {"trace/valid_rate": 1.0, "trace/pass@1": 0.9, "trace/eval_seconds": 0.4, "step": 0},
    ...            {"trace/valid_rate": 0.0, "trace/pass@1": 0.8, "trace/eval_seconds": 0.5, "step": 30}]
    >>> [(p["step"], p["valid_rate"], p["pass@1"]) for p in monitor_points(history)]
    [(0, 1.0, 0.9), (30, 0.0, 0.8)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CURVES_FILE", "Curves", "curve_source", "find_curves", "monitor_points", "read_curves"]

#: what a study writes in its folder
CURVES_FILE = "training_curves.json"
#: {arm (or training folder): [point by step]}
Curves = dict[str, list[dict[str, Any]]]

_PREFIX = "trace/"
_STATE = "trainer_state.json"
#: how far above a given folder the curves are looked for (a study's eval/<run>/ is two levels down)
_LEVELS = 2


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


def _latest_state(folder: Path) -> Path | None:
    """``folder``'s ``trainer_state.json``, or its highest ``checkpoint-N``'s (the longest log)."""
    if (folder / _STATE).is_file():
        return folder / _STATE
    steps = [(int(m.group(1)), p) for p in folder.glob(f"checkpoint-*/{_STATE}")
             if (m := re.fullmatch(r"checkpoint-(\d+)", p.parent.name))]  # fmt: skip
    return max(steps)[1] if steps else None


def curve_source(folder: Path) -> Path | None:
    """The file in ``folder`` holding training curves: a study's ``training_curves.json``, else
    a ``trainer_state.json`` whose log has trace monitor rows; None when it has neither."""
    if (folder / CURVES_FILE).is_file():
        return folder / CURVES_FILE
    state = _latest_state(folder)
    if state is None:
        return None
    try:
        history = json.loads(state.read_text(encoding="utf-8")).get("log_history", [])
    except (OSError, ValueError, AttributeError):
        return None  # not a Trainer's state: not a source
    return state if monitor_points(history) else None


def _point(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("step"), int | float):
        raise ValueError(f"{where}: a point is not an object with a step")
    if not isinstance(raw.get("valid_rate"), int | float):
        raise ValueError(f"{where}: the point at step {raw['step']} has no valid_rate")
    p1 = raw.get("pass@1")
    return {**raw, "step": int(raw["step"]), "valid_rate": float(raw["valid_rate"]),
            "pass@1": float(p1) if isinstance(p1, int | float) else math.nan}  # fmt: skip


def read_curves(path: Path) -> Curves:
    """The curves in ``path`` (:func:`curve_source`'s file), points by step.

    Raises:
        ValueError: ``path`` is not training curves (it names the file and why).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if path.name == _STATE:
        folder = path.parent.parent if path.parent.name.startswith("checkpoint-") else path.parent
        data = {folder.name: monitor_points(data.get("log_history", []) if isinstance(data, Mapping) else [])}
    if not isinstance(data, Mapping) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path}: training curves are an object of lists of points ({{arm: [{{step, ...}}]}})")
    return {str(arm): sorted((_point(p, f"{path}, {arm}") for p in points), key=lambda p: p["step"])
            for arm, points in data.items()}  # fmt: skip


def find_curves(paths: Sequence[str | Path]) -> tuple[Curves, list[Path]]:
    """The training curves of the runs under ``paths`` and the files they come from: for each
    path, the nearest folder — the path's own, or up to two above it — with a
    :func:`curve_source`.  Curves of several files are titled ``<folder>: <arm>``;
    ``({}, [])`` when there is none.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "eval" / "base").mkdir(parents=True)
    >>> _ = (root / CURVES_FILE).write_text('{"sft": [{"step": 40, "valid_rate": 0.1}, {"step": 0, "valid_rate": 1}]}')
    >>> curves, files = find_curves([root / "eval" / "base"])
    >>> [(p["step"], p["valid_rate"]) for p in curves["sft"]], files == [root / CURVES_FILE]
    ([(0, 1.0), (40, 0.1)], True)
    """
    files: list[Path] = []
    for given in map(Path, paths):
        folder = (given if given.is_dir() else given.parent).absolute()
        for where in [folder, *folder.parents][: _LEVELS + 1]:
            found = curve_source(where)
            if found is not None:
                if found not in files:
                    files.append(found)
                break
    curves: Curves = {}
    for path in files:
        titled = len(files) > 1
        for arm, points in read_curves(path).items():
            curves[f"{path.parent.name}: {arm}" if titled else arm] = points
    return curves, files
