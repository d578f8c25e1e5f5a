"""Text, Markdown, LaTeX and CSV tables and matplotlib figures for the reports.

Example:
    >>> from lm_eval_tracecollapse.report.summary import Estimate, TaskSummary
    >>> e = Estimate(0.5, 0.2, 0.8, 8)
    >>> s = TaskSummary("ckpt", "gsm8k", 8, {k: e for k in ("valid", "empty", "missing", "truncated", "answer")},
    ...                 e, e, 12.0, "exact_match")
    >>> print(paper_table([s], "csv").splitlines()[1])
    ckpt,0.500,0.500,0.500
    >>> print(analyze_text([s]).splitlines()[0])
    ckpt / gsm8k [none]: n=8 (correctness from the samples' 'exact_match')

A task with several filter pipelines gets one column group (one panel) per pipeline in
tables and figures, labelled ``task [pipeline]``; the text reports always name it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Literal, get_args

from ..metrics.at_k import is_at_k
from ..metrics.failure_kinds import ROWS
from .at_k import row_k
from .changes import RowChange
from .summary import Comparison, Estimate, TaskSummary, in_run_order

__all__ = [
    "analyze_text",
    "at_k_text",
    "change_line",
    "compare_text",
    "length_text",
    "markdown_table",
    "paper_table",
    "plot",
    "plot_curves",
    "plot_series",
]

#: what ``paper_table`` writes
TableFormat = Literal["markdown", "latex", "csv"]


def _labels(summaries: list[TaskSummary]) -> dict[tuple[str, str], str]:
    """(task, pipeline) -> its column/panel name, in first-seen order: the task alone
    when it has one pipeline, else ``task [pipeline]``."""
    keys = list(dict.fromkeys((s.task, s.pipeline) for s in summaries))
    per_task = Counter(t for t, _ in keys)
    return {(t, p): t if per_task[t] == 1 else f"{t} [{p}]" for t, p in keys}


def _size(s: TaskSummary) -> str:
    if not s.responses or s.responses == s.n:
        return f"n={s.n}"
    if s.responses % s.n == 0:
        return f"n={s.n} × {s.responses // s.n} responses"
    return f"n={s.n}, {s.responses} responses"


def _e(est: Estimate | None, digits: int = 3) -> str:
    if est is None or est.value != est.value:
        return "N/A"
    return f"{est.value:.{digits}f} [{est.lo:.{digits}f}, {est.hi:.{digits}f}]"


def analyze_text(summaries: list[TaskSummary]) -> str:
    """The ``analyze`` report: one block per run, task and filter pipeline, 95 % intervals
    in brackets (with repeats, rates are over all responses and intervals bootstrap documents)."""
    lines = []
    for s in summaries:
        source = f" (correctness from the samples' {s.correct_source!r})" if s.correct_source else " (no correctness)"
        lines.append(f"{s.run} / {s.task} [{s.pipeline}]: {_size(s)}{source}")
        lines.append(f"  pass@1   {_e(s.pass_at_1)}   Rpass@1 {_e(s.rpass_at_1)}")
        lines.append(
            "  " + "   ".join(f"{k[0].upper()}R {_e(s.rates[k])}" for k in ("valid", "empty", "missing", "truncated"))
        )
        tokens = f", {s.mean_trace_tokens:.1f} tokens" if s.mean_trace_tokens is not None else ""
        lines.append(
            f"  answer rate {_e(s.rates['answer'])}   mean trace length {s.mean_trace_chars:.0f} chars{tokens}"
        )
        if s.kinds:
            lines += _kind_lines(s)
        lines += _at_k_lines(s)
    return "\n".join(lines)


def at_k_text(s: TaskSummary, name: str) -> str:
    """One @k row of a summary as ``analyze`` prints it: value and interval, and for
    ``rpass@k``/``rmaj@k`` the documents they cover (``rpass@k_coverage``)."""
    text = _e(s.at_k.get(name))
    cover = s.at_k.get(f"rpass@{row_k(name)}_coverage") if name.startswith("r") else None
    return text if cover is None else f"{text} ({round(cover.value * cover.n)} of {cover.n} documents)"


def _at_k_lines(s: TaskSummary) -> list[str]:
    """The @k rows of a summary with repeats (:mod:`.at_k`), one line per kind, k ascending."""
    lines: dict[str, list[str]] = {}
    for name in s.at_k:
        if not name.endswith("_coverage"):
            lines.setdefault(name.partition("@")[0], []).append(f"{name} {at_k_text(s, name)}")
    return ["  " + "   ".join(parts) for parts in lines.values()]


def _kind_lines(s: TaskSummary) -> list[str]:
    """The extra rows (docs/failure-kinds.md) of one summary, laid out by their
    :data:`~..metrics.failure_kinds.ROWS` entries (label, line, separator)."""
    k, unit = s.kinds, s.length_unit
    lines: dict[int, str] = {}
    for row in ROWS:
        if row.kind == "length":
            text = length_text(k.get(f"{row.name}_{unit}"), unit)
        else:
            text = _e(k.get(row.name))
        lines[row.line] = lines.get(row.line, "  ") + f"{row.sep}{row.label} {text}"
    return [lines[n] for n in sorted(lines)]


def length_text(est: Estimate | None, unit: str) -> str:
    """A mean length with its interval, saying why it has none or no width.

    >>> length_text(Estimate(5.0, 5.0, 5.0, 3), "words")
    '5.0 words [5.0, 5.0] (no spread between documents)'
    >>> length_text(Estimate(4.0, float("nan"), float("nan"), 1), "words")
    '4.0 words (one document: no interval)'
    """
    if est is None:
        return "N/A"
    if est.lo != est.lo:
        return f"{est.value:.1f} {unit} (one document: no interval)"
    same = " (no spread between documents)" if est.lo == est.hi else ""  # mean_interval: zero variance
    return f"{est.value:.1f} {unit} [{est.lo:.1f}, {est.hi:.1f}]{same}"


def _v(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.3f}"


def _p(row: RowChange) -> str:
    if row.p is None:
        return ""
    value = "<0.001" if row.test == "bootstrap" and row.p < 0.001 else f"={row.p:.3g}"
    return f"   {row.test} p{value}"


def change_line(row: RowChange) -> str:
    """One row of ``compare``: values, Δ with its 95 % interval, the paired test.

    >>> from .changes import RowChange
    >>> change_line(RowChange("valid_rate", "VR", 0.5, 0.0, -0.75, -0.25, 0.0078125, "McNemar"))
    '  VR                       0.500 -> 0.000   Δ -0.500 [-0.750, -0.250]   McNemar p=0.00781'
    """
    head = f"  {row.label:<24} {_v(row.base)} -> {_v(row.new)}"
    if row.delta is None:
        side = "base" if row.base is None else "fine-tuned"
        if is_at_k(row.metric):
            valid = "valid " if row.metric.startswith("r") else ""
            return f"{head}     Δ n/a (no document with {row_k(row.metric)} {valid}responses in the {side} run)"
        status = "valid" if row.metric == "rpass@1" else row.metric.removeprefix("pass@1_")
        return f"{head}     Δ n/a (no {status} response in the {side} run)"
    return f"{head}   Δ {row.delta:+.3f} [{row.lo:+.3f}, {row.hi:+.3f}]{_p(row)}"


def compare_text(comparisons: list[Comparison]) -> str:
    """The ``compare`` report: every row with Δ, its 95 % paired interval and a paired test
    (Newcombe's interval and McNemar's exact test where each document has one 0/1 outcome,
    else the paired bootstrap's interval and p), then the status transitions."""

    def count(value: float) -> str:
        return f"{value:>9}" if float(value).is_integer() else f"{value:>9.2f}"

    lines = []
    for c in comparisons:
        lines.append(f"{c.task} [{c.pipeline}]: {c.pairs} paired documents")
        lines += [change_line(row) for row in c.changes.values() if row.base is not None or row.new is not None]
        statuses = list(c.transitions)
        lines.append("  transitions (rows: base, columns: fine-tuned): " + " ".join(f"{s:>9}" for s in statuses))
        for s in statuses:
            lines.append(f"  {s:>47} " + " ".join(count(c.transitions[s][t]) for t in statuses))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]], right: int = 0) -> str:
    """A Markdown table (the one table renderer of ``report`` and the demo): ``header``, then
    ``rows``; the last ``right`` columns right-aligned.

    >>> print(markdown_table(["run", "VR"], [["base", "1.00"]], right=1))
    | run | VR |
    |---|---:|
    | base | 1.00 |
    """
    rule = "|" + "---|" * (len(header) - right) + "---:|" * right
    return "\n".join(["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(r) + " |" for r in rows)])


def paper_table(summaries: list[TaskSummary], table_format: TableFormat = "markdown") -> str:
    """Runs as rows, one pass@1 / Rpass@1 / VR column group per task (the paper's layout),
    and per filter pipeline when a task has several (``task [pipeline]``)."""
    if table_format not in get_args(TableFormat):
        raise ValueError(f"table format must be markdown, latex or csv, got {table_format!r}")
    labels = _labels(summaries)
    keys = list(labels)
    tasks = list(labels.values())
    runs = list(dict.fromkeys(s.run for s in summaries))
    cell = {(s.run, s.task, s.pipeline): s for s in summaries}

    def vals(run: str) -> list[str]:
        out = []
        for t, pipe in keys:
            s = cell.get((run, t, pipe))
            for est in (s.pass_at_1, s.rpass_at_1, s.rates["valid"]) if s else (None, None, None):
                out.append("N/A" if est is None or est.value != est.value else f"{est.value:.3f}")
        return out

    sub = ["pass@1", "Rpass@1", "VR"]
    if table_format == "csv":
        columns = ["run"] + [f"{t} {m}" for t in tasks for m in sub]
        return "\n".join([",".join(columns)] + [",".join([r, *vals(r)]) for r in runs])
    if table_format == "markdown":
        header = ["run", *(f"{t} {m}" for t in tasks for m in sub)]
        return markdown_table(header, [[r, *vals(r)] for r in runs], right=3 * len(tasks))

    def esc(x: str) -> str:
        return x.replace("_", r"\_")

    cols = "l" + "rrr" * len(tasks)
    top = " & ".join(["", *(rf"\multicolumn{{3}}{{c}}{{{esc(t)}}}" for t in tasks)]) + r" \\"
    mid = " & ".join(["run", *(m for _ in tasks for m in sub)]) + r" \\"
    body = [" & ".join([esc(r), *vals(r)]) + r" \\" for r in runs]
    return "\n".join([rf"\begin{{tabular}}{{{cols}}}", r"\toprule", top, mid, r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}"])  # fmt: skip


_STEP = re.compile(r"(?:step|checkpoint|ckpt|iter)[-_]?(\d+)", re.IGNORECASE)


def plot(summaries: list[TaskSummary], path: str | Path) -> Path:
    """Stacked status bars per run (one panel per task and filter pipeline); plus VR and pass@1 over training
    steps when run names carry a step (``checkpoint-500``, ``step_1000``).  PNG or SVG by suffix
    (``.png`` added when there is none); returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not summaries:
        raise ValueError("nothing to plot: no usable sample line")
    path = Path(path)
    if not path.suffix:  # matplotlib would save to "<path>.png": say so, by naming it
        path = path.with_name(path.name + ".png")
    summaries = in_run_order(summaries)  # step-20 before step-100, as analyze lists them
    labels = _labels(summaries)
    steps = {s.run: int(m.group(1)) for s in summaries if (m := _STEP.search(s.run))}
    by_steps = len(steps) == len({s.run for s in summaries}) and len(steps) > 1
    fig, axes = plt.subplots(2 if by_steps else 1, len(labels), figsize=(5 * len(labels), 8 if by_steps else 4),
                             squeeze=False)  # fmt: skip
    colors = {"valid": "#2a9d8f", "empty": "#e9c46a", "missing": "#e76f51", "truncated": "#8d99ae"}
    for j, ((task, pipe), title) in enumerate(labels.items()):
        rows = [s for s in summaries if (s.task, s.pipeline) == (task, pipe)]
        ax = axes[0][j]
        left = [0.0] * len(rows)
        for status, color in colors.items():
            vals = [s.rates[status].value for s in rows]
            ax.barh([s.run for s in rows], vals, left=left, color=color, label=status)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.plot([s.pass_at_1.value if s.pass_at_1 else float("nan") for s in rows], [s.run for s in rows], "ko",
                label="pass@1")  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_title(title)
        if by_steps:
            ordered = sorted(rows, key=lambda s: steps[s.run])
            ax2 = axes[1][j]
            xs = [steps[s.run] for s in ordered]
            ax2.plot(xs, [s.rates["valid"].value for s in ordered], "o-", color=colors["valid"], label="VR")
            ax2.plot(xs, [s.pass_at_1.value if s.pass_at_1 else float("nan") for s in ordered], "s--", color="k",
                     label="pass@1")  # fmt: skip
            ax2.set_xlabel("training step")
            ax2.set_ylim(0, 1)
            ax2.legend()
    # the legend below the panels, not over the bars
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.07 if not by_steps else 0.035, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


#: a line of :func:`plot_series`: (step, value) points
Series = list[tuple[float, float]]


def plot_series(
    panels: dict[str, dict[str, Series]],
    path: str | Path,
    *,
    colors: dict[str, str] | None = None,
    faint: frozenset[str] = frozenset(),
    xlabel: str = "training step",
    title: str = "",
) -> Path:
    """Lines over training steps, one panel per key of ``panels`` (rates: y from 0 to 1):
    the one figure code of the monitor's curves, the demo's and the study's.  A line
    whose label is in ``faint`` is drawn thin and unlabelled (a seed behind its mean);
    ``colors`` maps a label to its colour.  PNG or SVG by suffix (in an SVG, the i-th line
    of the j-th panel is the group ``series-j-i``); returns the path.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "curves.svg"
    >>> plot_series({"valid-trace rate": {"sft": [(0, 1.0), (20, 0.0)]}}, out).suffix
    '.svg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("nothing to plot: no series")
    path = Path(path)
    colors = colors or {}
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.8 * len(panels), 6.0), 4.2), squeeze=False,
                             sharey=True)  # fmt: skip
    for j, (ax, (name, lines)) in enumerate(zip(axes[0], panels.items(), strict=True)):
        for i, (label, points) in enumerate(lines.items()):
            ordered = sorted(points)
            xs, ys = [x for x, _ in ordered], [y for _, y in ordered]
            thin = label in faint
            ax.plot(xs, ys, "-" if thin else "o-", color=colors.get(label), linewidth=0.8 if thin else 1.6,
                    alpha=0.3 if thin else 1.0, markersize=3, label=None if thin else label,
                    gid=f"series-{j}-{i}")  # fmt: skip
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if title:
        fig.suptitle(title)
    fig.legend(handles, labels, loc="lower center", ncol=min(max(len(labels), 1), 5), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(curves: dict[str, list[dict[str, float]]], path: str | Path, title: str = "") -> Path:
    """Valid-trace rate and pass@1 over training steps, one line per run (two panels), from
    ``{run: [{"step", "valid_rate", "pass@1"}, ...]}`` (the trace monitor's points); PNG or SVG by suffix."""
    panels = {
        label: {run: [(p["step"], p[key]) for p in points] for run, points in curves.items()}
        for key, label in (("valid_rate", "valid-trace rate"), ("pass@1", "pass@1"))
    }
    return plot_series(panels, path, xlabel="fine-tuning step (0 = base)", title=title)
