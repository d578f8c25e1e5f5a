"""Our rows as lm-eval metric functions (lm-eval's call convention) and their scoring.

lm-eval calls a metric with ``references`` and ``predictions``; :func:`make_metric`
(the seven trace rows) and :func:`make_extra_metric` (the failure-kind rows) turn
that call into :mod:`..metrics` values.  ``pass@1``'s correctness comes from a
registered lm-eval metric (:func:`score_with`), scored once per answer
(:mod:`..scoring.memo`).

Example:
    >>> from lm_eval_tracecollapse.core.carriers import TracedAnswer
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> make_metric("rpass@1")(["42"], [TracedAnswer("42", [parse_trace("<think>x</think>42")])])
    {'rpass@1': 1.0}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from ..core.carriers import TracedAnswer
from ..metrics.failure_kinds import OPTION_KEYS, STATUS_PASS, extra_metric_values, failure_options
from ..metrics.trace_rates import response_answers, trace_metric_values
from ..scoring.memo import once

__all__ = ["is_score", "make_extra_metric", "make_metric", "response_correctness", "score_with"]


def score_with(scorer: str | Callable[..., Any], gold: Any, pred: Any, **kwargs: Any) -> float:
    """Correctness of ``pred`` by an lm-eval metric (name or callable), as lm-eval calls it."""
    from lm_eval.api.registry import get_metric

    fn = get_metric(scorer) if isinstance(scorer, str) else scorer
    if fn is None:
        raise ValueError(f"pass@1/rpass@1: unknown scorer metric {scorer!r}; name a registered lm-eval metric")
    name = scorer if isinstance(scorer, str) else getattr(fn, "__name__", "score")
    try:
        value = fn(references=[gold], predictions=[str(pred)], **kwargs)
    except TypeError:  # lm-eval's other convention (its passthrough corpus metrics): one item
        value = fn([gold, str(pred)])
    if isinstance(value, dict):
        value = value.get(name, next(iter(value.values())))
    if not is_score(value):
        raise ValueError(
            f"pass@1/rpass@1: scorer {name!r} gives no per-document score (got {type(value).__name__}: a "
            "corpus-level metric such as bleu scores the whole set); name a metric that scores one answer"
        )
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"pass@1/rpass@1: scorer {name!r} returned NaN")
    return value


def is_score(value: object) -> bool:
    """A per-document score: a real number (bool, int, float, numpy's), not the item a
    corpus-level aggregation takes (``bleu``'s (reference, prediction) pair).

    >>> is_score(1), is_score(0.5), is_score(True), is_score(["ref", "pred"]), is_score(None)
    (True, True, True, False, False)
    """
    return isinstance(value, numbers.Real)


def response_correctness(pred: TracedAnswer, gold: Any, kwargs: dict[str, Any]) -> list[float]:
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
            correct = response_correctness(pred, (references or [""])[0], kwargs)
        value = trace_metric_values(pred, correct).get(name)
        return {} if value is None else {name: value}

    metric.__name__ = name
    metric.__qualname__ = name
    metric.__doc__ = f"lm-eval metric ``{name}`` (see :mod:`lm_eval_tracecollapse.metrics.trace_rates`)."
    return metric


def make_extra_metric(name: str) -> Callable[..., dict[str, float]]:
    """The lm-eval metric function registered under ``name`` (one of :data:`REGISTERED`),
    for hand-written ``metric_list`` entries; options as :func:`failure_options` keys
    in the entry, ``pass@1_*`` also take ``scorer`` and its options (as ``pass@1``)."""

    def metric(references: list[Any] | None = None, predictions: list[Any] | None = None, **kwargs: Any) -> dict:
        settings = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_KEYS}
        options = failure_options(settings)
        pred = (predictions or [None])[0]
        correct = None
        if name in STATUS_PASS:
            if not response_answers(pred):
                return {}
            correct = response_correctness(pred, (references or [""])[0], kwargs)
        key = f"{name}_{options.unit}" if name in ("trace_length", "answer_length") else name
        # lm-eval calls each entry separately: every row of a prediction is computed once
        # (loop detection and tokenizing the traces are the costly part), see scoring.memo
        traces = tuple(r.trace for r in response_answers(pred))
        verdicts = None if correct is None else tuple(correct)
        memo_key = ("extra_metric_values", repr(sorted(settings.items())), traces, verdicts)
        value = once(memo_key, lambda: extra_metric_values(pred, correct, options)).get(key)
        return {} if value is None else {key: value}

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = f"lm-eval metric ``{name}`` (see :mod:`lm_eval_tracecollapse.metrics.failure_kinds`)."
    return metric
