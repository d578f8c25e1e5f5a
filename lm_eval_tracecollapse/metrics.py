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
    >>> from lm_eval_tracecollapse.filters import TracedAnswer
    >>> from lm_eval_tracecollapse.parse import parse_trace
    >>> pred = TracedAnswer("42", [parse_trace("<think>6*7</think>42")])
    >>> trace_metric_values(pred, [1.0])["rpass@1"]
    1.0
    >>> pooled_mean([Weighted(1.0, 3), Weighted(0.0, 1)])
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from typing_extensions import Self

from .filters import TracedAnswer
from .parse import TraceStatus
from .scoring.memo import once

__all__ = [
    "METRICS",
    "NotAvailable",
    "Pooled",
    "Weighted",
    "make_metric",
    "pass_among",
    "pooled_mean",
    "pooled_stderr",
    "response_answers",
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


class Weighted(float):
    """A per-document value with the weight it carries in :func:`pooled_mean`.

    >>> w = Weighted(0.5, 4)
    >>> w, w.weight, w + 1
    (0.5, 4.0, 1.5)
    """

    weight: float

    def __new__(cls, value: float, weight: float = 1.0) -> Self:
        obj = super().__new__(cls, value)
        obj.weight = float(weight)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (float(self), self.weight))


class NotAvailable(Weighted):
    """A NaN of weight 0 that lm-eval's table prints as ``N/A`` and arithmetic keeps as itself.

    >>> f"{NotAvailable():.4f}", sum([NotAvailable()]) / 1, NotAvailable().weight
    ('N/A', N/A, 0.0)
    """

    def __new__(cls, value: float = math.nan, weight: float = 0.0) -> Self:
        return super().__new__(cls, math.nan, 0.0)

    def __reduce__(self) -> tuple[Any, ...]:
        return (NotAvailable, ())

    def __deepcopy__(self, memo: dict[int, Any]) -> NotAvailable:
        return self

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __repr__(self) -> str:
        return "N/A"

    __str__ = __repr__

    def _same(self, *_: object) -> NotAvailable:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = _same


class Pooled(Weighted):
    """An aggregated value: its total weight and how many documents it pools
    (what a group needs to pool subtasks; see :mod:`.groups`)."""

    count: int

    def __new__(cls, value: float, weight: float = 1.0, count: int = 1) -> Self:
        obj = super().__new__(cls, value, weight)
        obj.count = int(count)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pooled, (float(self), self.weight, self.count))


def _weighted(items: list[Any]) -> list[tuple[float, float]]:
    pairs = []
    for item in items:
        weight = float(getattr(item, "weight", 1.0))
        if weight > 0 and not math.isnan(item):
            pairs.append((float(item), weight))
    return pairs


def pooled_mean(items: list[Any]) -> float:
    """Σ weight·value / Σ weight over the documents that carry weight (``N/A`` if none)."""
    pairs = _weighted(items)
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return NotAvailable()
    return Pooled(sum(v * w for v, w in pairs) / total, total, len(pairs))


def pooled_stderr(items: list[Any]) -> float | str:
    """Standard error of :func:`pooled_mean` over documents (the ratio estimator's:
    √(n/(n-1) · Σ wᵢ²(xᵢ − R)²) / Σ wᵢ), equal to ``mean_stderr`` for equal weights."""
    pairs = _weighted(items)
    n = len(pairs)
    if n < 2:
        return "N/A"
    total = sum(w for _, w in pairs)
    ratio = sum(v * w for v, w in pairs) / total
    return math.sqrt(n / (n - 1) * sum((w * (v - ratio)) ** 2 for v, w in pairs)) / total


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

    >>> from lm_eval_tracecollapse.filters import TracedAnswer
    >>> from lm_eval_tracecollapse.parse import parse_trace
    >>> rs = [TracedAnswer("4", [parse_trace(t)]) for t in ("<think>x</think>4", "4", "<think>y</think>5")]
    >>> pass_among(rs, [1.0, 1.0, 0.0], TraceStatus.VALID), pass_among(rs, [1.0, 1.0, 0.0], TraceStatus.EMPTY)
    (0.5, N/A)
    """
    chosen = [c for r, c in zip(responses, correct, strict=True) if r.trace is not None and r.trace.status is status]
    return Weighted(sum(chosen) / len(chosen), len(chosen)) if chosen else NotAvailable()


def response_answers(pred: Any) -> list[Any]:
    """The answers to score one by one for ``pass@1``: one per response."""
    return _responses(pred) or []


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


def _correct(pred: TracedAnswer, gold: Any, kwargs: dict[str, Any]) -> list[float]:
    """``pred``'s correctness per response, scored once per (scorer, gold, options,
    answers) although lm-eval calls pass@1 and rpass@1 separately (:mod:`.scoring.memo`)."""
    scorer = kwargs.pop("scorer", "exact_match")
    answers = response_answers(pred)
    name = scorer if isinstance(scorer, str) else id(scorer)
    key = ("score_with", name, repr(gold), repr(sorted(kwargs.items())), tuple(map(str, answers)))
    return once(key, lambda: [score_with(scorer, gold, r, **kwargs) for r in answers])


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
