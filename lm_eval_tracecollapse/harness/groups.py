"""Our metrics at every group level, and the standard error of ``pooled_mean``.

lm-eval 0.4.13 aggregates a group's ``aggregate_metric_list`` one way only: the mean
of its leaf tasks' values weighted by each task's document count (or unweighted),
and it computes a standard error only for the aggregations it knows by identity
(``mean`` and a few bootstrapped ones).  Neither is right for a ratio such as
``rpass@1`` (correct among the valid-trace responses: a subtask weighs by its valid
responses, and a subtask with none must not count) nor for rates with ``repeats``
(weights are responses, not documents).  lm-eval has no hook for either, so
:func:`install` extends exactly two functions, only for what is ours:

* ``Group.aggregate``: after lm-eval's own computation (its rows stay exactly as
  lm-eval computes them), the rows of *our* metrics (:data:`~.metrics.METRICS` and
  :data:`~.failure_kinds.EXTRA_METRICS`; an extra row no leaf has — switched off, or
  the other length unit — is left out without lm-eval's "no values" warning), and the
  @k rows (:mod:`~.metrics.at_k`) of leaves with ``repeats``, listed or not, are
  recomputed from the leaves' :class:`~.metrics.Pooled` values — weighted by each
  leaf's pooled weight when the entry weights by size (lm-eval's default), else the
  plain mean over leaves; subtasks whose value is ``N/A`` are left out, and the row is
  ``N/A`` when all are.  Stderr as lm-eval computes group stderr: pooled variance
  over the leaves' documents (``pooled_sample_stderr``), or the unweighted formula.
* ``stderr_for_metric``: for :func:`~.metrics.pooled_mean`, returns
  :func:`~.metrics.pooled_stderr`; every other aggregation gets lm-eval's answer.

Example:
    >>> from lm_eval_tracecollapse.metrics.pooled import Pooled
    >>> pool_leaves([(Pooled(1.0, 3, 3), 0.0), (Pooled(0.0, 1, 1), "N/A")], True)[0]
    0.75
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from ..metrics.at_k import is_at_k
from ..metrics.failure_kinds import EXTRA_METRICS
from ..metrics.pooled import pool_leaves, pooled_mean, pooled_stderr
from ..metrics.trace_rates import METRICS
from . import compat

#: every row this module pools: the paper's seven and the extra rows
OURS = frozenset(METRICS) | frozenset(EXTRA_METRICS)

__all__ = ["install"]

_lock = threading.Lock()


def _aggregate(original: Any) -> Any:
    def aggregate(self: Any, task_metrics: dict[str, Any]) -> Any:
        leaves = [t.task_name for t in self.get_all_tasks()]
        entries = self.aggregate_metric_list
        present = {k.split(",", 1)[0] for t in leaves for k in task_metrics.get(t, {})}
        kept = [c for c in entries or [] if c.metric not in EXTRA_METRICS or c.metric in present]
        # lm-eval's own rows for the metrics some leaf has (an extra row switched off everywhere is
        # dropped), computed on a shallow copy: the group itself is left as configured
        narrowed = copy.copy(self)
        narrowed.aggregate_metric_list = kept if entries is not None else entries
        out = original(narrowed, task_metrics)
        rows = [(c.metric, c.filter_list, c.weight_by_size) for c in kept if c.metric in OURS]
        # the @k rows of leaves with repeats, listed or not (their k's are the leaves' own)
        listed = {c.metric for c in kept}
        weight = kept[0].weight_by_size if kept else True
        rows += [(m, None, weight) for m in sorted(present - listed, key=_at_k_order) if is_at_k(m)]
        for metric, filter_list, by_size in rows:
            filters = filter_list if filter_list is not None else compat.discover_filters(self, metric, task_metrics)
            for name in filters:
                key, skey = f"{metric},{name}", f"{metric}_stderr,{name}"
                found = [task_metrics[t] for t in leaves if key in task_metrics.get(t, {})]
                if not found:
                    continue
                parts = [(r[key], r.get(skey, "N/A")) for r in found]
                sizes = [int(r.get("sample_len", 0)) for r in found]
                out[key], out[skey] = pool_leaves(parts, by_size, sizes)
        return out

    return aggregate


def _at_k_order(name: str) -> tuple[int, str]:
    """@k rows by k, then name: ``pass@2`` … before ``pass@4`` …"""
    return (int(name.split("@", 1)[1].split("_", 1)[0]), name) if "@" in name else (0, name)


def _stderr_for_metric(original: Any) -> Any:
    def stderr_for_metric(metric: Any, bootstrap_iters: int) -> Any:
        if metric is pooled_mean:
            return pooled_stderr if bootstrap_iters > 0 else None
        return original(metric=metric, bootstrap_iters=bootstrap_iters)

    return stderr_for_metric


def install() -> None:
    """Extend lm-eval's group aggregation and stderr lookup (idempotent; called when a traced
    task or the ``trace_status`` filter is built, never on import: :mod:`.compat`)."""
    compat.install_group_hooks(_aggregate, _stderr_for_metric)
