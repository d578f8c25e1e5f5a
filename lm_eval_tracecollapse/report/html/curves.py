"""The page's training curves: valid-trace rate and pass@1 over training steps, one line per
arm, as the trace monitor measured them while training (:mod:`..curves` finds them beside the
runs: a study's ``training_curves.json``, a Trainer's ``trainer_state.json``).

The figure is :func:`..render.plot_curves`'s — the study's ``figures/training_curves.png`` —
inlined as SVG (:func:`.svg.inline_svg`, as the status bars); below it the same points as a
table (each arm's VR and pass@1 at every step).

Example:
    >>> curves = {"sft": [{"step": 0, "valid_rate": 1.0, "pass@1": 0.5}, {"step": 40, "valid_rate": 0.0,
    ...                                                                  "pass@1": float("nan")}]}
    >>> t = curves_table(curves)
    >>> t.head, t.rows
    (['arm', 'metric', 'step 0', 'step 40'], [['sft', 'VR', '1.000', '0.000'], ['sft', 'pass@1', '0.500', 'N/A']])
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from ..curves import Curves
from ..render import plot_curves
from .svg import inline_svg
from .tables import Table, to_html

__all__ = ["curves_section", "curves_table"]

#: the rows of the table, per arm: (point key, label)
_METRICS = (("valid_rate", "VR"), ("pass@1", "pass@1"))


def _cell(point: dict[str, float] | None, key: str) -> str:
    if point is None:
        return ""  # the arm was not measured at this step
    value = point[key]
    return "N/A" if value != value else f"{value:.3f}"


def curves_table(curves: Curves) -> Table:
    """Each arm's VR and pass@1 at every step any arm was measured at (keys ``arm|VR``)."""
    steps = sorted({p["step"] for points in curves.values() for p in points})
    rows, keys = [], []
    for arm, points in curves.items():
        at = {p["step"]: p for p in points}
        for key, label in _METRICS:
            rows.append([arm, label, *(_cell(at.get(s), key) for s in steps)])
            keys.append(f"{arm}|{label}")
    head = ["arm", "metric", *(f"step {s}" for s in steps)]
    return Table("tc-curves-table", head, rows, keys, "the points of the curves (step 0 = the base)")


def _shown(path: str | Path) -> str:
    """``path`` relative to the working folder when it is under it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def curves_section(curves: Curves, sources: Sequence[str | Path] = ()) -> str:
    """The section (``""`` without curves): the figure, one line per arm in each panel (SVG
    groups ``series-<panel>-<arm>``), then :func:`curves_table`."""
    if not curves:
        return ""
    figure = inline_svg(lambda path: plot_curves(curves, path, title="trace monitor, held-out prompts"))
    where = f" (from {', '.join(escape(_shown(s)) for s in sources)})" if sources else ""
    note = (f'<p class="tc-note">What the trace monitor measured while training, one line per arm: valid-trace '
            f"rate and pass@1 on its held-out prompts over the training steps{where}.</p>")  # fmt: skip
    return (f'<section id="tc-curves"><h2>Training curves</h2>{note}<figure id="tc-curves-figure">{figure}</figure>'
            f"{to_html(curves_table(curves))}</section>")  # fmt: skip
