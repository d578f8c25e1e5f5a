"""Faithfulness probes: does the answer still depend on the trace?

``build`` makes the probes (early termination, filler, paraphrase) of a finished run and
the ``tc_probe`` dataset; ``paraphrase`` holds the rule-based and lm-eval-model
paraphrasers; ``score`` turns a ``tc_probe`` run into invariance, accuracy and the
faithfulness AOC, and compares two runs.

Example:
    >>> from lm_eval_tracecollapse.probes import modify, split_steps
    >>> modify(split_steps("a. b. c. d."), "early", 50)
    'a. b. '
"""

from .build import (
    DEFAULT_KS,
    KINDS,
    Probe,
    build_probes,
    filler,
    modify,
    probe_dataset,
    read_probes,
    split_steps,
    write_probes,
)
from .paraphrase import LMParaphraser, Paraphraser, RuleParaphraser, make_paraphraser
from .score import (
    ProbeComparison,
    ProbeScore,
    compare_probes,
    probe_compare_text,
    probe_results,
    probe_text,
    same_answer,
    score_probe_run,
    trapezoid_weights,
)

__all__ = [
    "DEFAULT_KS",
    "KINDS",
    "LMParaphraser",
    "Paraphraser",
    "Probe",
    "ProbeComparison",
    "ProbeScore",
    "RuleParaphraser",
    "build_probes",
    "compare_probes",
    "filler",
    "make_paraphraser",
    "modify",
    "probe_compare_text",
    "probe_dataset",
    "probe_results",
    "probe_text",
    "read_probes",
    "same_answer",
    "score_probe_run",
    "split_steps",
    "trapezoid_weights",
    "write_probes",
]
