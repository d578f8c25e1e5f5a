"""``tracecollapse report RUN... --html out.html``: one self-contained HTML page per study.

The page holds ``analyze``'s table (pass@1, Rpass@1 and the four trace rates with 95 %
intervals), the paper's table, the figure of :func:`..render.plot` as inline SVG
(status bars; VR and pass@1 over training steps when the runs are checkpoints), the
training curves a study or the trace monitor wrote beside the runs (:mod:`.curves`),
``compare``'s paired deltas and transition matrices of the base run against every other
run, and a sample browser (filters by run, task, status, transition, verdict; text
search; a virtualised list).  Style, script and data are inline: it opens from disk,
offline.  See ``docs/report.md``.

Example:
    >>> from lm_eval_tracecollapse.report.html import write_report
    >>> callable(write_report)
    True
"""

from .data import BrowserData, TextCaps, order_runs, read_browser_data, shorten, to_json
from .page import build_page, write_page, write_report
from .tables import Table, compare_tables, paper_html, summary_table, to_html

__all__ = [
    "BrowserData",
    "Table",
    "TextCaps",
    "build_page",
    "compare_tables",
    "order_runs",
    "paper_html",
    "read_browser_data",
    "shorten",
    "summary_table",
    "to_html",
    "to_json",
    "write_page",
    "write_report",
]
