"""Register our filter, metrics and models with lm-eval's registry (idempotent).

Importing :mod:`lm_eval_tracecollapse` calls :func:`register`; so does lm-eval
building any task from ``task_yamls/`` (their ``!function`` hooks import the
package).  Registered names (fixed, see docs/CONTRACT.md):

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

__all__ = ["register", "register_at_import"]

from . import compat

_lock = threading.Lock()
_done = False
_deferred: compat.LmEvalCompatError | None = None

#: lm-eval name -> "module:attr", imported on first use
_MODELS = {
    "tc_replay": "lm_eval_tracecollapse.harness.models.replay:ReplayLM",
    "tc_chat_api": "lm_eval_tracecollapse.harness.models.api:TraceChatAPI",
    "tc_completions_api": "lm_eval_tracecollapse.harness.models.api:TraceCompletionsAPI",
}
_FILTERS = {
    "trace_status": "lm_eval_tracecollapse.harness.filters:TraceStatusFilter",
    "mcq_letter": "lm_eval_tracecollapse.harness.grader_filters:MCQLetterFilter",
    "code_exec": "lm_eval_tracecollapse.harness.grader_filters:CodeExecFilter",
}


def register_at_import() -> None:
    """What ``import lm_eval_tracecollapse`` does: :func:`register` when lm-eval is installed.
    Without lm-eval nothing is registered (the parser, reports, masking and the monitor need
    none); with an lm-eval whose registry differs, importing still works and the error comes
    from :func:`register` where a traced task or filter is built (one message naming the
    lm-eval version, :mod:`.compat`)."""
    try:
        register()
    except (ImportError, TypeError) as exc:
        if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] != "lm_eval":
            raise  # ours, not lm-eval's
        global _deferred
        _deferred = compat.LmEvalCompatError(
            f"lm-eval {compat.version()} could not take lm-eval-tracecollapse's names ({type(exc).__name__}: {exc}); "
            f"install a tested lm-eval: pip install '{compat.supported()}'"
        )
        _deferred.__cause__ = exc


def register() -> None:
    """Register everything with lm-eval (safe to call any number of times); an lm-eval that
    cannot take our names raises :class:`~.compat.LmEvalCompatError`."""
    if _deferred is not None:
        raise _deferred
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import lm_eval.api.metrics
        import lm_eval.filters
        import lm_eval.models  # noqa: F401  (lm-eval fills each registry with its own names only while it is empty)
        from lm_eval.api.registry import (
            aggregation_registry,
            filter_registry,
            metric_registry,
            model_registry,
            register_aggregation,
            register_metric,
        )

        from ..metrics.failure_kinds import REGISTERED
        from ..metrics.pooled import pooled_mean
        from ..metrics.trace_rates import METRICS
        from ..scoring.code import code_timeout_metric
        from ..scoring.math_grade import math_timeout_metric, math_verify_metric
        from .metric_fns import make_extra_metric, make_metric

        # models and filters as "module:attr" placeholders, imported when lm-eval first
        # asks for them (the API models pull in aiohttp; the parser alone needs none)
        for registry, targets in ((model_registry, _MODELS), (filter_registry, _FILTERS)):
            for name, target in targets.items():
                if name not in registry:
                    registry.register(name, target=target)
        for mname, fn, higher in (
            ("math_verify", math_verify_metric, True),
            ("math_timeout", math_timeout_metric, False),
            ("code_timeout", code_timeout_metric, False),
        ):
            if mname not in metric_registry:
                register_metric(metric=mname, higher_is_better=higher, aggregation="mean")(fn)
        if "pooled_mean" not in aggregation_registry:
            register_aggregation("pooled_mean")(pooled_mean)
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
        _done = True
