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
    >>> summary_table([s]).rows[0][2]
    '0.500 [0.200, 0.800]'
    >>> paper_html([s]).rows
    [['ckpt', '0.500', '0.500', '0.500']]
    >>> "<th>run</th>" in to_html(paper_html([s]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ...metrics.at_k import is_at_k
from ...metrics.failure_kinds import REGISTERED
from ...metrics.trace_rates import METRICS
from ..at_k import row_k
from ..changes import RowChange
from ..render import _e, _size, at_k_text, paper_table
from ..summary import Comparison, TaskSummary

__all__ = ["SUMMARY_HEAD", "Table", "at_k_table", "change_class", "compare_tables", "count_text", "paper_html",
           "summary_table", "to_html"]  # fmt: skip

#: the finding first: VR, pass@1 and Rpass@1 right after the run and the task
SUMMARY_HEAD = ["run", "task", "VR", "pass@1", "Rpass@1", "ER", "MR", "TR", "answer rate", "n"]
#: compare's rows in the page's order: the finding first, then the other rates, then the rest
FIRST = ("valid_rate", "pass@1", "rpass@1", "empty_rate", "missing_rate", "truncated_rate")
#: the @k table's columns (``rpass@k_coverage`` is said in ``rpass@k``'s cell)
AT_K_KINDS = ("pass", "rpass", "maj", "rmaj", "valid", "all_valid")
#: a summary column -> the comparison row that colours it
COLOURED = {"VR": "valid_rate", "pass@1": "pass@1", "Rpass@1": "rpass@1", "ER": "empty_rate", "MR": "missing_rate",
            "TR": "truncated_rate"}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """Header and rows of text cells; ``keys`` (one per row) become ``data-key``; ``classes``
    (per row, per cell, "" for none) a cell's ``class``."""

    id: str
    head: list[str]
    rows: list[list[str]]
    keys: list[str] | None = None
    caption: str = ""
    classes: list[list[str]] | None = None


def change_class(row: RowChange | None) -> str:
    """How a change reads, for its colour: ``tc-worse``/``tc-better`` when Δ's 95 % interval
    excludes 0 (by the row's direction: VR up is better, ER up worse), ``tc-same`` when it
    holds 0, ``tc-moved`` for a row with no direction (a length), "" when Δ is undefined.

    >>> change_class(RowChange("valid_rate", "VR", 1.0, 0.0, -1.0, -0.9, 0.001, "McNemar"))
    'tc-worse'
    >>> change_class(RowChange("empty_rate", "ER", 0.0, 0.5, 0.2, 0.7, 0.01, "McNemar"))
    'tc-worse'
    >>> change_class(RowChange("pass@1", "pass@1", 0.5, 0.5, -0.1, 0.1, 1.0, "McNemar"))
    'tc-same'
    """
    if row is None or row.delta is None or row.lo != row.lo:
        return ""
    if row.lo <= 0 <= row.hi:
        return "tc-same"
    higher = True if is_at_k(row.metric) else {**METRICS, **REGISTERED}.get(
        row.metric.removesuffix("_words").removesuffix("_tokens"))  # fmt: skip
    if higher is None:
        return "tc-moved"
    return "tc-better" if (row.lo > 0) == higher else "tc-worse"


def _class(name: str) -> str:
    return f' class="{escape(name)}"' if name else ""


def to_html(table: Table) -> str:
    """The table as HTML; every cell carries ``data-col`` (its column's header)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.head)
    body = []
    for i, row in enumerate(table.rows):
        key = f' data-key="{escape(table.keys[i])}"' if table.keys else ""
        marks = table.classes[i] if table.classes else [""] * len(row)
        cells = "".join(
            f'<td data-col="{escape(h)}"{_class(m)}>{escape(c)}</td>'
            for h, c, m in zip(table.head, row, marks, strict=True)
        )
        body.append(f"<tr{key}>{cells}</tr>")
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return (f'<table id="{escape(table.id)}" class="tc-table">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def task_label(task: str, pipeline: str) -> str:
    """``task [pipeline]``, the task alone for lm-eval's unnamed pipeline ``none``."""
    return task if pipeline == "none" else f"{task} [{pipeline}]"


#: (run, task, pipeline) -> the comparison of that run with the base (``Comparison.changes``)
Changes = dict[tuple[str, str, str], dict[str, RowChange]]


def summary_table(summaries: list[TaskSummary], changes: Changes | None = None) -> Table:
    """``analyze``'s numbers, one row per run × task × filter pipeline (VR, pass@1, Rpass@1
    first); row keys ``run|task|pipeline``; with ``changes`` (each run against the base) a
    rate's cell is coloured by its change (:func:`change_class`)."""
    rows, classes = [], []
    for s in summaries:
        cells = {"run": s.run, "task": task_label(s.task, s.pipeline), "VR": _e(s.rates["valid"]),
                 "pass@1": _e(s.pass_at_1), "Rpass@1": _e(s.rpass_at_1), "ER": _e(s.rates["empty"]),
                 "MR": _e(s.rates["missing"]), "TR": _e(s.rates["truncated"]), "answer rate": _e(s.rates["answer"]),
                 "n": _size(s).removeprefix("n=")}  # fmt: skip
        rows.append([cells[h] for h in SUMMARY_HEAD])
        own = (changes or {}).get((s.run, s.task, s.pipeline), {})
        classes.append([change_class(own.get(COLOURED[h])) if h in COLOURED else "" for h in SUMMARY_HEAD])
    keys = [f"{s.run}|{s.task}|{s.pipeline}" for s in summaries]
    caption = "VR, pass@1, Rpass@1 and the other rates, 95 % intervals; coloured: the change against the base run"
    return Table("tc-summary", SUMMARY_HEAD, rows, keys, caption, classes)


def at_k_table(summaries: list[TaskSummary]) -> Table | None:
    """The @k rows of the summaries with repeats (``analyze``'s, :mod:`..at_k`): one row per
    run × task × k, a column per kind (``rpass@k``/``rmaj@k`` with the documents they cover);
    None when no task has several responses per document."""
    rows, keys = [], []
    for s in summaries:
        for k in sorted({row_k(name) for name in s.at_k}):
            rows.append([s.run, task_label(s.task, s.pipeline), str(k),
                         *(at_k_text(s, f"{kind}@{k}") for kind in AT_K_KINDS)])  # fmt: skip
            keys.append(f"{s.run}|{s.task}|{s.pipeline}|{k}")
    if not rows:
        return None
    caption = "several responses per document: the @k rows, 95 % intervals over documents"
    return Table("tc-at-k", ["run", "task", "k", *(f"{kind}@k" for kind in AT_K_KINDS)], rows, keys, caption)


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


def _v(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.3f}"


def ordered_changes(c: Comparison) -> list[RowChange]:
    """``compare``'s rows (:attr:`Comparison.changes`) with VR, pass@1 and Rpass@1 first."""
    rows = c.changes
    return [rows[m] for m in FIRST if m in rows] + [r for m, r in rows.items() if m not in FIRST]


def compare_tables(base: str, run: str, c: Comparison, index: int) -> tuple[Table, Table]:
    """Every row ``compare`` prints (VR, pass@1, Rpass@1 first: base, fine-tuned, Δ with its
    paired 95 % CI coloured by the change, the paired test's p) and the status
    transition matrix (rows: base, columns: ``run``)."""
    where = f"{c.task} [{c.pipeline}]: {base} → {run}, {c.pairs} paired documents"
    rows, classes = [], []
    for r in ordered_changes(c):
        if r.base is None and r.new is None:
            continue
        delta = f"{r.delta:+.3f}" if r.delta is not None else "n/a"
        ci = f"[{r.lo:+.3f}, {r.hi:+.3f}]" if r.delta is not None else ""
        rows.append([r.label, _v(r.base), _v(r.new), delta, ci, f"{r.test} {r.p:.3g}" if r.p is not None else ""])
        mark = change_class(r)
        classes.append(["", "", "", mark, mark, ""])
    head = ["metric", base, run, "Δ", "95 % CI of Δ", "paired test p"]
    deltas = Table(f"tc-delta-{index}", head, rows, [r[0] for r in rows], where, classes)
    statuses = list(c.transitions)
    matrix = [[s, *(count_text(c.transitions[s][t]) for t in statuses)] for s in statuses]
    trans = Table(f"tc-trans-{index}", [f"{base} \\ {run}", *statuses], matrix, statuses,
                  f"status transitions, {c.task} [{c.pipeline}] (rows: {base}, columns: {run})")  # fmt: skip
    return deltas, trans
