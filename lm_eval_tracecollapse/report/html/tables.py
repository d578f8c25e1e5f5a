"""The page's tables, as one small table model rendered to HTML by one function.

Cells are formatted by the report's own functions — :func:`..render._e` (value and
95 % interval, as ``analyze`` prints them), :func:`..render.paper_table` (the paper's
table, its Markdown parsed into cells), and ``compare``'s formats — so the page shows
the very numbers the command line prints; nothing is recomputed here.

Example:
    >>> from lm_eval_tracecollapse.report.summary import Estimate, TaskSummary
    >>> e = Estimate(0.5, 0.2, 0.8, 8)
    >>> s = TaskSummary("ckpt", "gsm8k", 8, {k: e for k in ("valid", "empty", "missing", "truncated", "answer")},
    ...                 e, e, 12.0, "exact_match")
    >>> summary_table([s]).rows[0][4]
    '0.500 [0.200, 0.800]'
    >>> paper_html([s]).rows
    [['ckpt', '0.500', '0.500', '0.500']]
    >>> "<th>run</th>" in to_html(paper_html([s]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..render import _e, _size, paper_table
from ..summary import STATUSES, Comparison, TaskSummary

__all__ = ["SUMMARY_HEAD", "Table", "compare_tables", "count_text", "paper_html", "summary_table", "to_html"]

SUMMARY_HEAD = ["run", "task", "pipeline", "n", "pass@1", "Rpass@1", "VR", "ER", "MR", "TR", "answer rate"]


@dataclass(frozen=True)
class Table:
    """Header and rows of text cells; ``keys`` (one per row) become ``data-key``."""

    id: str
    head: list[str]
    rows: list[list[str]]
    keys: list[str] | None = None
    caption: str = ""


def to_html(table: Table) -> str:
    """The table as HTML; every cell carries ``data-col`` (its column's header)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.head)
    body = []
    for i, row in enumerate(table.rows):
        key = f' data-key="{escape(table.keys[i])}"' if table.keys else ""
        cells = "".join(f'<td data-col="{escape(h)}">{escape(c)}</td>' for h, c in zip(table.head, row, strict=True))
        body.append(f"<tr{key}>{cells}</tr>")
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return (f'<table id="{escape(table.id)}" class="tc-table">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def summary_table(summaries: list[TaskSummary]) -> Table:
    """``analyze``'s numbers, one row per run × task × filter pipeline; row keys ``run|task|pipeline``."""
    rows = [
        [
            s.run,
            s.task,
            s.pipeline,
            _size(s).removeprefix("n="),
            _e(s.pass_at_1),
            _e(s.rpass_at_1),
            *(_e(s.rates[k]) for k in STATUSES),
            _e(s.rates["answer"]),
        ]
        for s in summaries
    ]
    keys = [f"{s.run}|{s.task}|{s.pipeline}" for s in summaries]
    return Table("tc-summary", SUMMARY_HEAD, rows, keys, "pass@1, Rpass@1 and trace rates, 95 % intervals")


def paper_html(summaries: list[TaskSummary]) -> Table:
    """:func:`..render.paper_table`'s Markdown as a table (runs × pass@1 / Rpass@1 / VR per task)."""
    lines = paper_table(summaries, "markdown").splitlines()

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    rows = [cells(line) for line in lines[2:]]
    return Table("tc-paper", cells(lines[0]), rows, [r[0] for r in rows], "the paper's table")


def count_text(value: float) -> str:
    """A transition count as ``compare`` prints it: whole numbers bare, expected counts
    (with repeats) to two decimals.

    >>> count_text(7), count_text(2.5)
    ('7', '2.50')
    """
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _p(value: float | None) -> str:
    return f"{value:.3g}" if value is not None else "n/a (repeats)"


def compare_tables(base: str, run: str, c: Comparison, index: int) -> tuple[Table, Table]:
    """The paired deltas (VR, pass@1: base, fine-tuned, Δ with paired-bootstrap CI,
    McNemar p) and the status transition matrix (rows: base, columns: ``run``)."""
    where = f"{c.task} [{c.pipeline}]: {base} → {run}, {c.pairs} paired documents"
    lo, hi = c.vr_delta_ci
    rows = [["VR", f"{c.vr[0]:.3f}", f"{c.vr[1]:.3f}", f"{c.vr[1] - c.vr[0]:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]",
             _p(c.vr_mcnemar_p)]]  # fmt: skip
    if c.pass_at_1 is not None and c.pass_delta_ci is not None:
        lo, hi = c.pass_delta_ci
        a, b = c.pass_at_1
        rows.append(["pass@1", f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]",
                     _p(c.pass_mcnemar_p)])  # fmt: skip
    head = ["metric", base, run, "Δ", "95 % CI of Δ", "McNemar p"]
    deltas = Table(f"tc-delta-{index}", head, rows, [r[0] for r in rows], where)
    statuses = list(c.transitions)
    matrix = [[s, *(count_text(c.transitions[s][t]) for t in statuses)] for s in statuses]
    trans = Table(f"tc-trans-{index}", [f"{base} \\ {run}", *statuses], matrix, statuses,
                  f"status transitions, {c.task} [{c.pipeline}] (rows: {base}, columns: {run})")  # fmt: skip
    return deltas, trans
