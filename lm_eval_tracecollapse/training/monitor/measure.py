"""Measure a model's reasoning traces on a small prompt set: :func:`measure_traces`.

The prompts go through the model's **own chat template** (``add_generation_prompt=True``),
are generated greedily in left-padded batches (``max_new_tokens`` bounded, under
``torch.no_grad``, the model's train/eval mode restored afterwards), decoded as lm-eval's
``hf`` model decodes (cut at the first end-of-sequence token, special tokens skipped),
and parsed with :func:`~lm_eval_tracecollapse.parse_trace`.  The template's prefill is
read with :func:`~lm_eval_tracecollapse.detect_format`: a template whose generation
prompt ends with ``<think>`` makes every response start inside the trace.  A response
that stops at ``max_new_tokens`` has ``finish_reason="length"``, so an unclosed trace is
*truncated*.

With gold answers, the **answer part** of each response is graded: ``"math"``
(:func:`~lm_eval_tracecollapse.scoring.grade_math`), ``"mcq"`` (the option letter from
:func:`~lm_eval_tracecollapse.scoring.extract_letter` against a gold letter), or any
callable ``(answer_part, gold) -> bool``.

Example (a grader on its own; generation needs a model, see ``docs/monitor.md``):
    >>> grader = resolve_grader("mcq")
    >>> grader("The answer is (B).", "b"), grader("none of them", "B")
    (True, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ...core.detect import detect_format
from ...core.parse import TraceStatus, parse_traces
from ...core.trace import Trace

__all__ = ["Grader", "GraderName", "TraceMeasurement", "measure_traces", "render_prompts", "resolve_grader"]

#: a user grader: (answer part of the response, gold answer) -> correct
Grader = Callable[[str, Any], bool]
GraderName = Literal["math", "mcq"]
Prompt = str | Sequence[dict[str, Any]]


def _grade_math(answer: str, gold: Any) -> bool:
    from ...scoring.math_grade import grade_math

    return grade_math(answer, str(gold)).correct


def _grade_mcq(answer: str, gold: Any) -> bool:
    from ...scoring.mcq import extract_letter

    return extract_letter(answer) == str(gold).strip().strip("()").upper()


_GRADERS: dict[str, Grader] = {"math": _grade_math, "mcq": _grade_mcq}


def resolve_grader(grader: GraderName | Grader) -> Grader:
    """A grader name (``"math"``, ``"mcq"``) or a callable, as a callable.

    Raises:
        ValueError: an unknown name.

    >>> resolve_grader("math")("The answer is 12.", 12)
    True
    """
    if callable(grader):
        return grader
    if grader not in _GRADERS:
        raise ValueError(f"unknown grader {grader!r}: use 'math', 'mcq' or a callable (answer, gold) -> bool")
    return _GRADERS[grader]


@dataclass(frozen=True)
class TraceMeasurement:
    """What :func:`measure_traces` measured: rates over all responses and the generations.

    ``pass_at_1`` is None without gold answers; ``rpass_at_1`` (correct among the
    valid-trace responses) is None when no response has a valid trace (undefined,
    never reported as 0).  ``mean_trace_tokens`` is per response (a response without a
    trace counts 0), as ``tracecollapse analyze --tokenizer`` reports it.

    >>> m = TraceMeasurement(valid_rate=0.5, empty_rate=0.0, missing_rate=0.5, truncated_rate=0.0,
    ...                      answer_rate=1.0, pass_at_1=1.0, rpass_at_1=None, mean_trace_tokens=3.0, seconds=0.1)
    >>> sorted(m.metrics())
    ['trace/answer_rate', 'trace/empty_rate', 'trace/eval_seconds', 'trace/mean_trace_tokens', \
'trace/missing_rate', 'trace/pass@1', 'trace/truncated_rate', 'trace/valid_rate']
    """

    valid_rate: float
    empty_rate: float
    missing_rate: float
    truncated_rate: float
    answer_rate: float
    pass_at_1: float | None
    rpass_at_1: float | None
    mean_trace_tokens: float
    seconds: float
    prompts: tuple[str, ...] = ()  # rendered through the chat template
    responses: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()  # "stop" (end-of-sequence) or "length"
    traces: tuple[Trace, ...] = field(default=(), repr=False)
    correct: tuple[bool, ...] | None = None
    golds: tuple[Any, ...] | None = None
    fmt: str = "auto"
    prefilled: bool = False

    @property
    def n(self) -> int:
        """Number of responses."""
        return len(self.responses)

    def metrics(self, prefix: str = "trace/") -> dict[str, float]:
        """The numbers to log, keyed ``trace/valid_rate`` ... ``trace/eval_seconds``;
        ``pass@1`` is left out without golds and ``rpass@1`` when nothing is valid."""
        out = {
            "valid_rate": self.valid_rate,
            "empty_rate": self.empty_rate,
            "missing_rate": self.missing_rate,
            "truncated_rate": self.truncated_rate,
            "answer_rate": self.answer_rate,
            "pass@1": self.pass_at_1,
            "rpass@1": self.rpass_at_1,
            "mean_trace_tokens": self.mean_trace_tokens,
            "eval_seconds": self.seconds,
        }
        return {prefix + k: float(v) for k, v in out.items() if v is not None}


def _tokenizer_of(processing_class: Any) -> Any:
    """The text tokenizer of a tokenizer or a multimodal processor."""
    inner = getattr(processing_class, "tokenizer", None)
    return inner if inner is not None and not hasattr(processing_class, "encode") else processing_class


def render_prompts(
    tokenizer: Any, prompts: Sequence[Prompt], chat_template_kwargs: dict[str, Any] | None = None
) -> list[str]:
    """Each prompt (a user message, or a list of chat messages) rendered through the
    tokenizer's chat template with the generation prompt.

    Raises:
        ValueError: the tokenizer has no chat template.

    >>> from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    >>> render_prompts(build_tokenizer(["1+1"], vocab_size=270), ["1+1"])
    ['<|im_start|>user\\n1+1<|im_end|>\\n<|im_start|>assistant\\n']
    """
    tokenizer = _tokenizer_of(tokenizer)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer has no chat_template: the trace monitor renders prompts through the model's own chat "
            "template; set tokenizer.chat_template (or load the model's tokenizer)"
        )
    chats = [[{"role": "user", "content": p}] if isinstance(p, str) else [dict(m) for m in p] for p in prompts]
    if not chats:
        return []
    rendered = tokenizer.apply_chat_template(
        chats, tokenize=False, add_generation_prompt=True, **(chat_template_kwargs or {})
    )
    return [str(r) for r in rendered]


def _generate(
    model: Any, tokenizer: Any, texts: list[str], max_new_tokens: int, batch_size: int, progress: bool
) -> tuple[list[str], list[str]]:
    """Greedy generations (decoded, cut at end-of-sequence) and their finish reasons, in input order."""
    import torch
    from tqdm.auto import tqdm

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an eos token: set tokenizer.pad_token")
    gen_config = getattr(model, "generation_config", None)
    eos = getattr(gen_config, "eos_token_id", None)
    eos = tokenizer.eos_token_id if eos is None else eos
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # similar lengths share a batch
    device = next(model.parameters()).device
    responses: list[str] = [""] * len(texts)
    reasons: list[str] = [""] * len(texts)
    was_training = model.training
    model.eval()
    try:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc="trace monitor", leave=False, disable=not progress):
            enc = tokenizer(
                [texts[i] for i in batch], add_special_tokens=False, padding=True, padding_side="left",
                return_tensors="pt",
            )  # fmt: skip
            with torch.no_grad():
                out = model.generate(
                    input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                    max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, temperature=None, top_p=None,
                    top_k=None, pad_token_id=pad, eos_token_id=sorted(stops) or None,
                )  # fmt: skip
            for row, i in zip(out[:, enc["input_ids"].shape[1] :].tolist(), batch, strict=True):
                cut = next((j for j, t in enumerate(row) if t in stops), None)
                reasons[i] = "length" if cut is None else "stop"
                responses[i] = tokenizer.decode(row if cut is None else row[:cut], skip_special_tokens=True)
    finally:
        model.train(was_training)
    return responses, reasons


def _share(traces: Sequence[Trace], status: TraceStatus) -> float:
    return sum(t.status is status for t in traces) / len(traces)


def measure_traces(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    golds: Sequence[Any] | None = None,
    *,
    fmt: str = "auto",
    grader: GraderName | Grader = "math",
    max_new_tokens: int = 256,
    batch_size: int = 16,
    chat_template_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> TraceMeasurement:
    """Generate greedily on ``prompts`` and measure the traces (see the module docstring).

    Args:
        model: a causal LM with ``generate`` (a PEFT model too).
        tokenizer: its tokenizer (or processor) carrying the chat template.
        prompts: user messages, or chat message lists (a system prompt included).
        golds: one gold answer per prompt, or None (then no pass@1).
        fmt: reasoning family name, or ``"auto"`` (the family the template prefills,
            else every family).
        grader: ``"math"``, ``"mcq"`` or a callable ``(answer_part, gold) -> bool``.
        max_new_tokens, batch_size: the cost bound: at most
            ``len(prompts) * max_new_tokens`` generated tokens, ``batch_size`` at a time.
        chat_template_kwargs: passed to the template (e.g. ``{"enable_thinking": True}``).
        progress: show a tqdm bar over the batches.

    Raises:
        ValueError: no prompts, golds of another length, a bad size, no chat template.
        TypeError: a grader that returns something other than a bool.

    Example: ``measure_traces(model, tok, ["3+4"], ["7"]).valid_rate``.
    """
    if not prompts:
        raise ValueError("measure_traces: prompts is empty; pass at least one held-out prompt")
    if golds is not None and len(golds) != len(prompts):
        raise ValueError(f"measure_traces: got {len(prompts)} prompts but {len(golds)} golds; pass one gold per prompt")
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"measure_traces: {name} must be a positive int, got {value!r}")
    grade = resolve_grader(grader)
    tok = _tokenizer_of(tokenizer)
    started = time.perf_counter()
    texts = render_prompts(tok, prompts, chat_template_kwargs)
    detection = detect_format(tok, chat_template_kwargs)
    prefilled = bool(detection and detection.prefills)
    parse_fmt = fmt if fmt != "auto" or detection is None or not prefilled else detection.fmt.name
    responses, reasons = _generate(model, tok, texts, max_new_tokens, batch_size, progress)
    traces = parse_traces(responses, texts, parse_fmt, reasons, prefilled=prefilled if detection is not None else None)
    correct = None
    if golds is not None:
        correct = []
        for t, gold in zip(traces, golds, strict=True):
            verdict = grade(t.answer, gold)
            if not isinstance(verdict, bool):
                raise TypeError(f"the grader returned {type(verdict).__name__} {verdict!r}; it must return a bool")
            correct.append(verdict)
    valid = [c for c, t in zip(correct or [], traces, strict=False) if t.is_valid]
    tokens = sum(len(tok.encode(t.reasoning, add_special_tokens=False)) for t in traces if t.reasoning)
    n = len(traces)
    return TraceMeasurement(
        valid_rate=_share(traces, TraceStatus.VALID),
        empty_rate=_share(traces, TraceStatus.EMPTY),
        missing_rate=_share(traces, TraceStatus.MISSING),
        truncated_rate=_share(traces, TraceStatus.TRUNCATED),
        answer_rate=sum(t.has_answer for t in traces) / n,
        pass_at_1=None if correct is None else sum(correct) / n,
        rpass_at_1=sum(valid) / len(valid) if valid else None,
        mean_trace_tokens=tokens / n,
        seconds=time.perf_counter() - started,
        prompts=tuple(texts),
        responses=tuple(responses),
        finish_reasons=tuple(reasons),
        traces=tuple(traces),
        correct=None if correct is None else tuple(correct),
        golds=None if golds is None else tuple(golds),
        fmt=parse_fmt,
        prefilled=prefilled,
    )
