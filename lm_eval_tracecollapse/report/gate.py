"""``tracecollapse compare BASE NEW --gate SPEC``: limits on the change that fail a pipeline.

A SPEC is comma-separated ``METRIC:LIMIT`` items, METRIC one of :data:`~.deltas.GATED`:

* ``LIMIT`` is the most the row may move, signed: ``-0.05`` (it may fall by at most
  0.05), ``+0.02`` (it may rise by at most 0.02: ``empty_rate``); ``-3%`` is relative to
  the base value (a fall of at most 3 % of it);
* ``@ci`` after it checks the 95 % interval's pessimistic end instead of the estimate
  (the lower end for a fall, the upper for a rise), so noise alone cannot pass;

or the path of a YAML file mapping task names (``*``: every task) to such a SPEC.
Every gate applies to every compared (task, pipeline) it names; a gated metric absent
from a comparison, or no comparison at all, is **missing data**, never a pass.

Exit status of ``compare --gate``: 0 all pass, 1 any fails, 2 bad SPEC or missing data.

Example:
    >>> [str(g) for g in parse_gates("valid_rate:-0.05, rpass@1:-2%@ci")]
    ['valid_rate:-0.05', 'rpass@1:-2%@ci']
    >>> from .deltas import Delta
    >>> check(parse_gates("valid_rate:-0.05")[0], Delta("valid_rate", 0.9, 0.8, -0.2, 0.0, None))
    False
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .deltas import GATED, Delta

__all__ = ["GATE_HEAD", "VERDICTS", "Gate", "GateRow", "check", "evaluate", "gate_cells", "gate_json", "gate_text",
           "load_gates", "parse_gates"]  # fmt: skip

_ITEM = re.compile(r"\s*([A-Za-z_@0-9]+)\s*:\s*([+-]\s*[0-9]*\.?[0-9]+)\s*(%)?\s*(@ci)?\s*")


@dataclass(frozen=True)
class Gate:
    """One limit: ``metric`` may move by at most ``limit`` (signed; relative: a share of the base)."""

    metric: str
    limit: float
    relative: bool = False
    on_ci: bool = False

    def __str__(self) -> str:
        value = f"{self.limit * 100:+g}%" if self.relative else f"{self.limit:+g}"
        return f"{self.metric}:{value}{'@ci' if self.on_ci else ''}"

    def bound(self, base: float) -> float:
        """The allowed change for a base value ``base``."""
        return self.limit * abs(base) if self.relative else self.limit


def parse_gates(spec: str) -> list[Gate]:
    """The gates of a SPEC string (see the module docstring).

    Raises:
        ValueError: an item that is not ``METRIC:±LIMIT[%][@ci]`` or names no gated row.
    """
    gates = []
    for item in spec.split(","):
        m = _ITEM.fullmatch(item)
        if not m:
            raise ValueError(f"--gate item {item.strip()!r} is not METRIC:±LIMIT[%][@ci] (e.g. valid_rate:-0.05)")
        metric, number, pct, ci = m.groups()
        if metric not in GATED:
            raise ValueError(f"--gate names {metric!r}; gated rows are: {', '.join(GATED)}")
        value = float(number.replace(" ", ""))
        gates.append(Gate(metric, value / 100 if pct else value, bool(pct), bool(ci)))
    return gates


def load_gates(spec: str) -> dict[str, list[Gate]]:
    """Task name (``*``: every task) -> gates, from a SPEC string or a YAML file of them."""
    path = Path(spec)
    if not (spec.endswith((".yaml", ".yml")) or path.is_file()):
        return {"*": parse_gates(spec)}
    if not path.is_file():
        raise ValueError(f"--gate file {spec} does not exist")
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"--gate file {spec} must map task names (or '*') to SPEC strings")
    return {str(task): parse_gates(value) for task, value in data.items()}


def check(gate: Gate, d: Delta) -> bool:
    """Whether ``d`` keeps within ``gate`` (a row the new run cannot compute, such as rpass@1
    with no valid trace left, does not)."""
    if math.isnan(d.new) or (gate.on_ci and math.isnan(d.lo)):
        return False
    allowed = gate.bound(d.base)
    if allowed < 0:  # a fall of at most |allowed|
        return (d.lo if gate.on_ci else d.delta) >= allowed
    return (d.hi if gate.on_ci else d.delta) <= allowed


@dataclass(frozen=True)
class GateRow:
    """One gate on one compared (task, pipeline): ``delta`` None when the row is missing."""

    task: str
    pipeline: str
    gate: Gate
    delta: Delta | None

    @property
    def result(self) -> str:
        if self.delta is None:
            return "MISSING"
        return "PASS" if check(self.gate, self.delta) else "FAIL"


def evaluate(comparisons: list[Any], gates: dict[str, list[Gate]]) -> tuple[list[GateRow], int]:
    """Every gate on every comparison it names, and the exit status (0 pass, 1 a failure,
    2 missing data: a gated metric or task absent from the comparison)."""
    rows: list[GateRow] = []
    tasks = {c.task for c in comparisons}
    missing = not comparisons or any(t != "*" and t not in tasks for t in gates)
    for c in comparisons:
        for gate in gates.get(c.task, gates.get("*", [])):
            rows.append(GateRow(c.task, c.pipeline, gate, c.deltas.get(gate.metric)))
    missing = missing or any(r.delta is None for r in rows)
    status = 2 if missing else 1 if any(r.result == "FAIL" for r in rows) else 0
    return rows, status


#: the gate table's columns (:func:`gate_cells`)
GATE_HEAD = ["task", "metric", "base", "new", "Δ [95% CI]", "McNemar p", "limit", "result"]


def gate_cells(r: GateRow) -> list[str]:
    """One gate's cells under :data:`GATE_HEAD`, as ``compare --gate`` and the HTML page show them."""
    d = r.delta
    if d is None:
        return [f"{r.task} [{r.pipeline}]", r.gate.metric, "-", "-", "-", "-", str(r.gate), r.result]
    p = "n/a" if d.mcnemar_p is None else f"{d.mcnemar_p:.3g}"
    change = "n/a (no valid trace)" if math.isnan(d.new) else f"{d.delta:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
    new = "n/a" if math.isnan(d.new) else f"{d.new:.3f}"
    return [f"{r.task} [{r.pipeline}]", d.metric, f"{d.base:.3f}", new, change, p, str(r.gate), r.result]


def gate_text(rows: list[GateRow]) -> str:
    """The gate table (Markdown): metric, base, new, Δ with its 95 % interval, McNemar p, limit, result."""
    from .render import markdown_table

    return markdown_table(GATE_HEAD, [gate_cells(r) for r in rows])


#: what ``compare --gate`` (and ``report --gate``) says of each exit status
VERDICTS = {0: "passed", 1: "FAILED", 2: "missing data (a gated task or metric is absent from a run)"}


def gate_json(rows: list[GateRow], status: int) -> dict[str, Any]:
    """The same as :func:`gate_text`, as JSON-ready data with the exit status."""
    out = []
    for r in rows:
        d = r.delta
        item: dict[str, Any] = {"task": r.task, "pipeline": r.pipeline, "metric": r.gate.metric,
                                "limit": str(r.gate), "result": r.result}  # fmt: skip
        if d is not None:
            finite = not math.isnan(d.new)
            item.update(base=d.base, new=d.new if finite else None, delta=d.delta if finite else None,
                        ci=[d.lo, d.hi] if finite else None, mcnemar_p=d.mcnemar_p)  # fmt: skip
        out.append(item)
    return {"status": status, "passed": status == 0, "gates": out}
