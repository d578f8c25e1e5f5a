"""Probe construction: modified traces prefilled into the assistant turn.

From a finished run, every response with a **valid** trace yields follow-up prompts
that prefill the assistant turn with a *modified* trace and the closing delimiter, so
the model only has to give the answer again:

* ``early`` — keep the first ``k`` % of the trace's steps (k = 0, 25, 50, 75, 100);
* ``filler`` — keep the first ``k`` %, replace the rest by dots of the same length (in
  tokens when a tokenizer is given, else in characters);
* ``paraphrase`` — keep the first ``k`` %, replace the rest by a rewrite: a model's
  (any lm-eval model, :class:`~.paraphrase.LMParaphraser`) or, by default, a
  deterministic rule set (synonyms, reordered sums), weaker and documented so.

Steps are the trace's lines; a one-line trace is split into sentences, then on
``,``/``;``.  Each step keeps its separator, so joining all steps gives the trace back
exactly (the 100 % probe is the unmodified trace).  If the answers barely change when
the trace is cut short, the trace was decorative.

Example:
    >>> split_steps("3+8=11,2+4+1=7")
    ['3+8=11,', '2+4+1=7']
    >>> modify(["a. ", "b. ", "c. ", "d."], "early", 50)
    'a. b. '
    >>> modify(["a. ", "b."], "filler", 50)
    'a. ..'
    >>> modify(["a. ", "b."], "paraphrase", 50, rewritten=["A. ", "B."])
    'a. B.'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from ..core.formats import get_format
from ..core.parse import parse_trace
from ..samples.files import sample_fields, sample_task
from ..samples.jsonl import iter_jsonl
from .paraphrase import Paraphraser, RuleParaphraser, make_paraphraser, split_whitespace
from .score import trapezoid_weights

__all__ = [
    "DEFAULT_KS",
    "KINDS",
    "Probe",
    "build_probes",
    "filler",
    "modify",
    "probe_dataset",
    "read_probes",
    "split_steps",
    "write_probes",
]

#: how the rest of the trace is replaced: cut off, dots of matched length, rewritten
ProbeKind = Literal["early", "filler", "paraphrase"]
KINDS: tuple[ProbeKind, ...] = get_args(ProbeKind)
DEFAULT_KS = (0, 25, 50, 75, 100)

_LINE = re.compile(r"(?<=\n)")
_SENTENCE = re.compile(r"(?<=[.!?]\s)")
_CLAUSE = re.compile(r"(?<=[,;])")


@dataclass(frozen=True)
class Probe:
    """One follow-up prompt (a document of the ``tc_probe`` task)."""

    task: str
    doc_id: int
    kind: str
    k: int
    prompt: str
    original_answer: str
    target: str
    paraphraser: str = "rules"  # who rewrote the steps of a paraphrase probe


def split_steps(reasoning: str) -> list[str]:
    """The trace's steps (lines, else sentences, else ``,``/``;`` clauses), each with its
    separator, so that ``"".join(split_steps(r)) == r.strip()``."""
    text = reasoning.strip()
    for splitter in (_LINE, _SENTENCE, _CLAUSE):
        steps = [s for s in splitter.split(text) if s]
        if len(steps) > 1:
            return steps
    return [text] if text else []


def filler(text: str, count_tokens: Callable[[str], int] | None = None) -> str:
    """Dots standing in for ``text``: as many characters, or — with ``count_tokens`` —
    the run of dots whose token count is closest to ``text``'s.

    >>> filler("3+8=11")
    '......'
    >>> filler("one two three", lambda s: len(s.split(".")) - 1 if "." in s else len(s.split()))
    '...'
    """
    if count_tokens is None:
        return "." * len(text)
    target = count_tokens(text)
    lo, hi = 0, max(1, 4 * target)
    while lo < hi:  # the fewest dots with at least `target` tokens
        mid = (lo + hi) // 2
        if count_tokens("." * mid) < target:
            lo = mid + 1
        else:
            hi = mid
    # the neighbour below may be closer (dot runs merge into multi-dot tokens)
    below = max(lo - 1, 0)
    better = abs(count_tokens("." * below) - target) < abs(count_tokens("." * lo) - target)
    return "." * (below if better else lo)


def modify(
    steps: Sequence[str],
    kind: str,
    k: int,
    rewritten: Sequence[str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """The trace text for probe ``kind`` at ``k`` % of its steps; ``rewritten`` are the
    steps' paraphrases (default: the rule-based rewrite)."""
    if kind not in KINDS:
        raise ValueError(f"unknown probe kind {kind!r}; use one of {', '.join(KINDS)}")
    if not 0 <= k <= 100:
        raise ValueError(f"k must be a percentage in [0, 100], got {k!r}")
    keep = math.ceil(len(steps) * k / 100)
    head = "".join(steps[:keep])
    if kind == "early" or keep == len(steps):
        return head
    if kind == "filler":
        return head + filler("".join(steps[keep:]), count_tokens)
    if rewritten is None:
        rewritten = RuleParaphraser()(steps)
    elif len(rewritten) != len(steps):
        raise ValueError(f"rewritten has {len(rewritten)} steps, the trace has {len(steps)}")
    return head + "".join(rewritten[keep:])


def _source_lines(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"probe source {path} has no JSONL file (an lm-eval samples file or a replay JSONL)")
    rows = []
    for f in files:
        file_task = sample_task(f) or f.stem
        seen: set[int] = set()
        for no, rec in iter_jsonl(f, "probes"):
            prompt, response = sample_fields(rec)
            doc_id = rec.get("doc_id", no)
            if isinstance(doc_id, bool) or not isinstance(doc_id, int):
                raise ValueError(f"probes: {f}:{no}: doc_id is {doc_id!r}, not an integer")
            task = rec.get("task", file_task)
            if not isinstance(task, str):
                raise ValueError(f"probes: {f}:{no}: task is {task!r}, not a string")
            if doc_id in seen or not isinstance(response, str) or not isinstance(prompt, str):
                continue
            seen.add(doc_id)
            rows.append({"task": task, "doc_id": doc_id,
                         "prompt": prompt, "response": response, "target": str(rec.get("target", ""))})  # fmt: skip
    return rows


def _token_counter(tokenizer: Any) -> Callable[[str], int] | None:
    if tokenizer is None:
        return None
    if isinstance(tokenizer, str):
        from transformers import AutoTokenizer

        name = tokenizer
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except Exception as exc:  # noqa: BLE001 - OSError, ValueError, ...: one line saying which
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"probes: cannot load tokenizer {name!r}: {why}") from None
    return lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"])


def build_probes(
    source: str | Path,
    fmt: str = "auto",
    ks: Sequence[int] = DEFAULT_KS,
    kinds: Sequence[str] = KINDS,
    paraphraser: Paraphraser | None = None,
    tokenizer: Any = None,
) -> list[Probe]:
    """Probes for every valid-trace response in ``source`` (lm-eval samples or replay
    JSONL).  ``paraphraser`` rewrites steps (default: rules); ``tokenizer`` (an object or
    a local path/name) makes filler match the removed steps' token count."""
    if fmt != "auto":
        get_format(fmt)  # an unknown family: its ValueError, before any file is read
    rows = []
    for row in _source_lines(Path(source)):
        trace = parse_trace(row["response"], row["prompt"], fmt)
        if trace.is_valid and trace.reasoning is not None:
            rows.append((row, trace, split_steps(trace.reasoning)))
    para = paraphraser or RuleParaphraser()
    rewritten: list[list[str] | None] = [None] * len(rows)
    if "paraphrase" in kinds and rows:
        flat = para([s for _, _, steps in rows for s in steps])  # one batch for a model
        at = 0
        for i, (_, _, steps) in enumerate(rows):
            rewritten[i], at = flat[at : at + len(steps)], at + len(steps)
    count_tokens = _token_counter(tokenizer)
    probes = []
    for (row, trace, steps), rewrite in zip(rows, rewritten, strict=True):
        family = get_format(trace.fmt or "think")
        # keep the trace's own layout (e.g. "<think>\n...\n</think>"): a model sees its
        # modified trace exactly as it would have written it
        lead, _, trail = split_whitespace(trace.raw_reasoning or "")
        # a prefilled prompt already ends with the opening delimiter
        opening = "" if trace.prefilled else family.open
        for kind in kinds:
            for k in ks:
                body = modify(steps, kind, k, rewrite, count_tokens)
                prompt = f"{row['prompt']}{opening}{lead}{body}{trail}{family.close}"
                probes.append(Probe(row["task"], row["doc_id"], kind, int(k), prompt, trace.answer, row["target"],
                                    para.name if kind == "paraphrase" else ""))  # fmt: skip
    return probes


def write_probes(probes: Sequence[Probe], path: str | Path) -> Path:
    """Save probes as JSONL (one probe per line); ``tc_probe`` reads them back with
    ``--metadata '{"probes": "<file>"}'``."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for p in probes:
            fh.write(json.dumps(asdict(p)) + "\n")
    return path


def read_probes(path: str | Path) -> list[Probe]:
    """Probes saved by :func:`write_probes` (a clear error naming a malformed line)."""
    names = {f.name for f in fields(Probe)}
    out = []
    for no, rec in iter_jsonl(Path(path), "probes"):
        missing = {"task", "doc_id", "kind", "k", "prompt", "original_answer", "target"} - set(rec)
        if missing:
            raise ValueError(f"{path}:{no}: not a probe line (missing {', '.join(sorted(missing))})")
        for key in ("doc_id", "k"):
            if isinstance(rec[key], bool) or not isinstance(rec[key], int):
                raise ValueError(f"{path}:{no}: {key} is {rec[key]!r}, not an integer")
        out.append(Probe(**{k: v for k, v in rec.items() if k in names}))
    return out


def probe_dataset(
    source: str | None = None,
    fmt: str = "auto",
    ks: Sequence[int] = DEFAULT_KS,
    probes: str | None = None,
    paraphrase_model: str | None = None,
    paraphrase_model_args: str = "",
    paraphrase_chat: bool = False,
    tokenizer: str | None = None,
    **_: Any,
) -> Any:
    """lm-eval ``custom_dataset`` hook of ``tc_probe``: ``--metadata '{"source": "<run>"}'``
    (optionally ``paraphrase_model``/``paraphrase_model_args``/``paraphrase_chat``,
    ``tokenizer``), or ``{"probes": "<file written by tracecollapse probe>"}``."""
    import datasets

    if probes:
        built = read_probes(probes)
        ks = sorted({p.k for p in built if p.kind == "early"}) or list(ks)
    elif source:
        para = make_paraphraser(paraphrase_model, paraphrase_model_args, chat=paraphrase_chat)
        built = build_probes(source, fmt, ks, paraphraser=para, tokenizer=tokenizer)
    else:
        raise ValueError(
            'tc_probe needs the run to probe: add --metadata \'{"source": "<lm-eval output folder, samples '
            'file or replay JSONL>"}\' (or {"probes": "<file written by tracecollapse probe>"})'
        )
    if not built:
        raise ValueError(f"tc_probe: no response with a valid trace in {probes or source}: nothing to probe")
    weights = trapezoid_weights(ks)
    rows = [{**asdict(p), "aoc_weight": len(weights) * weights.get(p.k, 0.0)} for p in built]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
