"""SFT data for the study: read, shaped per strategy, and the built-in tiny base model.

A JSONL line is ``{"prompt", "response"[, "reasoning"]}`` or ``{"messages": [...]}``
(the last message is the assistant's target, its trace in a ``reasoning`` key or in
its content).  :func:`for_strategy` drops the traces for the trace-free strategies
(the paper's setting) and insists on them for distillation.

Example:
    >>> from lm_eval_tracecollapse.study.config import StrategyKind, StrategySpec
    >>> ex = {"prompt": "2+3", "reasoning": "2+3=5", "response": "5"}
    >>> for_strategy([ex], StrategySpec(StrategyKind.MASK))
    [{'prompt': '2+3', 'response': '5'}]
    >>> for_strategy([{"prompt": "q", "response": "<think>t</think>a"}], StrategySpec(StrategyKind.EMPTY))
    [{'prompt': 'q', 'response': 'a'}]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..builtin.recipe import builtin_path, builtin_size, sft_examples, train_base
from ..samples.jsonl import iter_jsonl
from ..training.masking import split_trace
from .config import StrategyKind, StrategySpec, StudyConfig

__all__ = ["builtin_base", "builtin_path", "builtin_size", "data_fingerprint", "for_strategy", "load_examples"]


def load_examples(cfg: StudyConfig) -> list[dict[str, Any]]:
    """The SFT examples the config names (``builtin:tiny-arith``: the demo's SFT items)."""
    if cfg.data.train == "builtin:tiny-arith":
        rows: list[dict[str, Any]] = list(sft_examples(builtin_size(cfg.model) if cfg.model.startswith("builtin:")
                                                       else "small"))  # fmt: skip
    else:
        path = Path(cfg.data.train)
        if not path.is_file():
            raise FileNotFoundError(f"data.train: {path} is not a file (a JSONL of prompt/response or messages)")
        rows = []
        for n, row in iter_jsonl(path, "data.train"):  # a line that is not a JSON object: its one error
            if not ("messages" in row or {"prompt", "response"} <= row.keys()):
                raise ValueError(f"data.train: {path}:{n}: needs 'messages', or 'prompt' and 'response'")
            rows.append(row)
    if cfg.data.limit is not None:
        rows = rows[: cfg.data.limit]
    if not rows:
        raise ValueError(f"data.train: {cfg.data.train} holds no example")
    return rows


def data_fingerprint(cfg: StudyConfig) -> dict[str, Any] | None:
    """``{"path", "sha256", "bytes"}`` of the SFT data file (None: built-in data, or no file to
    read), which a resumed study compares with the one it recorded when it started.

    >>> import tempfile
    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> path = Path(tempfile.mkdtemp()) / "d.jsonl"
    >>> _ = path.write_text('{"prompt": "q", "response": "a"}\\n')
    >>> data_fingerprint(parse_config({"name": "t", "model": "m", "data": {"train": str(path)}}))["sha256"][:12]
    '5580f549e554'
    """
    path = Path(cfg.data.train)
    if cfg.data.train.startswith("builtin:") or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path.resolve()), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def for_strategy(examples: Sequence[Mapping[str, Any]], spec: StrategySpec, fmt: str = "think") -> list[dict[str, Any]]:
    """The examples as ``spec`` trains on them: traces dropped (the answer alone left)
    or kept; distillation refuses an example without a trace."""
    out = []
    for i, ex in enumerate(examples):
        row = {k: (list(v) if k == "messages" else v) for k, v in ex.items()}
        if "messages" in row:
            last = dict(row["messages"][-1])
            reasoning, answer = split_trace(str(last.get("content") or ""), fmt)
            reasoning = last.pop("reasoning", reasoning)
            last["content"] = answer
            if spec.keeps_traces and reasoning is not None:
                last["reasoning"] = reasoning
            row["messages"] = [*row["messages"][:-1], last]
        else:
            reasoning, answer = split_trace(str(row["response"]), fmt)
            reasoning = str(row.pop("reasoning")) if "reasoning" in row else reasoning
            row["response"] = answer
            if spec.keeps_traces and reasoning is not None:
                row["reasoning"] = reasoning
        if spec.kind is StrategyKind.DISTILLATION and not (row.get("reasoning") or _last_reasoning(row)):
            raise ValueError(f"data.train: example {i} has no teacher trace ('reasoning'), which distillation needs")
        out.append(row)
    return out


def _last_reasoning(row: Mapping[str, Any]) -> str | None:
    messages = row.get("messages")
    return messages[-1].get("reasoning") if messages else None


def builtin_base(model: str, cache: Path) -> Path:
    """Build and train the demo's tiny base once (the same recipe as ``make demo``'s
    base: character-level arithmetic with worked traces); cached under ``cache``.
    Only the main process trains it; the others wait and read it."""
    from ._io import atomic_json, is_done, process_state

    path = builtin_path(model, cache)
    state = process_state()
    if not is_done(path) and state.is_main_process:  # built aside, then moved: jobs of one study may race
        path.parent.mkdir(parents=True, exist_ok=True)
        built = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
        train_base(builtin_size(model), built)
        atomic_json(built / ".done", {"model": model, "pid": os.getpid()})
        if path.exists() and not is_done(path):  # a killed build
            shutil.rmtree(path, ignore_errors=True)
        try:
            os.replace(built, path)
        except OSError:  # another job moved its (identical) base there first
            shutil.rmtree(built, ignore_errors=True)
    state.wait_for_everyone()
    return path
