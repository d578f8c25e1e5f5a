"""lm-eval model settings that cut the trace off before any filter sees it.

lm-eval's ``hf``, ``vllm``, ``sglang`` and ``local-completions`` models take
``think_end_token`` (required by ``enable_thinking=True``): each generation is then cut
to the text after its last ``think_end_token`` before the task's filters run, so a
traced task never sees a trace and counts every response as missing.  lm-eval merges
a run's ``--model_args`` into every task's metadata, so a traced task can tell when it
is built, before generation, and say which setting to drop.

Example:
    >>> thinking_args_warning({"pretrained": "Qwen/Qwen3-8B"}) is None
    True
    >>> thinking_args_warning({"think_end_token": "</think>"}).split(":")[0]
    "model_args think_end_token='</think>' makes lm-eval cut each response to the text after </think>"
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["thinking_args_warning", "warn_thinking_args"]

log = logging.getLogger(__name__)

_said: set[str] = set()


def _on(value: Any) -> bool:
    """A model arg that is set: lm-eval parses ``key=value`` strings, so ``"False"`` may arrive."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "none", "null")
    return bool(value)


def thinking_args_warning(model_args: Mapping[str, Any]) -> str | None:
    """The warning for a traced run whose model args (or task metadata, which lm-eval
    fills from them) set ``think_end_token`` or ``enable_thinking``; None otherwise."""
    token = model_args.get("think_end_token")
    thinking = model_args.get("enable_thinking")
    if not _on(token) and not _on(thinking):
        return None
    set_ = [f"{k}={v!r}" for k, v in (("think_end_token", token), ("enable_thinking", thinking)) if _on(v)]
    cut = f"the text after {token}" if _on(token) else "the text after the think_end_token it requires"
    return (
        f"model_args {' and '.join(set_)} makes lm-eval cut each response to {cut}: before any filter runs, so the "
        "traced tasks see no trace and count every response as missing (rpass@1 N/A). Drop "
        + " and ".join(k.split("=")[0] for k in set_)
        + " from --model_args: a reasoning model's chat template thinks by default, and the _tc tasks split the "
        "trace off themselves"
    )


def warn_thinking_args(model_args: Mapping[str, Any]) -> None:
    """Log :func:`thinking_args_warning`'s message, once per process (a group's subtasks share it)."""
    message = thinking_args_warning(model_args)
    if message and message not in _said:
        _said.add(message)
        log.warning(message)
