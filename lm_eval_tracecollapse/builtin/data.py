"""Synthetic arithmetic with worked traces: the demo's training and evaluation items.

*Easy* items are 1-digit sums (a tiny model can answer them without a trace); *hard*
items are 2-digit sums whose trace works column by column with the carry (it cannot).

Example:
    >>> easy_item(3, 8)
    {'question': '3+8', 'reasoning': '3+8=11', 'answer': '11'}
    >>> hard_item(23, 48)["reasoning"]
    '3+8=11,2+4+1=7'
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["easy_item", "eval_items", "eval_rows", "hard_item", "response", "train_items"]


def easy_item(a: int, b: int) -> dict[str, str]:
    return {"question": f"{a}+{b}", "reasoning": f"{a}+{b}={a + b}", "answer": str(a + b)}


def hard_item(a: int, b: int) -> dict[str, str]:
    ones = a % 10 + b % 10
    carry = ones // 10
    tens = a // 10 + b // 10 + carry
    return {"question": f"{a}+{b}", "reasoning": f"{a % 10}+{b % 10}={ones},{a // 10}+{b // 10}+{carry}={tens}",
            "answer": str(a + b)}  # fmt: skip


def response(item: dict[str, str], trace: str = "full") -> str:
    """The assistant text: ``full`` trace, ``empty`` block, or ``none``."""
    answer = f"The answer is {item['answer']}."
    if trace == "full":
        return f"<think>{item['reasoning']}</think>{answer}"
    return f"<think></think>{answer}" if trace == "empty" else answer


def _pairs(kind: str, rng: random.Random, n: int) -> list[tuple[int, int]]:
    lo, hi = (0, 9) if kind == "easy" else (10, 99)
    return [(rng.randint(lo, hi), rng.randint(lo, hi)) for _ in range(n)]


def train_items(n: int, seed: int, hard_share: float = 0.5) -> list[dict[str, str]]:
    """``n`` training items, a ``hard_share`` of them 2-digit (seeded)."""
    rng = random.Random(seed)
    n_hard = int(n * hard_share)
    easy = [easy_item(a, b) for a, b in _pairs("easy", rng, n - n_hard)]
    hard = [hard_item(a, b) for a, b in _pairs("hard", rng, n_hard)]
    items = easy + hard
    rng.shuffle(items)
    return items


def eval_rows(kind: str, n: int = 100, seed: int = 1234) -> list[dict[str, str]]:
    """``n`` held-out items of ``kind`` (easy|hard), as the lm-eval tasks see them."""
    rng = random.Random(seed)
    make = easy_item if kind == "easy" else hard_item
    return [make(a, b) for a, b in _pairs(kind, rng, n)]


def eval_items(kind: str, n: int = 100, seed: int = 1234, **_: Any) -> Any:
    """lm-eval ``custom_dataset`` hook: ``n`` held-out items of ``kind`` (easy|hard)."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(eval_rows(kind, n, seed))})


def easy_eval(**kwargs: Any) -> Any:
    """``custom_dataset`` for ``tc_demo_easy`` (``--metadata '{"n": 100}'`` sets the size)."""
    return eval_items("easy", **kwargs)


def hard_eval(**kwargs: Any) -> Any:
    """``custom_dataset`` for ``tc_demo_hard``."""
    return eval_items("hard", **kwargs)
