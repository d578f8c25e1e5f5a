"""``tc_replay``: an lm-eval model that answers from saved generations.

Re-score outputs you already have — from any server, any earlier lm-eval run — with
our filter and metrics, without a GPU::

    tracecollapse eval --model tc_replay --model_args path=out/ --include_path task_yamls --tasks tc_gsm8k_256

``path`` is a file or a folder (searched recursively for ``*.jsonl``) holding either

* lm-eval ``--log_samples`` files (``samples_<task>_<date>.jsonl``: the raw ``resps``
  are replayed, matched by prompt text, then by task and ``doc_id``), or
* plain JSONL lines ``{"prompt" | "doc_id" (+ optional "task"), "response",
  "finish_reason"?, "reasoning_content"?}``; several lines for one key are replayed in
  order (repeats).  Lines saved from a server that split the trace off
  (``reasoning_content`` or ``reasoning``, ``response`` possibly null) are rebuilt as
  ``<think>reasoning</think>response`` (``reasoning_fmt`` picks the family), unclosed
  when there is no answer, as ``tc_chat_api`` does.

``finish_reason`` travels with the response (a :class:`Generation`), so
``finish_reason: "length"`` marks an unclosed trace as truncated.  A request with no
saved generation is an error that says how many are missing and shows the first.

Example:
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "gens.jsonl"
    >>> _ = p.write_text(json.dumps({"prompt": "Q: 2+2?", "response": "<think>2+2</think>4"}) + "\\n")
    >>> lm = ReplayLM(path=str(p))
    >>> from lm_eval.api.instance import Instance
    >>> req = Instance("generate_until", {}, ("Q: 2+2?", {"until": []}), 0, ("t", 0, 1))
    >>> lm.generate_until([req])
    ['<think>2+2</think>4']
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from .._jsonl import iter_jsonl
from ..report.samples import sample_prompt, sample_task
from ._text import rebuild_text

__all__ = ["Generation", "ReplayLM", "load_generations"]


class Generation(str):
    """A generated text that remembers why generation stopped (``finish_reason``).

    >>> g = Generation("<think>a", finish_reason="length")
    >>> g, g.finish_reason
    ('<think>a', 'length')
    """

    finish_reason: str | None

    def __new__(cls, text: str = "", finish_reason: str | None = None) -> Generation:
        obj = super().__new__(cls, text)
        obj.finish_reason = finish_reason
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Generation, (str(self), self.finish_reason))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
        if not files:
            raise FileNotFoundError(f"tc_replay: no *.jsonl file under {path}")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"tc_replay: {path} does not exist (model_args path=<file or folder>)")
    return [path]


def _response_list(rec: dict[str, Any], where: str, fmt: str = "think") -> list[Generation]:
    """Generations of one record, from lm-eval ``resps`` or our ``response``."""
    if "resps" in rec:
        resps = rec["resps"]
        flat = resps[0] if resps and isinstance(resps[0], list) else resps
        if not isinstance(flat, list) or not all(isinstance(r, str) for r in flat):
            raise ValueError(f"tc_replay: {where}: 'resps' must be a list of lists of strings")
        return [Generation(r) for r in flat]
    response = rec.get("response")
    finish = rec.get("finish_reason")
    reasoning = rec.get("reasoning_content", rec.get("reasoning"))
    if reasoning is not None:  # saved from a server that split the trace off
        if not isinstance(reasoning, str) or not (response is None or isinstance(response, str)):
            raise ValueError(f"tc_replay: {where}: 'reasoning_content' and 'response' must be strings (or null)")
        return [Generation(rebuild_text(reasoning, response, finish, fmt), finish)]
    if not isinstance(response, str):
        raise ValueError(
            f"tc_replay: {where}: needs a string 'response' (or lm-eval's 'resps'), got {type(response).__name__}"
        )
    return [Generation(response, finish)]


def load_generations(
    path: str | Path, reasoning_fmt: str = "think"
) -> tuple[dict[str, list[Generation]], dict[tuple[str | None, int], list]]:
    """(by prompt, by (task, doc_id)) generations found under ``path``."""
    by_prompt: dict[str, list[Generation]] = defaultdict(list)
    by_doc: dict[tuple[str | None, int], list[Generation]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for file in _files(Path(path)):
        file_task = sample_task(file)
        for no, rec in iter_jsonl(file, "tc_replay"):
            where = f"{file}:{no}"
            if "resps" in rec and "doc_id" in rec:
                # lm-eval writes one line per filter pipeline: keep the first per doc
                key = (str(file), int(rec["doc_id"]))
                if key in seen:
                    continue
                seen.add(key)
            gens = _response_list(rec, where, reasoning_fmt)
            prompt = sample_prompt(rec)
            if prompt is None and "doc_id" not in rec:
                raise ValueError(f"tc_replay: {where}: needs 'prompt' or 'doc_id' to match requests")
            if prompt is not None:
                by_prompt[prompt].extend(gens)
            if "doc_id" in rec:
                task = rec.get("task", file_task)
                by_doc[(task, int(rec["doc_id"]))].extend(gens)
                by_doc[(None, int(rec["doc_id"]))].extend(gens)
    return dict(by_prompt), dict(by_doc)


class ReplayLM(LM):
    """lm-eval model ``tc_replay`` (see the module docstring)."""

    def __init__(self, path: str | None = None, reasoning_fmt: str = "think", **_ignored: Any) -> None:
        super().__init__()
        if not path:
            raise ValueError("tc_replay needs model_args path=<samples file, JSONL file or folder>")
        self.path = str(path)
        self._by_prompt, self._by_doc = load_generations(path, reasoning_fmt)
        self._served: dict[object, int] = defaultdict(int)

    def _lookup(self, req: Any) -> Generation | None:
        prompt = req.args[0]
        lookups: list[tuple[Any, dict[Any, list[Generation]]]] = [
            (prompt, self._by_prompt),
            ((req.task_name, req.doc_id), self._by_doc),
            ((None, req.doc_id), self._by_doc),
        ]
        for key, table in lookups:
            gens = table.get(key)
            if gens:
                i = self._served[(id(table), key)]
                self._served[(id(table), key)] += 1
                return gens[i % len(gens)]
        return None

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out: list[str] = []
        missing = []
        for req in requests:
            gen = self._lookup(req)
            if gen is None:
                missing.append(req)
                out.append("")
            else:
                out.append(gen)
        if missing:
            first = missing[0]
            raise ValueError(
                f"tc_replay: {len(missing)} of {len(requests)} requests have no saved generation in {self.path} "
                f"(matched by prompt, then task+doc_id). First: task={first.task_name!r} doc_id={first.doc_id} "
                f"prompt={first.args[0][:200]!r}"
            )
        return out

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError("tc_replay replays generations; it cannot score log-likelihood tasks")

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("tc_replay replays generations; it cannot score log-likelihood tasks")

    @property
    def tokenizer_name(self) -> str:
        return "tc_replay"

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Replayed prompts are matched as text: render chats as JSON, as API models do."""
        return json.dumps(chat_history, ensure_ascii=False)
