"""Post-hoc analysis of lm-eval ``--log_samples`` output, as plain data.

>>> from lm_eval_tracecollapse.report import analyze, compare, paper_table
>>> callable(analyze) and callable(compare) and callable(paper_table)
True
"""

from ..samples.records import DocRecord, Problems, find_sample_files, iter_file, read_file
from .gate import load_gates
from .render import analyze_text, compare_text, paper_table, plot
from .summary import Comparison, Estimate, TaskSummary, analyze, compare, summarize

__all__ = [
    "Comparison",
    "DocRecord",
    "Estimate",
    "Problems",
    "TaskSummary",
    "analyze",
    "analyze_text",
    "compare",
    "compare_text",
    "find_sample_files",
    "iter_file",
    "load_gates",
    "paper_table",
    "plot",
    "read_file",
    "summarize",
]
