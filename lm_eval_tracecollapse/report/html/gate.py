"""``tracecollapse report RUN... --html OUT --gate SPEC``: the gate's verdict at the top of the page.

The gates are :mod:`..gate`'s (the SPEC of ``compare --gate``), checked on the page's
comparisons — the base run against every other run, each as ``compare BASE RUN --gate
SPEC`` checks it — and shown first: the verdict, then one row per gate and run (task,
metric, base, new, Δ with its 95 % interval, McNemar p, limit, PASS/FAIL/MISSING).  The exit
status is ``compare --gate``'s: 0 every gate passes, 1 one fails, 2 missing data (no run to
compare with the base, a gated task or metric absent from a run).

Example:
    >>> from ..gate import load_gates
    >>> gate = PageGate(load_gates("valid_rate:-0.05"))
    >>> "missing data" in gate.apply([]), gate.status
    (True, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from ..gate import GATE_HEAD, VERDICTS, Gate, GateRow, evaluate, gate_cells
from ..summary import Comparison
from .tables import Table, to_html

__all__ = ["PageGate"]

#: a result's cell colour, as a change's (tables.change_class)
_CLASS = {"PASS": "tc-better", "FAIL": "tc-worse", "MISSING": "tc-same"}


@dataclass
class PageGate:
    """The gates of ``report --gate`` and, once :meth:`apply` has checked them on the page's
    comparisons, their rows (run, gate row) and the exit status."""

    gates: dict[str, list[Gate]]
    rows: list[tuple[str, GateRow]] = field(default_factory=list)
    status: int = 2
    base: str | None = None

    def apply(self, comparisons: list[tuple[str, str, list[Comparison]]]) -> str:
        """Check every gate on every (base, run, compare's results) and return the banner's HTML."""
        self.rows, statuses = [], []
        for base, run, comps in comparisons:
            rows, status = evaluate(comps, self.gates)
            self.rows += [(run, r) for r in rows]
            statuses.append(status)
            self.base = base
        # missing data (2) outranks a failure (1), as within one compare --gate
        self.status = max(statuses) if statuses else 2
        return self.html()

    def html(self) -> str:
        """The banner: the verdict and the gate table (``compare --gate``'s cells, a run column first)."""
        counts = {result: sum(r.result == result for _, r in self.rows) for result in ("PASS", "FAIL", "MISSING")}
        if self.base is None:
            said = "no run to compare with a base run"
        else:
            said = (f"{counts['PASS']} of {len(self.rows)} gates pass, {counts['FAIL']} fail, {counts['MISSING']} "
                    f"missing; each run against the base run {self.base}")  # fmt: skip
        verdict = f"Gate {VERDICTS[self.status]}: {said} (exit status {self.status})"
        table = Table(
            "tc-gate-table",
            ["run", *GATE_HEAD],
            [[run, *gate_cells(r)] for run, r in self.rows],
            [f"{run}|{r.task}|{r.pipeline}|{r.gate.metric}" for run, r in self.rows],
            "each gate on each run: compare BASE RUN --gate's rows",
            [[""] * len(GATE_HEAD) + [_CLASS[r.result]] for _, r in self.rows],
        )
        state = {0: "tc-pass", 1: "tc-fail"}.get(self.status, "tc-missing")
        shown = to_html(table) if self.rows else ""
        return (f'<section id="tc-gate" class="{state}" data-status="{self.status}"><h2>Gate</h2>'
                f'<p class="tc-verdict">{escape(verdict)}</p>{shown}</section>')  # fmt: skip
