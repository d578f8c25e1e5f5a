"""Register our filter, metrics and models with lm-eval's registry (idempotent).

Importing :mod:`lm_eval_tracecollapse` calls :func:`register`; so does lm-eval
building any task from ``task_yamls/`` (their ``!function`` hooks import the
package).  Registered names (fixed, see DESIGN.md):

* filter ``trace_status``
* metrics ``valid_rate``, ``empty_rate``, ``missing_rate``, ``truncated_rate``,
  ``answer_rate``, ``pass@1``, ``rpass@1`` — aggregation ``pooled_mean`` (registered
  too; its stderr and our group rows come from :mod:`.groups`), each with its
  ``higher_is_better``; and the extra rows of :mod:`.failure_kinds`: ``pass@1_empty``,
  ``pass@1_missing``, ``pass@1_truncated``, ``loop_rate``, ``truncated_loop_rate``,
  ``truncated_progress_rate``, ``degenerate_rate``, ``trace_length``, ``answer_length``
* models ``tc_replay``, ``tc_chat_api``, ``tc_completions_api``
* graders: metrics ``math_verify``, ``math_timeout`` and ``code_timeout``, filters ``mcq_letter`` and ``code_exec``

Example:
    >>> register()
    >>> from lm_eval.api.registry import get_filter, get_metric_aggregation
    >>> get_filter("trace_status").__name__, get_metric_aggregation("valid_rate").__name__
    ('TraceStatusFilter', 'pooled_mean')
"""

from __future__ import annotations

import threading

__all__ = ["register"]

_lock = threading.Lock()
_done = False


def register() -> None:
    """Register everything with lm-eval (safe to call any number of times)."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import lm_eval.api.metrics
        import lm_eval.filters
        import lm_eval.models  # noqa: F401  (lm-eval fills its model registry lazily only while it is empty)
        from lm_eval.api.registry import (
            aggregation_registry,
            filter_registry,
            metric_registry,
            model_registry,
            register_aggregation,
            register_filter,
            register_metric,
            register_model,
        )

        from . import groups
        from .failure_kinds import REGISTERED, make_extra_metric
        from .filters import TraceStatusFilter
        from .metrics import METRICS, make_metric, pooled_mean
        from .models import ReplayLM
        from .scoring.code import CodeExecFilter, code_timeout_metric
        from .scoring.math import math_timeout_metric, math_verify_metric
        from .scoring.mcq import MCQLetterFilter

        filters = (("trace_status", TraceStatusFilter), ("mcq_letter", MCQLetterFilter), ("code_exec", CodeExecFilter))
        for fname, fcls in filters:
            if fname not in filter_registry:
                register_filter(fname)(fcls)
        for mname, fn, higher in (
            ("math_verify", math_verify_metric, True),
            ("math_timeout", math_timeout_metric, False),
            ("code_timeout", code_timeout_metric, False),
        ):
            if mname not in metric_registry:
                register_metric(metric=mname, higher_is_better=higher, aggregation="mean")(fn)
        if "pooled_mean" not in aggregation_registry:
            register_aggregation("pooled_mean")(pooled_mean)
        groups.install()
        for name, higher in METRICS.items():
            if name not in metric_registry:
                register_metric(
                    metric=name, higher_is_better=higher, aggregation="pooled_mean", output_type="generate_until"
                )(make_metric(name))
        for name, hib in REGISTERED.items():
            if name not in metric_registry:
                arrow = {} if hib is None else {"higher_is_better": hib}  # lengths: neither
                register_metric(metric=name, aggregation="pooled_mean", output_type="generate_until", **arrow)(
                    make_extra_metric(name)
                )
        if "tc_replay" not in model_registry:
            register_model("tc_replay")(ReplayLM)
        try:
            from .models.api import TraceChatAPI, TraceCompletionsAPI
        except ImportError:  # pragma: no cover - lm-eval installed without its [api] extra
            pass
        else:
            for mname, mcls in (("tc_chat_api", TraceChatAPI), ("tc_completions_api", TraceCompletionsAPI)):
                if mname not in model_registry:
                    register_model(mname)(mcls)
        _done = True
