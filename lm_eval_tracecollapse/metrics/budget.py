"""The budget warning: responses cut by the generation limit inside their trace.

A response **stopped at the budget** when its trace is unclosed (status
``truncated``) and either the model said so (``finish_reason == "length"``) or,
with a tokenizer, the response is at least ``max_gen_toks`` tokens long.  Such a
trace says nothing about the model's answer — only that the budget was too small —
so a task with any gets one warning naming the share and the budget to raise
(per-family values: ``docs/failure-kinds.md``).

Example:
    >>> from lm_eval_tracecollapse.core.carriers import Response
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> r = Response("<think>Let me see", finish_reason="length")
    >>> print(budget_warning("gsm8k_tc", [(r, parse_trace(r, finish_reason="length"), 256)]))
    gsm8k_tc: 1 of 1 responses (100.0%) stopped at the generation limit (max_gen_toks=256) inside an unclosed \
trace and count as truncated; raise the budget, e.g. --gen_kwargs max_gen_toks=512 (per-family values: \
docs/failure-kinds.md)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.parse import Trace, TraceStatus

__all__ = ["at_budget", "budget_warning"]


def at_budget(response: Any, trace: Trace, max_gen_toks: int | None, count_tokens: Callable[[str], int] | None) -> bool:
    """Whether one response stopped at the generation limit with its trace unclosed.

    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> at_budget("<think>a b c", parse_trace("<think>a b c"), 3, lambda s: len(s.split()))
    True
    """
    if trace.status is not TraceStatus.TRUNCATED:
        return False
    if getattr(response, "finish_reason", None) == "length":
        return True
    return bool(count_tokens and max_gen_toks and count_tokens(str(response)) >= max_gen_toks)


def budget_warning(
    task: str,
    items: Sequence[tuple[Any, Trace, int | None]],
    count_tokens: Callable[[str], int] | None = None,
) -> str | None:
    """The warning for a task's ``(response, trace, max_gen_toks)`` items, or None when
    no response stopped at the budget."""
    hits = [budget for resp, trace, budget in items if at_budget(resp, trace, budget, count_tokens)]
    if not hits:
        return None
    budgets = sorted({b for b in hits if b})
    if len(budgets) == 1:
        where, advice = f"max_gen_toks={budgets[0]}", f"e.g. --gen_kwargs max_gen_toks={2 * budgets[0]}"
    elif budgets:
        where, advice = f"max_gen_toks {budgets[0]}..{budgets[-1]}", f"e.g. --gen_kwargs max_gen_toks={2 * budgets[-1]}"
    else:  # the task sets none: the model's default applies (256 for lm-eval's hf model)
        where, advice = "the model's default max_gen_toks", "with --gen_kwargs max_gen_toks=<n>"
    share = len(hits) / len(items)
    return (
        f"{task}: {len(hits)} of {len(items)} responses ({share:.1%}) stopped at the generation limit ({where}) "
        f"inside an unclosed trace and count as truncated; raise the budget, {advice} "
        "(per-family values: docs/failure-kinds.md)"
    )
