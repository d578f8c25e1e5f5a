"""The paper's table over seeds: each strategy's final checkpoints as mean ± spread.

With several ``training.seeds`` the study's ``table.md`` / ``table.tex`` / ``table.csv`` hold
the base and one row per strategy: pass@1, Rpass@1 and VR of its final checkpoints averaged
over the seeds, ± their sample standard deviation (``n - 1``; an undefined Rpass@1 of a seed,
no valid trace, is left out of its mean and said by the seed count of the cell); the
per-seed rows stay in ``table_all.md``.  With one seed the table is
:func:`~lm_eval_tracecollapse.report.paper_table`'s, unchanged.

Example:
    >>> mean_spread([0.5, 1.0])
    (0.75, 0.3535533905932738, 2)
    >>> cell(*mean_spread([0.5, 0.7])), cell(*mean_spread([0.25])), cell(*mean_spread([]))
    ('0.600 ± 0.141', '0.250', 'N/A')
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from ..report.render import TableFormat, markdown_table
from ..report.summary import TaskSummary

__all__ = ["cell", "mean_spread", "seed_table"]

_METRICS = ("pass@1", "Rpass@1", "VR")


def mean_spread(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, count) of the defined ``values`` (NaN left out;
    spread 0 for one value, mean NaN for none)."""
    real = [v for v in values if v == v]
    if not real:
        return math.nan, math.nan, 0
    return statistics.fmean(real), statistics.stdev(real) if len(real) > 1 else 0.0, len(real)


def cell(mean: float, spread: float, n: int, seeds: int | None = None, latex: bool = False) -> str:
    """``mean ± spread`` (3 decimals; the mean alone for one value, ``N/A`` for none), and the
    number of seeds it averages when fewer than ``seeds`` had a defined value."""
    if n == 0:
        return "N/A"
    pm = r" $\pm$ " if latex else " ± "
    text = f"{mean:.3f}" if n == 1 and (seeds or 1) == 1 else f"{mean:.3f}{pm}{spread:.3f}"
    return text if seeds is None or n == seeds else f"{text} ({n} of {seeds} seeds)"


def _value(s: TaskSummary | None, metric: str) -> float:
    if s is None:
        return math.nan
    est = {"pass@1": s.pass_at_1, "Rpass@1": s.rpass_at_1, "VR": s.rates["valid"]}[metric]
    return est.value if est is not None else math.nan


def seed_table(
    summaries: list[TaskSummary], groups: Mapping[str, Sequence[str]], table_format: TableFormat = "markdown"
) -> str:
    """Rows of ``groups`` (row name -> the runs it averages: ``{"base": ["base"], "mask (2 seeds)":
    ["mask_seed1_step40", "mask_seed2_step40"]}``), a pass@1 / Rpass@1 / VR column group per task
    (and filter pipeline, ``task [pipeline]``, when a task has several), each cell mean ± spread."""
    keys = list(dict.fromkeys((s.task, s.pipeline) for s in summaries))
    per_task = {t: sum(1 for k in keys if k[0] == t) for t, _ in keys}
    labels = [t if per_task[t] == 1 else f"{t} [{p}]" for t, p in keys]
    by = {(s.run, s.task, s.pipeline): s for s in summaries}
    latex = table_format == "latex"
    rows, stats = [], []
    for name, runs in groups.items():
        row, nums = [name], []
        for task, pipe in keys:
            for metric in _METRICS:
                m = mean_spread([_value(by.get((run, task, pipe)), metric) for run in runs])
                row.append(cell(*m, seeds=len(runs), latex=latex))
                nums += [m[0], m[1]]
        rows.append(row)
        stats.append([name, *("" if v != v else f"{v:.6f}" for v in nums)])
    if table_format == "csv":
        header = ["run", *(f"{t} {m}{sd}" for t in labels for m in _METRICS for sd in ("", " sd"))]
        return "\n".join(",".join(r) for r in [header, *stats])
    if table_format == "markdown":
        header = ["run", *(f"{t} {m}" for t in labels for m in _METRICS)]
        return markdown_table(header, rows, right=3 * len(labels))
    if table_format != "latex":
        raise ValueError(f"table format must be markdown, latex or csv, got {table_format!r}")
    esc = str.maketrans({"_": r"\_"})
    top = " & ".join(["", *(rf"\multicolumn{{3}}{{c}}{{{t.translate(esc)}}}" for t in labels)]) + r" \\"
    mid = " & ".join(["run", *(m for _ in labels for m in _METRICS)]) + r" \\"
    body = [" & ".join([r[0].translate(esc), *r[1:]]) + r" \\" for r in rows]
    return "\n".join([rf"\begin{{tabular}}{{l{'rrr' * len(labels)}}}", r"\toprule", top, mid, r"\midrule", *body,
                      r"\bottomrule", r"\end{tabular}"])  # fmt: skip
