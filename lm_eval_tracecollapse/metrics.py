"""Trace metrics for lm-eval: VR/ER/MR/TR, answer rate, pass@1 and rpass@1.

Definitions (the paper's; ThinkPack ``stats``):

* ``valid_rate``/``empty_rate``/``missing_rate``/``truncated_rate`` — share of
  responses with that status (they sum to 1);
* ``answer_rate`` — share of responses with a non-blank answer part;
* ``pass@1`` — share of documents answered correctly (greedy, one sample);
* ``rpass@1`` — correct among documents whose response has a valid trace.

Each metric returns ``{name: value}`` per document and aggregates with lm-eval's
own ``mean``, so lm-eval prints its closed-form standard error (sample standard
deviation / √n) beside every rate.  ``rpass@1`` is only emitted for documents with
a valid trace (so its mean and stderr are over those); when no response of a
pipeline is valid it is reported as ``N/A`` (never 0).  Predictions that did not go
through ``trace_status`` produce no rows, so other pipelines stay untouched.

Correctness for ``pass@1``/``rpass@1`` comes from the task's own scoring: in a
``*_tc`` wrapper from the task's first metric (``exact_match`` with its options, or
its ``process_results``); in a hand-written ``metric_list`` from the metric named
by ``scorer`` (default ``exact_match``) called with the entry's other options.

Example:
    >>> from lm_eval_tracecollapse.filters import TracedAnswer
    >>> from lm_eval_tracecollapse.parse import parse_trace
    >>> pred = TracedAnswer("42", [parse_trace("<think>6*7</think>42")])
    >>> trace_metric_values(pred, correct=1.0)["rpass@1"]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .filters import TracedAnswer
from .parse import TraceStatus

__all__ = [
    "METRICS",
    "NotAvailable",
    "make_metric",
    "score_with",
    "trace_metric_values",
]

#: name -> higher_is_better, in table order
METRICS: dict[str, bool] = {
    "valid_rate": True,
    "empty_rate": False,
    "missing_rate": False,
    "truncated_rate": False,
    "answer_rate": True,
    "pass@1": True,
    "rpass@1": True,
}
_RATE_STATUS = {
    "valid_rate": TraceStatus.VALID,
    "empty_rate": TraceStatus.EMPTY,
    "missing_rate": TraceStatus.MISSING,
    "truncated_rate": TraceStatus.TRUNCATED,
}


class NotAvailable(float):
    """A NaN that lm-eval's table prints as ``N/A`` and arithmetic keeps as itself.

    >>> f"{NotAvailable():.4f}", sum([NotAvailable()]) / 1
    ('N/A', N/A)
    """

    def __new__(cls) -> NotAvailable:
        return super().__new__(cls, "nan")

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __repr__(self) -> str:
        return "N/A"

    __str__ = __repr__

    def _same(self, *_: object) -> NotAvailable:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = _same


def trace_metric_values(pred: Any, correct: float | None = None) -> dict[str, float]:
    """Per-document values of every trace metric for one prediction.

    ``pred`` is a :class:`TracedAnswer` (or a list of them, one per sampled
    response); anything else yields ``{}``.  ``correct`` (0/1, or a mean over
    samples) feeds ``pass@1`` and ``rpass@1``; without it they are left out.
    """
    preds = pred if isinstance(pred, list) else [pred]
    if not preds or not all(isinstance(p, TracedAnswer) for p in preds):
        return {}
    traces = [t for p in preds for t in (p.traces if len(preds) == 1 else (p.trace,)) if t is not None]
    if not traces:
        return {}
    n = len(traces)
    out = {name: sum(t.status is status for t in traces) / n for name, status in _RATE_STATUS.items()}
    out["answer_rate"] = sum(t.has_answer for t in traces) / n
    if correct is not None:
        out["pass@1"] = float(correct)
        chosen = preds[0].trace
        if chosen is not None and chosen.is_valid:
            out["rpass@1"] = float(correct)
        elif preds[0].report_na:  # no valid response in the whole pipeline
            out["rpass@1"] = NotAvailable()
    return out


def score_with(scorer: str | Callable[..., Any], gold: Any, pred: Any, **kwargs: Any) -> float:
    """Correctness of ``pred`` by an lm-eval metric (name or callable), as lm-eval calls it."""
    from lm_eval.api.registry import get_metric

    fn = get_metric(scorer) if isinstance(scorer, str) else scorer
    if fn is None:
        raise ValueError(f"pass@1/rpass@1: unknown scorer metric {scorer!r}; name a registered lm-eval metric")
    name = scorer if isinstance(scorer, str) else getattr(fn, "__name__", "score")
    value = fn(references=[gold], predictions=[str(pred)], **kwargs)
    if isinstance(value, dict):
        value = value.get(name, next(iter(value.values())))
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"pass@1/rpass@1: scorer {name!r} returned NaN")
    return value


def _correct(pred: TracedAnswer, gold: Any, kwargs: dict[str, Any]) -> float:
    """``pred``'s correctness, scored once per (scorer, gold, options) even though lm-eval
    calls pass@1 and rpass@1 separately with the same prediction (a math-verify scorer
    may take seconds)."""
    scorer = kwargs.pop("scorer", "exact_match")
    key = (scorer if isinstance(scorer, str) else id(scorer), repr(gold), repr(sorted(kwargs.items())))
    scores: dict[tuple[Any, str, str], float] = pred.__dict__.setdefault("_scores", {})
    if key not in scores:
        scores[key] = score_with(scorer, gold, pred, **kwargs)
    return scores[key]


def make_metric(name: str) -> Callable[..., dict[str, float]]:
    """The lm-eval metric function registered under ``name``."""

    def metric(references: list[Any] | None = None, predictions: list[Any] | None = None, **kwargs: Any) -> dict:
        pred = (predictions or [None])[0]
        correct = None
        if name in ("pass@1", "rpass@1"):
            if not isinstance(pred, TracedAnswer):
                return {}
            correct = _correct(pred, (references or [""])[0], kwargs)
        value = trace_metric_values(pred, correct).get(name)
        return {} if value is None else {name: value}

    metric.__name__ = name
    metric.__qualname__ = name
    metric.__doc__ = f"lm-eval metric ``{name}`` (see :mod:`lm_eval_tracecollapse.metrics`)."
    return metric
