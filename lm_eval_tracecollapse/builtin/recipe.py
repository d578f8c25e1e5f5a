"""The built-in tiny reasoning model (``builtin:tiny-arith[@size]``): its recipe.

A character-level tokenizer with ``<think>`` tags as ordinary tokens and a small Llama
trained from scratch on arithmetic whose answers carry a worked trace
(:func:`train_base`), and the trace-carrying SFT items the study fine-tunes it on
(:func:`sft_examples`).  The study (``model: builtin:tiny-arith``) and the demo build on
it; it imports neither.

Example:
    >>> builtin_size("builtin:tiny-arith@toy"), builtin_size("builtin:tiny-arith")
    ('toy', 'small')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..training.masking import TraceMaskCollator, split_trace, tokenize_with_masks, weighted_causal_lm_loss
from .data import response, train_items
from .tiny import build_model, build_tokenizer

__all__ = ["SIZES", "THREADS", "DemoSize", "base_tokenizer", "builtin_path", "builtin_size", "chats", "pin_torch",
           "sft_examples", "train", "train_base"]  # fmt: skip


@dataclass(frozen=True)
class DemoSize:
    """The built-in base model's recipe (``builtin:tiny-arith@<size>``) and its SFT items."""

    base_items: int
    base_steps: int
    sft_items: int
    hidden: int
    layers: int = 2
    batch: int = 64
    base_lr: float = 3e-3
    sft_hard_share: float = 0.0  # share of 2-digit items in the trace-free SFT data
    base_hard_share: float = 0.5  # share of 2-digit items in the base's training data
    seed: int = 0  # model init, data order and the SFT data draw


SIZES = {
    "toy": DemoSize(base_items=64, base_steps=3, sft_items=32, hidden=32, batch=16),
    "small": DemoSize(base_items=4000, base_steps=500, sft_items=2000, hidden=128, layers=4),
    "full": DemoSize(base_items=20000, base_steps=1500, sft_items=5000, hidden=192),
}
#: torch threads for training and evaluation: fixed, so the float reduction order (and the
#: numbers) do not depend on the machine's core count
THREADS = 2


def chats(items: list[dict[str, str]], trace: str) -> list[dict[str, Any]]:
    """SFT examples with the trace in a ``reasoning`` key: the template writes the block
    (``<think>\\n…\\n</think>\\n`` on the demo's ChatML, the text the demo has always trained on)."""
    rows: list[dict[str, Any]] = []
    for it in items:
        reasoning, answer = split_trace(response(it, trace))
        rows.append({"prompt": it["question"], "response": answer}
                    | ({} if reasoning is None else {"reasoning": reasoning}))  # fmt: skip
    return rows


def train(model: Any, rows: list[dict[str, list]], tok: Any, steps: int, lr: float, batch: int, desc: str,
           seed: int = 0) -> None:  # fmt: skip
    """AdamW on ``rows`` (the base's pre-training, and tests' tiny models)."""
    import torch

    torch.manual_seed(seed)
    collate = TraceMaskCollator(tok)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    order = torch.randperm(len(rows)).tolist()
    bar = tqdm(range(steps), desc=desc, leave=False)
    for step in bar:
        start = (step * batch) % len(rows)
        picked = [rows[order[(start + i) % len(rows)]] for i in range(batch)]
        b = collate(picked)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        loss = weighted_causal_lm_loss(logits, b["labels"], b.get("loss_weights"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()


def pin_torch(threads: int = THREADS) -> None:
    """A fixed thread count (``docs/demo.md`` says what else is pinned).  The CPU kernels the
    demo uses are deterministic at a fixed thread count: ``torch.use_deterministic_algorithms(True)``
    gave bit-identical weights and is left off (it only adds checks)."""
    import torch

    torch.set_num_threads(threads)


def base_tokenizer(size: str | DemoSize, chat_template: str | None = None) -> Any:
    """The built-in base's tokenizer: trained on its arithmetic, ``<think>`` tags as ordinary
    added tokens (and Qwen3's ``<tool_call>`` tags too), ChatML unless ``chat_template`` is given."""
    s = SIZES[size] if isinstance(size, str) else size
    items = train_items(s.base_items, seed=s.seed, hard_share=s.base_hard_share)
    corpus = ["0123456789+=, The answer is.", *(response(it) for it in items[:200])]
    if chat_template is None:
        return build_tokenizer(corpus, vocab_size=280)
    added = ["<think>", "</think>", "<tool_call>", "</tool_call>"]  # as Qwen-style releases add them
    return build_tokenizer(corpus, vocab_size=280, chat_template=chat_template, added_tokens=added)


def train_base(size: str | DemoSize, path: Path, *, chat_template: str | None = None, arch: str = "llama",
               threads: int = THREADS) -> Path:  # fmt: skip
    """Build the tokenizer and train the tiny base of ``size`` (a :data:`SIZES` name or a recipe of
    your own) from scratch; saved at ``path``.  ``chat_template`` (default ChatML) is the template
    it learns its turns in, e.g. a real model's, with ``arch`` (``llama``, ``qwen3``) its shape;
    ``threads``: torch's thread count from here on (:func:`pin_torch`)."""
    pin_torch(threads)
    s = SIZES[size] if isinstance(size, str) else size
    data = train_items(s.base_items, seed=s.seed, hard_share=s.base_hard_share)
    tok = base_tokenizer(s, chat_template)
    model = build_model(tok, hidden=s.hidden, layers=s.layers, heads=4, seed=s.seed, arch=arch)
    rows = tokenize_with_masks(chats(data, "full"), tok, mode="prompt")
    train(model, rows, tok, s.base_steps, s.base_lr, s.batch, "training the built-in base model", seed=s.seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def sft_examples(size: str) -> list[dict[str, str]]:
    """The trace-carrying SFT examples of ``data.train: builtin:tiny-arith`` (``prompt``,
    ``reasoning``, ``response``), drawn apart from the base's items.

    >>> ex = sft_examples("toy")[0]
    >>> sorted(ex), ex["response"].startswith("The answer is")
    (['prompt', 'reasoning', 'response'], True)
    """
    s = SIZES[size]
    items = train_items(s.sft_items, seed=s.seed + 1, hard_share=s.sft_hard_share)
    return [{"prompt": it["question"], "reasoning": it["reasoning"], "response": response(it, "none")}
            for it in items]  # fmt: skip


def builtin_size(model: str) -> str:
    """The size of ``builtin:tiny-arith[@size]`` (default ``small``, as ``make demo``)."""
    return model.split("@", 1)[1] if "@" in model else "small"


def builtin_path(model: str, cache: Path) -> Path:
    """Where the built-in base of ``model`` is kept under ``cache``.

    >>> builtin_path("builtin:tiny-arith@toy", Path("runs/x/builtin")).as_posix()
    'runs/x/builtin/tiny-arith-toy'
    """
    return cache / f"tiny-arith-{builtin_size(model)}"
