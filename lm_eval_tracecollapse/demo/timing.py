"""The demo's run time, measured by the study itself: the one place the docs take it from.

:func:`run_time` reads the study's ``run_log.jsonl`` (each event with its ``time``) and the
trace monitor's curves (each point with the ``seconds`` it took) into the figures
:func:`~.results.summarize` keeps in ``results.json`` and :func:`time_line` writes into the
demo's generated block of ``docs/demo.md``.  No page types its own timing
(``tests/test_docs.py`` checks it).

Example:
    >>> log = [{"time": 0.0, "event": "start"}, {"time": 80.0, "event": "train_start", "arm": "a"},
    ...        {"time": 105.0, "event": "train_done", "arm": "a"}, {"time": 107.0, "event": "evaluate"},
    ...        {"time": 108.5, "event": "evaluate"}, {"time": 110.0, "event": "report"}]
    >>> t = run_time(log, {"a": [{"step": 0, "seconds": 0.2}, {"step": 40, "seconds": 0.3}]})
    >>> t["wall"], t["base"], t["arms"], t["evaluations"], t["report"], t["monitor"], t["cpu"]
    (110.0, 80.0, [25.0], [2.0, 1.5], 1.5, [0.2, 0.3], None)
    >>> time_line(t, threads=2)[:75]
    'Run time of this study (its `run_log.jsonl`, torch on 2 threads): **110 s**'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["run_time", "time_line"]


def _last_trained(log: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The events of the study's last run that trained (from its ``start`` to its ``report``);
    [] when no run both trained and reported (a warm run only re-reads)."""
    starts = [i for i, e in enumerate(log) if e.get("event") == "start"]
    for i, begin in reversed(list(enumerate(starts))):
        end = starts[i + 1] if i + 1 < len(starts) else len(log)
        events = list(log[begin:end])
        kinds = [e.get("event") for e in events]
        if "train_start" in kinds and "report" in kinds:
            return events[: kinds.index("report") + 1]
    return []


def run_time(log: Sequence[Mapping[str, Any]], curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Seconds of the study's last training run: ``wall`` (start to report), ``base`` (until
    the first arm starts training: the base built and trained), each arm's training (``arms``),
    each lm-eval evaluation (``evaluations``: from the event before it), the ``report``, and the
    trace monitor's fastest and slowest measurement (``monitor``); {} without such a run."""
    events = _last_trained(log)
    if not events:
        return {}
    start = {e["arm"]: e["time"] for e in events if e.get("event") == "train_start"}
    times = [float(e["time"]) for e in events]
    evaluations = [times[i] - times[i - 1] for i, e in enumerate(events) if e.get("event") == "evaluate" and i]
    seconds = [float(p["seconds"]) for points in curves.values() for p in points if p.get("seconds") is not None]
    return {
        "wall": times[-1] - times[0],
        "base": next(float(e["time"]) for e in events if e.get("event") == "train_start") - times[0],
        "arms": [float(e["time"]) - start[e["arm"]] for e in events if e.get("event") == "train_done"],
        "evaluations": evaluations,
        "report": times[-1] - times[-2],
        "monitor": [min(seconds), max(seconds)] if seconds else None,
        "cpu": events[-1].get("cpu"),  # the study process's CPU seconds (logged since issue 36)
    }


def _span(values: Sequence[float], digits: int = 0) -> str:
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return f"{lo} s" if lo == hi else f"{lo}–{hi} s"


def time_line(t: Mapping[str, Any], threads: int) -> str:
    """The block's sentence on the run time (:func:`run_time`'s figures)."""
    minutes, secs = divmod(round(t["wall"]), 60)
    monitor = f" (its trace-monitor measurements {_span(t['monitor'], 1)} each)" if t.get("monitor") else ""
    cpu = f", {t['cpu']:.0f} s of CPU" if t.get("cpu") is not None else ""
    return (f"Run time of this study (its `run_log.jsonl`, torch on {threads} threads): **{t['wall']:.0f} s** wall "
            f"({minutes} min {secs} s{cpu}) from a cold start — the base built and trained in {t['base']:.0f} s, each "
            f"of the {len(t['arms'])} fine-tuning arms in {_span(t['arms'])}{monitor}, each of the "
            f"{len(t['evaluations'])} lm-eval evaluations in {_span(t['evaluations'])}, the report in "
            f"{t['report']:.0f} s; it depends on the machine and on what else runs on it.")  # fmt: skip
