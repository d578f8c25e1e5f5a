"""Trace metrics for lm-eval: VR/ER/MR/TR, answer rate, pass@1 and rpass@1.

Definitions (the paper's; ThinkPack ``stats``), per **response** — with
``repeats: k`` every one of a document's k responses counts:

* ``valid_rate``/``empty_rate``/``missing_rate``/``truncated_rate`` — share of
  responses with that status (they sum to 1);
* ``answer_rate`` — share of responses with a non-blank answer part;
* ``pass@1`` — share of responses answered correctly (greedy, one sample: of documents);
* ``rpass@1`` — correct among the **valid-trace responses**, pooled.

Each metric returns one :class:`Weighted` value per document — its share over the
document's responses, weighted by their number (``rpass@1``: by its valid-trace
responses; a document with none weighs 0 and carries ``N/A``) — and aggregates with
:func:`pooled_mean` (registered as ``pooled_mean``): Σ weight·value / Σ weight, with
the ratio estimator's standard error over documents, which is lm-eval's own
``mean``/``mean_stderr`` whenever the weights are equal.  So the row is exact with
repeats, ``N/A`` (never 0) when no response has a valid trace, and decided over all
documents however lm-eval sharded them.  Predictions that did not go through
``trace_status`` produce no rows, so other pipelines stay untouched.

Correctness for ``pass@1``/``rpass@1`` comes from the task's own scoring: in a
``*_tc`` wrapper from the task's first metric (``exact_match`` with its options, or
its ``process_results``), applied to each response alone; in a hand-written
``metric_list`` from the metric named by ``scorer`` (default ``exact_match``) called
with the entry's other options.

Example:
    >>> from lm_eval_tracecollapse.core.carriers import TracedAnswer
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> pred = TracedAnswer("42", [parse_trace("<think>6*7</think>42")])
    >>> trace_metric_values(pred, [1.0])["rpass@1"]
    1.0
"""

from __future__ import annotations

from typing import Any

from ..core.carriers import TracedAnswer
from ..core.parse import TraceStatus
from .pooled import NotAvailable, Weighted

__all__ = ["METRICS", "pass_among", "response_answers", "trace_metric_values"]

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


def _responses(pred: Any) -> list[Any] | None:
    """The per-response answers of a prediction (a TracedAnswer, or a list of them)."""
    preds = pred if isinstance(pred, list) else [pred]
    if not preds or not all(isinstance(p, TracedAnswer) for p in preds):
        return None
    if len(preds) == 1:
        return list(preds[0].responses) or preds
    return preds


def trace_metric_values(pred: Any, correct: list[float] | None = None) -> dict[str, float]:
    """Per-document values of every trace metric for one prediction.

    ``pred`` is a :class:`TracedAnswer` (or a list of them, one per sampled
    response); anything else yields ``{}``.  ``correct`` holds each response's
    correctness (0/1) in the order of :func:`response_answers`; without it
    ``pass@1`` and ``rpass@1`` are left out.
    """
    responses = _responses(pred)
    if responses is None:
        return {}
    traces = [r.trace for r in responses if r.trace is not None]
    if not traces:
        return {}
    n = len(traces)
    out: dict[str, float] = {
        name: Weighted(sum(t.status is status for t in traces) / n, n) for name, status in _RATE_STATUS.items()
    }
    out["answer_rate"] = Weighted(sum(t.has_answer for t in traces) / n, n)
    if correct is not None:
        if len(correct) != len(responses):
            raise ValueError(f"pass@1: {len(correct)} correctness values for {len(responses)} responses")
        out["pass@1"] = Weighted(sum(correct) / len(correct), len(correct))
        out["rpass@1"] = pass_among(responses, correct, TraceStatus.VALID)
    return out


def pass_among(responses: list[Any], correct: list[float], status: TraceStatus) -> float:
    """Correctness among the responses whose trace has ``status``, weighted by their
    number (``rpass@1`` for valid, ``pass@1_<status>`` for the others); ``N/A`` if none.

    >>> from lm_eval_tracecollapse.core.carriers import TracedAnswer
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> rs = [TracedAnswer("4", [parse_trace(t)]) for t in ("<think>x</think>4", "4", "<think>y</think>5")]
    >>> pass_among(rs, [1.0, 1.0, 0.0], TraceStatus.VALID), pass_among(rs, [1.0, 1.0, 0.0], TraceStatus.EMPTY)
    (0.5, N/A)
    """
    chosen = [c for r, c in zip(responses, correct, strict=True) if r.trace is not None and r.trace.status is status]
    return Weighted(sum(chosen) / len(chosen), len(chosen)) if chosen else NotAvailable()


def response_answers(pred: Any) -> list[Any]:
    """The answers to score one by one for ``pass@1``: one per response."""
    return _responses(pred) or []
