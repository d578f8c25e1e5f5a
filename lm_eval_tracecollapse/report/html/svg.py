"""A matplotlib figure as an inline ``<svg>`` element of the page: the one way the page
draws its figures (the status bars, the training curves).

Example:
    >>> from lm_eval_tracecollapse.report.render import plot_series
    >>> svg = inline_svg(lambda path: plot_series({"VR": {"sft": [(0, 1.0), (40, 0.0)]}}, path))
    >>> svg.startswith("<svg") and "<metadata>" not in svg and 'id="series-0-0"' in svg
    True
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["inline_svg"]


def inline_svg(draw: Callable[[Path], Path]) -> str:
    """What ``draw`` writes to the ``.svg`` path it is given, as an ``<svg>`` element (its XML
    prolog and metadata dropped)."""
    with tempfile.TemporaryDirectory() as tmp:
        svg = draw(Path(tmp) / "figure.svg").read_text(encoding="utf-8")
    return re.sub(r"<metadata>.*?</metadata>", "", svg[svg.find("<svg") :], flags=re.DOTALL)
