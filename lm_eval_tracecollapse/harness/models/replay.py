"""``tc_replay``: an lm-eval model that answers from saved generations.

Re-score outputs you already have — from any server, any earlier lm-eval run — with
our filter and metrics, without a GPU::

    tracecollapse eval --model tc_replay --model_args path=out/ --include_path task_yamls --tasks tc_gsm8k_256

``path`` is a file or a folder (searched recursively for ``*.jsonl``) holding either

* lm-eval ``--log_samples`` files (``samples_<task>_<date>.jsonl``: the raw ``resps``
  are replayed, matched by prompt text, then by task and ``doc_id``), or
* plain JSONL lines ``{"prompt" | "doc_id" (+ optional "task"), "response",
  "finish_reason"?, "reasoning_content"?}``.  Lines saved from a server that split the
  trace off (``reasoning_content`` or ``reasoning``, ``response`` possibly null) are
  rebuilt as ``<think>reasoning</think>response`` (``reasoning_fmt`` picks the family),
  unclosed when there is no answer, as ``tc_chat_api`` does.

A request is matched by its prompt text (lines of its own task first, so a task and its
``_tc`` wrapper with the same prompts keep their own lines), else by its task and
``doc_id``, else by its ``doc_id`` alone.  Several lines for one key are served in file
order, one per request (a task with ``repeats: k`` asks each document k times, so save
k lines per document, in order); a key with fewer lines than the run's requests for it
is an error, never a silently reused line (only a prompt asked again in a later call,
as a paraphraser does, gets its answer again).  A line matched by ``doc_id`` alone (no ``"task"``, no
matching prompt) is used only when that is unambiguous: a run with requests from more
than one task (a group: every subtask has doc_ids 0..n-1), or doc_id lines from more
than one task, is an error asking for the ``"task"`` field (or the ``"prompt"``).

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
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from ...core.carriers import Generation
from ...samples.files import sample_prompt, sample_task
from ...samples.jsonl import iter_jsonl
from ._text import rebuild_text

__all__ = ["Generation", "ReplayLM", "load_generations"]

_OWN_PROMPT, _PROMPT, _TASK, _DOC = "prompt+task", "prompt", "task", "doc_id"
#: (how a request matched, the key): ("prompt+task", (text, task)), ("prompt", text),
#: ("task", (task, doc_id)) or ("doc_id", (None, doc_id))
_Key = tuple[str, Any]


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
    """(by prompt, by (task, doc_id)) generations found under ``path``.

    A line with a task (its ``"task"`` field, or the task in a samples file's name) is
    filed under ``(task, doc_id)``; every line with a ``doc_id`` is also filed, once,
    under ``(None, doc_id)``, the doc_id-only fallback that :class:`ReplayLM` uses
    only when it is unambiguous.
    """
    loaded = _load(Path(path), reasoning_fmt)
    return dict(loaded.by_prompt), dict(loaded.by_doc)


@dataclass
class _Loaded:
    """The saved generations under their keys (see :func:`load_generations`)."""

    by_prompt: dict[str, list[Generation]] = field(default_factory=lambda: defaultdict(list))
    #: lines with both a prompt and a task: a prompt shared by several tasks (a task and
    #: its ``_tc`` wrapper, say) still gives each task its own lines
    by_own_prompt: dict[tuple[str, str], list[Generation]] = field(default_factory=lambda: defaultdict(list))
    by_doc: dict[tuple[str | None, int], list[Generation]] = field(default_factory=lambda: defaultdict(list))
    #: per doc_id, the tasks its lines came from (None: a line without one)
    doc_tasks: dict[int, set[str | None]] = field(default_factory=lambda: defaultdict(set))


def _check_line(rec: dict[str, Any], where: str) -> None:
    """Refuse, at load, a line whose fields have the wrong type (``doc_id`` not an
    integer, ``finish_reason``/``task``/``prompt`` not strings), naming its file:line."""
    if "doc_id" in rec and (isinstance(rec["doc_id"], bool) or not isinstance(rec["doc_id"], int)):
        raise ValueError(f"tc_replay: {where}: 'doc_id' must be an integer, got {rec['doc_id']!r}")
    for name in ("finish_reason", "task", "prompt"):
        value = rec.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"tc_replay: {where}: {name!r} must be a string (or null), got {value!r}")


def _load(path: Path, reasoning_fmt: str) -> _Loaded:
    out = _Loaded()
    seen: set[tuple[str, int]] = set()
    for file in _files(path):
        file_task = sample_task(file)
        for no, rec in iter_jsonl(file, "tc_replay"):
            where = f"{file}:{no}"
            _check_line(rec, where)
            if "resps" in rec and "doc_id" in rec:
                # lm-eval writes one line per filter pipeline: keep the first per doc
                key = (str(file), rec["doc_id"])
                if key in seen:
                    continue
                seen.add(key)
            gens = _response_list(rec, where, reasoning_fmt)
            prompt = sample_prompt(rec)
            if prompt is None and "doc_id" not in rec:
                raise ValueError(f"tc_replay: {where}: needs 'prompt' or 'doc_id' to match requests")
            task = rec.get("task", file_task)
            task = None if task is None else str(task)
            if prompt is not None:
                out.by_prompt[prompt].extend(gens)
                if task is not None:
                    out.by_own_prompt[(prompt, task)].extend(gens)
            if "doc_id" in rec:
                doc_id = rec["doc_id"]
                if task is not None:
                    out.by_doc[(task, doc_id)].extend(gens)
                out.by_doc[(None, doc_id)].extend(gens)  # once: a line without a task is not doubled
                out.doc_tasks[doc_id].add(task)
    return out


def _split_padding(requests: list[Any]) -> tuple[list[Any], set[int]]:
    """(the requests to answer, the positions of padding copies).

    lm-eval runs each request ``repeats`` times (the same object, repeated) and, on
    several ranks, pads a rank that got fewer requests with extra copies of its last
    one, so that every rank runs as many batches.  Copies beyond ``repeats`` are that
    padding: they get an answer (lm-eval needs one per request) but use no saved line.

    >>> from lm_eval.api.instance import Instance
    >>> r = Instance("generate_until", {}, ("Q", {}), 0, ("t", 0, 1))
    >>> real, pad = _split_padding([r, r]); len(real), pad
    (1, {1})
    """
    seen: dict[int, int] = defaultdict(int)
    real, padding = [], set()
    for i, req in enumerate(requests):
        seen[id(req)] += 1
        if seen[id(req)] > max(getattr(req, "repeats", 1) or 1, 1):
            padding.add(i)
        else:
            real.append(req)
    return real, padding


@dataclass(frozen=True)
class _Distributed:
    """This process's place in a ``torch.distributed`` run (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1

    @staticmethod
    def detect() -> _Distributed:
        """Join the process group a launcher set up (``torchrun``/``accelerate launch``
        set ``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``); gloo, so it works on CPU."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return _Distributed()
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return _Distributed(dist.get_rank(), dist.get_world_size())

    def all_gather(self, tensor: Any) -> Any:
        if self.world_size == 1:
            return tensor
        import torch
        import torch.distributed as dist

        parts = [torch.zeros_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor)
        return torch.stack(parts)

    def gather_object(self, obj: Any, dst: int) -> Any:
        if self.world_size == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.rank == dst else None
        dist.gather_object(obj, out, dst=dst)
        return out

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


class ReplayLM(LM):
    """lm-eval model ``tc_replay`` (see the module docstring)."""

    def __init__(self, path: str | None = None, reasoning_fmt: str = "think", **_ignored: Any) -> None:
        super().__init__()
        if not path:
            raise ValueError("tc_replay needs model_args path=<samples file, JSONL file or folder>")
        self.path = str(path)
        self._saved = _load(Path(path), reasoning_fmt)
        self._served: dict[_Key, int] = defaultdict(int)
        self._dist = _Distributed.detect()

    @property
    def rank(self) -> int:
        return self._dist.rank

    @property
    def world_size(self) -> int:
        return self._dist.world_size

    # Under ``torchrun``/``accelerate launch`` lm-eval gives each rank every
    # world_size-th document and gathers the results with these methods, exactly as
    # with its ``hf`` model on several GPUs.
    def all_gather(self, tensor: Any) -> Any:
        return self._dist.all_gather(tensor)

    def gather_object(self, obj: Any, dst: int = 0) -> Any:
        return self._dist.gather_object(obj, dst)

    def barrier(self) -> None:
        self._dist.barrier()

    def _match(self, req: Any) -> _Key | None:
        """The key that answers ``req``: its prompt (its own task's lines first), else its
        (task, doc_id), else its doc_id alone."""
        prompt, saved = req.args[0], self._saved
        if req.task_name is not None and (prompt, req.task_name) in saved.by_own_prompt:
            return (_OWN_PROMPT, (prompt, req.task_name))
        if prompt in saved.by_prompt:
            return (_PROMPT, prompt)
        if req.task_name is not None and (req.task_name, req.doc_id) in saved.by_doc:
            return (_TASK, (req.task_name, req.doc_id))
        if (None, req.doc_id) in saved.by_doc:
            return (_DOC, (None, req.doc_id))
        return None

    def _gens(self, key: _Key) -> list[Generation]:
        kind, value = key
        if kind == _OWN_PROMPT:
            return self._saved.by_own_prompt[value]
        return self._saved.by_prompt[value] if kind == _PROMPT else self._saved.by_doc[value]

    def _check(self, requests: list[Any], plan: list[_Key]) -> None:
        """Refuse a plan that would guess: doc_id-only lines where the doc_id does not
        say which task they answer, or any key with fewer lines than requests."""
        asked: dict[_Key, list[Any]] = defaultdict(list)
        for req, key in zip(requests, plan, strict=True):
            asked[key].append(req)
        doc_only = [(key[1][1], reqs) for key, reqs in asked.items() if key[0] == _DOC]
        if doc_only:
            tasks = sorted({str(r.task_name) for r in requests})
            if len(tasks) > 1:
                doc_id, reqs = doc_only[0]
                n = sum(len(r) for _, r in doc_only)
                raise ValueError(
                    f"tc_replay: ambiguous saved lines in {self.path}: {n} requests match a line by doc_id alone "
                    f'(no "task" field, no matching "prompt"), but this run has requests from {len(tasks)} tasks '
                    f"({', '.join(tasks)}), so such a line could answer any of them (first: doc_id {doc_id}, asked by "
                    f'task {reqs[0].task_name!r}). Add a "task" field to each line (or the "prompt" it answers); '
                    f"a line is never served to two tasks."
                )
            for doc_id, reqs in doc_only:
                owners = self._saved.doc_tasks.get(doc_id, set())
                if len(owners) > 1:
                    names = ", ".join(sorted("(no task)" if t is None else t for t in owners))
                    raise ValueError(
                        f"tc_replay: ambiguous saved lines in {self.path}: task {reqs[0].task_name!r} doc_id {doc_id} "
                        f"matches no line by prompt or by task, and the lines with doc_id {doc_id} belong to "
                        f'{len(owners)} tasks ({names}). Add the request\'s task as the "task" field (or the '
                        f'"prompt" each line answers).'
                    )
        short = []
        for key, reqs in asked.items():
            # one prompt, one answer: a prompt asked again in a later call may get it again
            served = 0 if key[0] in (_PROMPT, _OWN_PROMPT) else self._served[key]
            if len(reqs) > len(self._gens(key)) - served:
                short.append((key, reqs, served))
        if short:
            key, reqs, served = short[0]
            raise ValueError(self._shortage(key, reqs, served, len(short)))

    def _shortage(self, key: _Key, reqs: list[Any], served: int, n_short: int) -> str:
        req = reqs[0]
        have = len(self._gens(key)) - served
        used = f" unused ({served} already served)" if served else ""
        if key[0] in (_PROMPT, _OWN_PROMPT):
            what = f"the prompt {str(req.args[0])[:120]!r} (task {req.task_name!r}, doc_id {req.doc_id})"
            fix = "save one generation per repeat for it, in order"
        elif key[0] == _TASK:
            what = f"task {req.task_name!r} doc_id {req.doc_id}"
            fix = "save one line per repeat, in order (they are served in file order)"
        else:
            what = f'doc_id {req.doc_id}, keyed by doc_id only (no "task" field, no matching "prompt"),'
            fix = (
                'save one line per repeat, in order (they are served in file order), and add the "task" field '
                '(or the "prompt") to tell lines apart'
            )
        more = f" ({n_short - 1} more keys are short too)" if n_short > 1 else ""
        return (
            f"tc_replay: {what} has {have}{used} saved line(s) in {self.path} but {len(reqs)} requests ask for it "
            f"(task {req.task_name!r} has repeats={req.repeats}); a saved line is never reused for another "
            f"request: {fix}{more}."
        )

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        real, padding = _split_padding(requests)
        out = self._generate(real)
        first: dict[int, str] = {}
        for req, text in zip(real, out, strict=True):
            first.setdefault(id(req), text)
        merged = iter(out)
        # a padding copy (see _split_padding) gets its request's first answer again
        return [first[id(req)] if i in padding else next(merged) for i, req in enumerate(requests)]

    def _generate(self, requests: list[Any]) -> list[str]:
        plan = [self._match(req) for req in requests]
        missing = [req for req, key in zip(requests, plan, strict=True) if key is None]
        if missing:
            first = missing[0]
            raise ValueError(
                f"tc_replay: {len(missing)} of {len(requests)} requests have no saved generation in {self.path} "
                f"(matched by prompt, then task+doc_id). First: task={first.task_name!r} doc_id={first.doc_id} "
                f"prompt={first.args[0][:200]!r}"
            )
        keys = [key for key in plan if key is not None]
        self._check(requests, keys)
        out: list[str] = []
        for key in keys:  # several lines for one key: in order, one per request (repeats)
            gens = self._gens(key)
            i = self._served[key]
            self._served[key] += 1
            out.append(gens[i % len(gens)])  # wraps only for a prompt asked again in a later call
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
