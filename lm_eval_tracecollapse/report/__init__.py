"""Post-hoc analysis of lm-eval ``--log_samples`` output, as plain data.

>>> from lm_eval_tracecollapse.report import analyze, compare, paper_table
>>> callable(analyze) and callable(compare) and callable(paper_table)
True
"""

from ..samples.records import DocRecord, Problems, check_fmt, find_sample_files, iter_file, read_file
from ..samples.runs import Run, find_runs
from .gate import load_gates
from .render import analyze_text, compare_text, paper_table, plot
from .summary import Comparison, Estimate, TaskSummary, analyze, analyze_runs, compare, compare_runs, summarize

__all__ = [
    "Comparison",
    "DocRecord",
    "Estimate",
    "Problems",
    "Run",
    "TaskSummary",
    "analyze",
    "analyze_runs",
    "analyze_text",
    "check_fmt",
    "compare",
    "compare_runs",
    "compare_text",
    "find_runs",
    "find_sample_files",
    "iter_file",
    "load_gates",
    "paper_table",
    "plot",
    "read_file",
    "summarize",
]
