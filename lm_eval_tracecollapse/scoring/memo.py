"""One scoring cache: lm-eval calls every metric of a task separately with the same
prediction (``pass@1`` and ``rpass@1``; ``math_verify`` and ``math_timeout``), and a
grader may take seconds, so each (grader, inputs) is computed once per process.

Values must be pure functions of their key.  The cache is bounded (least recently used
entries go first) and thread-safe; nothing is attached to the objects lm-eval passes
around, so pickling them carries no cache.

Example:
    >>> calls = []
    >>> def slow() -> int:
    ...     calls.append(1)
    ...     return 42
    >>> once(("demo", "x"), slow), once(("demo", "x"), slow), len(calls)
    (42, 42, 1)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["clear", "once"]

T = TypeVar("T")

_SIZE = 8192
_lock = threading.Lock()
_memo: OrderedDict[Hashable, Any] = OrderedDict()


def once(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or the value it returned before for ``key`` (computed outside the
    lock: two threads may both compute a new key, never a wrong value)."""
    with _lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    value = compute()
    with _lock:
        _memo[key] = value
        if len(_memo) > _SIZE:
            _memo.popitem(last=False)
    return value


def clear() -> None:
    """Forget every cached score (tests; a grader whose behaviour changed)."""
    with _lock:
        _memo.clear()
