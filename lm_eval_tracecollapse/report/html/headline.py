"""The page's first section: the finding, per task — each run's VR and pass@1 against the
base run, Δ with its 95 % interval, coloured by the change (:func:`.tables.change_class`),
and one sentence counting the runs whose VR and pass@1 fell or rose beyond their interval.
Values stand alone here (the summary table below gives each its interval), so that the
table fits a 900 px window.

Example:
    >>> from lm_eval_tracecollapse.report.changes import RowChange
    >>> vr = RowChange("valid_rate", "VR", 1.0, 0.0, -1.0, -0.96, 1e-30, "McNemar")
    >>> p1 = RowChange("pass@1", "pass@1", 0.62, 0.70, -0.02, 0.18, 0.2, "McNemar")
    >>> print(sentence("gsm8k", "base", {"sft": {"valid_rate": vr, "pass@1": p1}}))
    gsm8k, against base: VR fell in 1 of 1 run, rose in none; pass@1 fell in none, rose in none (95 %
    interval of Δ away from 0).
"""

from __future__ import annotations

from html import escape

from ..changes import RowChange
from ..stats import Estimate
from ..summary import Comparison, TaskSummary
from .tables import Changes, Table, change_class, task_label, to_html

__all__ = ["changes_by_run", "headline_html", "sentence"]


def changes_by_run(comparisons: list[tuple[str, str, list[Comparison]]]) -> Changes:
    """(run, task, pipeline) -> that run's rows against the base (``compare``'s, as on the page)."""
    return {(run, c.task, c.pipeline): c.changes for _, run, comps in comparisons for c in comps}


def _count(n: int) -> str:
    return "none" if n == 0 else str(n)


def _moves(rows: dict[str, dict[str, RowChange]], metric: str) -> tuple[int, int]:
    """(fell, rose): the runs whose Δ of ``metric`` has its whole 95 % interval below / above 0."""
    found = [r[metric] for r in rows.values() if metric in r and r[metric].delta is not None]
    return sum(r.hi < 0 for r in found), sum(r.lo > 0 for r in found)


def sentence(task: str, base: str, rows: dict[str, dict[str, RowChange]]) -> str:
    """One line of the finding: how many runs' VR and pass@1 fell or rose beyond their interval."""
    (vr_down, vr_up), (p_down, p_up) = _moves(rows, "valid_rate"), _moves(rows, "pass@1")
    runs = f"{len(rows)} run{'s' if len(rows) != 1 else ''}"
    return (f"{task}, against {base}: VR fell in {_count(vr_down)} of {runs}, rose in {_count(vr_up)}; pass@1 fell "
            f"in {_count(p_down)}, rose in {_count(p_up)} (95 % interval of Δ away from 0).")  # fmt: skip


def _value(est: Estimate | None) -> str:
    """A value alone (its interval is in the summary table; here Δ carries one)."""
    return "N/A" if est is None or est.value != est.value else f"{est.value:.3f}"


def _delta(row: RowChange | None) -> str:
    if row is None or row.delta is None:
        return "n/a"
    return f"{row.delta:+.3f} [{row.lo:+.3f}, {row.hi:+.3f}]"


def _alone(label: str, base: str | None, runs: int) -> str:
    """The sentence of a task no run can be compared on."""
    if base is None or runs == 1:
        return f"{label}: one run, nothing to compare."
    return f"{label}: no document of it is in the base run {base} and another run: nothing to compare."


def headline_html(summaries: list[TaskSummary], changes: Changes, base: str | None) -> str:
    """The finding section: per task and pipeline, a sentence and a table of every run's VR,
    pass@1 and Rpass@1 with Δ against ``base`` (the runs alone when there is no base)."""
    blocks = []
    groups = list(dict.fromkeys((s.task, s.pipeline) for s in summaries))
    for i, (task, pipe) in enumerate(groups):
        rows, keys, classes = [], [], []
        mine = [s for s in summaries if (s.task, s.pipeline) == (task, pipe)]
        for s in mine:
            own = changes.get((s.run, task, pipe), {})
            vr, p1 = own.get("valid_rate"), own.get("pass@1")
            shown = s.run + (" (base)" if s.run == base else "")
            rows.append([shown, _value(s.rates["valid"]), _delta(vr) if own else "—", _value(s.pass_at_1),
                         _delta(p1) if own else "—", _value(s.rpass_at_1)])  # fmt: skip
            keys.append(s.run)
            classes.append(["", change_class(vr), change_class(vr), change_class(p1), change_class(p1), ""])
        label = task_label(task, pipe)
        head = ["run", "VR", "Δ VR", "pass@1", "Δ pass@1", "Rpass@1"]
        table = Table(f"tc-head-{i}", head, rows, keys, "", classes)
        others = {s.run: changes[(s.run, task, pipe)] for s in mine if (s.run, task, pipe) in changes}
        text = sentence(label, base, others) if base is not None and others else _alone(label, base, len(mine))
        blocks.append(f'<div class="tc-finding" data-task="{escape(task)}" data-pipeline="{escape(pipe)}">'
                      f"<p class=\"tc-sentence\">{escape(text)}</p>{to_html(table)}</div>")  # fmt: skip
    legend = ('<p class="tc-note tc-legend"><span class="tc-worse">worse</span> <span class="tc-better">better'
              '</span> <span class="tc-same">no change beyond the 95 % interval</span> — each run against the base '
              "run, Δ with its paired 95 % interval (the rows of <code>compare</code>)</p>")  # fmt: skip
    return f'<section id="tc-headline"><h2>Finding</h2>{legend if base else ""}{"".join(blocks)}</section>'
