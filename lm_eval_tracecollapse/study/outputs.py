"""The study's outputs, from lm-eval's logged samples through ``report/``'s code.

- ``table.md`` / ``table.tex`` / ``table.csv``: the base and each arm's final
  checkpoint, rendered by :func:`~lm_eval_tracecollapse.report.paper_table` (what
  ``tracecollapse table`` prints); with several seeds one row per strategy, its final
  checkpoints' mean ± spread over the seeds (:mod:`.seeds`); ``table_all.md``: every checkpoint;
- ``analyze.txt``: ``tracecollapse analyze``'s report of every evaluation;
- ``compare.txt``: ``tracecollapse compare`` of each arm's final checkpoint vs the base;
- ``figures/status.png``: the status bars and pass@1 of the base and the final checkpoints;
- ``figures/<task>.png``: valid rate, pass@1 and Rpass@1 over training steps, one
  panel per strategy (seeds: thin lines, their mean: thick), the base at step 0
  (:func:`plot_over_steps`; ``report.plot`` draws VR and pass@1 of one series only);
- with ``monitor:``, ``training_curves.json`` (``{arm title: [{"step", "valid_rate",
  "pass@1", ...}]}``, step 0 = the base) and ``figures/training_curves.png``: what the
  trace monitor measured while training (:mod:`.curves`);
- ``report.html``: the one-file HTML report of every evaluation (``tracecollapse report``),
  with the training curves.

Example:
    >>> from lm_eval_tracecollapse.report.summary import Estimate, TaskSummary
    >>> e = Estimate(0.5, 0.2, 0.8, 8)
    >>> s = TaskSummary("mask_seed1_step2", "t", 8, dict.fromkeys(("valid", "empty", "missing", "truncated",
    ...                 "answer"), e), e, e, 1.0, "exact_match", pipeline="answer")
    >>> _series([s], {"mask_seed1_step2": ("mask", 1, 2)})
    {('t', 'answer'): {'mask': {1: [(2, 0.5, 0.5, 0.5)]}}}
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from .. import report
from ..report.render import plot_curves
from ..report.summary import TaskSummary
from ._io import atomic_json, is_done
from .config import StudyConfig, arms
from .curves import training_curves
from .evaluate import Evaluation
from .seeds import seed_table

__all__ = ["plot_over_steps", "write_outputs"]

_METRICS = (("valid", "VR", "#2a9d8f", "o-"), ("pass", "pass@1", "k", "s-"), ("rpass", "Rpass@1", "#e76f51", "^-"))


def _value(s: TaskSummary, metric: str) -> float:
    est = s.rates["valid"] if metric == "valid" else s.pass_at_1 if metric == "pass" else s.rpass_at_1
    return est.value if est is not None else math.nan


def _series(
    summaries: list[TaskSummary], where: dict[str, tuple[str, int, int]]
) -> dict[tuple[str, str], dict[str, dict[int, list[tuple[int, float, float, float]]]]]:
    """(task, pipeline) -> strategy -> seed -> [(step, VR, pass@1, Rpass@1)] by step;
    ``where`` maps a run name to (strategy, seed, step)."""
    out: dict[tuple[str, str], dict[str, dict[int, list[tuple[int, float, float, float]]]]] = {}
    for s in summaries:
        if s.run not in where:
            continue
        strategy, seed, step = where[s.run]
        point = (step, *(_value(s, m) for m, *_ in _METRICS))
        out.setdefault((s.task, s.pipeline), {}).setdefault(strategy, {}).setdefault(seed, []).append(point)  # type: ignore[arg-type]
    for by_strategy in out.values():
        for by_seed in by_strategy.values():
            for points in by_seed.values():
                points.sort()
    return out


def plot_over_steps(
    summaries: list[TaskSummary], where: dict[str, tuple[str, int, int]], base: str, folder: Path
) -> list[Path]:
    """One PNG per task (and filter pipeline): a panel per strategy with VR, pass@1 and
    Rpass@1 against the training step (seeds thin, their mean thick; the ``base`` run is
    every seed's step 0), drawn by :func:`~lm_eval_tracecollapse.report.render.plot_series`."""
    from ..report.render import plot_series

    base_rows = {(s.task, s.pipeline): s for s in summaries if s.run == base}
    colors = {label: color for _, label, color, _ in _METRICS}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for (task, pipe), by_strategy in _series(summaries, where).items():
        start = base_rows.get((task, pipe))
        panels: dict[str, dict[str, list[tuple[float, float]]]] = {}
        faint: set[str] = set()
        for strategy, by_seed in by_strategy.items():
            lines: dict[str, list[tuple[float, float]]] = {}
            for j, (metric, label, color, _) in enumerate(_METRICS):
                runs = {}
                for seed, points in by_seed.items():
                    xy = [(float(p[0]), p[1 + j]) for p in points]
                    runs[seed] = ([(0.0, _value(start, metric))] if start is not None else []) + xy
                    if len(by_seed) > 1:
                        lines[f"{label} seed {seed}"] = runs[seed]
                        faint.add(f"{label} seed {seed}")
                        colors[f"{label} seed {seed}"] = color
                steps = sorted({x for xy in runs.values() for x, _ in xy})
                lines[label] = [(x, _mean([y for xy in runs.values() for x2, y in xy if x2 == x])) for x in steps]
            seeds = len(by_seed)
            panels[f"{strategy} ({seeds} seed{'s' if seeds > 1 else ''})"] = lines
        stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", task if pipe in ("none", "answer") else f"{task}_{pipe}")
        title = task if pipe in ("none", "answer") else f"{task} [{pipe}]"
        written.append(plot_series(panels, folder / f"{stem}.png", colors=colors, faint=frozenset(faint), title=title))
    return written


def _mean(values: list[float]) -> float:
    real = [v for v in values if v == v]
    return sum(real) / len(real) if real else math.nan


def _seed_groups(cfg: StudyConfig, finals: dict[str, Evaluation]) -> dict[str, list[str]] | None:
    """Row name -> the final checkpoints it averages (the base; each strategy over its seeds),
    or None with one seed."""
    if len(cfg.training.seeds) < 2:
        return None
    groups = {"base": ["base"]}
    for spec in cfg.strategies:
        labels = [finals[a.name].label for a in arms(cfg) if a.strategy.name == spec.name and a.name in finals]
        if labels:
            groups[f"{spec.name} ({len(labels)} seed{'s' if len(labels) > 1 else ''})"] = labels
    return groups


def write_outputs(cfg: StudyConfig, evaluations: list[Evaluation], workers: int | None = None) -> dict[str, Any]:
    """Write the tables, reports and figures under ``<out>``; returns
    ``{"summaries", "markdown", "files", "curves"}``.  Main process only."""
    out = cfg.out
    evaluations = [ev for ev in evaluations if is_done(out / "eval" / ev.label)]
    if not any(ev.arm is None for ev in evaluations):
        raise ValueError(f"{out / 'eval' / 'base'} is not evaluated yet: run the evaluate stage first")
    folders: list[str | Path] = [out / "eval" / ev.label for ev in evaluations]
    summaries, problems = report.analyze(folders, workers=workers or (1 if len(folders) < 8 else None))
    if problems.skipped:
        raise ValueError(f"unreadable sample lines in the study's own output: {problems.examples}")
    by_arm: dict[str, list[Evaluation]] = defaultdict(list)
    for ev in evaluations:
        if ev.arm is not None:
            by_arm[ev.arm].append(ev)
    finals = {arm: max(evs, key=lambda e: e.step) for arm, evs in by_arm.items()}
    headline = {"base", *(ev.label for ev in finals.values())}
    head = [s for s in summaries if s.run in headline]
    files: dict[str, Path] = {}
    groups = _seed_groups(cfg, finals)
    if groups is None:  # one seed: each final checkpoint a row
        markdown, latex, csv = (report.paper_table(head, fmt) for fmt in ("markdown", "latex", "csv"))
    else:  # several: each strategy a row, mean ± spread over its seeds
        markdown, latex, csv = (seed_table(head, groups, fmt) for fmt in ("markdown", "latex", "csv"))
    for name, text in (
        ("table.md", markdown),
        ("table.tex", latex),
        ("table.csv", csv),
        ("table_all.md", report.paper_table(summaries, "markdown")),
        ("analyze.txt", report.analyze_text(summaries)),
    ):
        (out / name).write_text(text + "\n", encoding="utf-8")
        files[name] = out / name
    from ..report.html import read_browser_data, write_page

    curves = training_curves(cfg)
    if curves:  # the trace monitor's points while training (monitor: in the config)
        atomic_json(out / "training_curves.json", curves)
        files["training_curves.json"] = out / "training_curves.json"
    # the HTML report (its samples read once, with the curves) and compare.txt share its comparisons with the base
    data, _ = read_browser_data(folders, base="base")
    sources = [out / "training_curves.json"] if curves else []
    files["report.html"], shown = write_page(data, out / "report.html", summaries, curves=curves, curve_sources=sources)
    vs_base = {run: comparisons for _, run, comparisons in shown}
    blocks = [f"## {final.label} vs base\n{report.compare_text(vs_base[final.label])}" for final in finals.values()]
    (out / "compare.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    files["compare.txt"] = out / "compare.txt"
    names = {a.name: a for a in arms(cfg)}
    where = {ev.label: (names[ev.arm].strategy.name, names[ev.arm].seed, ev.step)
             for ev in evaluations if ev.arm is not None and ev.arm in names}  # fmt: skip
    for path in plot_over_steps(summaries, where, "base", out / "figures"):
        files[f"figures/{path.name}"] = path
    files["figures/status.png"] = report.plot(head, out / "figures" / "status.png")  # base and final checkpoints
    if curves:
        path = plot_curves(curves, out / "figures" / "training_curves.png", title="trace monitor, held-out prompts")
        files["figures/training_curves.png"] = path
    return {"summaries": summaries, "markdown": markdown, "files": files, "curves": curves}
