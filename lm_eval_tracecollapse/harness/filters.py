"""The ``trace_status`` lm-eval filter: parse the trace, pass the answer part on.

In a task's ``filter_list``, ``trace_status`` parses every raw response with
:func:`~lm_eval_tracecollapse.core.parse.parse_trace`, runs the pipeline's own steps
(``then:``) on the **answer part only** — so ``regex``, ``take_first``,
``multi_choice_regex`` and ``exact_match`` never see numbers inside the reasoning —
and hands the final value on as a :class:`TracedAnswer`: a ``str`` (what the task's
metrics expect) that also carries the parsed traces for our metrics::

    filter_list:
      - name: strict-match
        filter:
          - function: trace_status          # options: fmt, prefilled, then
            fmt: auto
            then:                           # the pipeline's own steps, unchanged
              - {function: regex, regex_pattern: "#### (\\-?[0-9\\.\\,]+)"}
              - {function: take_first}

lm-eval hands a filter only the previous step's values, and its stock filters return
plain strings, so the status could not survive steps *after* ours; running them
inside ours (``then:``) keeps every pipeline intact and every status attached.

The steps get what the stock task would get from a model that did not reason: for
each document, the answer parts (:attr:`Trace.raw_answer`: a missing trace's is the
response itself) of **all** its responses, in order — so ``take_first_k``,
``majority_vote`` and custom filters on the document's list work as in the stock task,
and the task's own rows (``maj@k``, ``pass@k``) equal the stock run's.  ``until:`` holds
the task's stop strings when they were taken off generation so that the trace could
run (our ``*_tc`` tasks do this): each answer part is cut at them exactly as lm-eval
cuts a generation, before ``then:``.  With ``repeats: k`` and a pipeline that selects
one value, every response also gets its own value to score beside it
(``TracedAnswer.responses``: the pipeline's value for a document whose k responses
were all this one).  The prompt reaches the filter on the response itself
(:class:`Response`, set by ``TraceTask``), so ``prefilled: null`` reads the
template's prefill off it.

Example:
    >>> f = TraceStatusFilter(then=[{"function": "take_first"}])
    >>> [out] = f.apply([["<think>6*7</think>42"]], [{}])
    >>> out, out.trace.status.value
    ('42', 'valid')
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from lm_eval.api.filter import Filter

from ..core.carriers import Response, TracedAnswer, cut_at
from ..core.formats import adopt_formats, decoded_family, get_format, user_formats
from ..core.parse import Trace, TraceStatus, parse_trace
from . import groups

__all__ = ["Response", "TraceStatusFilter", "TracedAnswer", "cut_at"]

log = logging.getLogger(__name__)

#: per-response runs (:meth:`TraceStatusFilter._each`) go through the pipeline in chunks of this many
_CHUNK = 4096


def _steps(then: object) -> list[tuple[Any, dict[str, Any]]]:
    """Validate the ``then:`` option into (filter, kwargs) pairs."""
    if then is None:
        return []
    if not isinstance(then, list) or not all(isinstance(s, dict) and "function" in s for s in then):
        raise ValueError(
            "trace_status: 'then' must be a list of filter steps like "
            "[{function: regex, regex_pattern: ...}, {function: take_first}], got " + repr(then)
        )
    from lm_eval.api.registry import get_filter

    steps = []
    for step in then:
        kwargs = {k: v for k, v in step.items() if k != "function"}
        try:
            steps.append((get_filter(step["function"]), kwargs))
        except KeyError:
            raise ValueError(f"trace_status: unknown filter {step['function']!r} in 'then'") from None
    return steps


def _single(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else ("" if isinstance(value, list) else value)


def _check_until(until: object) -> tuple[str, ...]:
    if until is None:
        return ()
    if isinstance(until, str):
        return (until,)
    if isinstance(until, (list, tuple)) and all(isinstance(u, str) for u in until):
        return tuple(until)
    raise ValueError(f"trace_status: until must be a stop string or a list of them, got {until!r}")


def _check_prefilled(prefilled: object) -> bool | None:
    if prefilled is None or isinstance(prefilled, bool):
        return prefilled
    if isinstance(prefilled, str) and prefilled.lower() in ("true", "false", "auto", "null", "none"):
        return {"true": True, "false": False}.get(prefilled.lower())
    raise ValueError(f"trace_status: prefilled must be true, false or null (auto), got {prefilled!r}")


class TraceStatusFilter(Filter):
    """lm-eval filter ``trace_status``.

    Args:
        fmt: delimiter family (``"auto"`` or a name from ``list_formats()``).
        prefilled: ``true``/``false``; ``null`` (default) reads it off each prompt
            where the task exposes prompts (our ``_tc`` wrappers and paper tasks do).
        then: the pipeline's own filter steps, applied to the answer parts.
        until: stop strings to cut each answer part at (the task's own, when they
            were taken off generation so that the trace could run).
    """

    def __init__(
        self,
        fmt: str = "auto",
        prefilled: bool | str | None = None,
        then: list | None = None,
        until: Sequence[str] | str | None = None,
    ) -> None:
        if fmt != "auto":
            get_format(fmt)  # ValueError naming the known families
        self.fmt = fmt
        self.prefilled = _check_prefilled(prefilled)
        self.steps = _steps(then)
        self.until = _check_until(until)
        groups.install()  # our rows pooled at group level (lm-eval's Group.aggregate extended)

    def __getstate__(self) -> dict[str, Any]:
        # a spawn/forkserver worker knows only the built-in families: take ours along
        return {**self.__dict__, "_formats": user_formats()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        adopt_formats(state.pop("_formats", ()))
        self.__dict__.update(state)

    def parse(self, resp: object) -> Trace:
        """Parse one raw response (a :class:`Response` carries its prompt and ``finish_reason``)."""
        if resp is None:
            raise TypeError(
                "trace_status: the model returned None instead of a response string; "
                "check the model's generation settings (an API model with content: null?)"
            )
        finish = getattr(resp, "finish_reason", None)
        prompt = getattr(resp, "prompt", None)
        return parse_trace(str(resp), prompt, self.fmt, finish, prefilled=self.prefilled)

    def _run(self, answers: list[list[str]], docs: Sequence[dict]) -> list[Any]:
        values: Iterable[Any] = answers
        for step, kwargs in self.steps:
            values = step(**kwargs).apply(values, docs)
        return list(values)

    def _each(self, answers: list[list[str]], docs: Sequence[dict]) -> list[list[Any]]:
        """Each response's own value: the pipeline's output for a document whose every
        response were this one (``n`` copies of its answer part, ``n`` the document's
        responses), so a step that takes several responses (``take_first_k``,
        ``majority_vote``, a custom filter) gets as many as it gets for the document;
        of a list output, its first item.  Equal answer parts of a document run once."""
        pairs: list[tuple[int, str]] = []  # (document, answer part) to run
        slots: list[list[int]] = []  # document -> response -> index into pairs
        for d, texts in enumerate(answers):
            seen: dict[str, int] = {}
            slots.append([seen.setdefault(text, len(pairs) + len(seen)) for text in texts])
            pairs += [(d, text) for text in seen]
        values: list[Any] = []
        for lo in range(0, len(pairs), _CHUNK):  # bounded memory: n copies per pair
            chunk = pairs[lo : lo + _CHUNK]
            values += self._run([[text] * len(answers[d]) for d, text in chunk], [docs[d] for d, _ in chunk])
        return [[_single(values[j]) for j in doc_slots] for doc_slots in slots]

    def apply(self, resps: Iterable[Sequence[Any]], docs: Sequence[dict]) -> list[Any]:
        """The pipeline's steps on the answer parts of every document's responses, all of
        them in order (what the stock task gets from a model that did not reason); with
        several responses and a selecting pipeline, also each response's own value."""
        resps = [list(r) for r in resps]
        traces = [[self.parse(r) for r in rs] for rs in resps]
        answers = [[cut_at(t.raw_answer, self.until) for t in ts] for ts in traces]
        values = self._run(answers, docs)
        several = max((len(ts) for ts in traces), default=1) > 1
        # a list output keeps one value per response already: no per-response run needed
        each = self._each(answers, docs) if several and not all(isinstance(v, list) for v in values) else None
        out: list[Any] = []
        for d, (value, ts) in enumerate(zip(values, traces, strict=True)):
            own = tuple(TracedAnswer(v, (t,)) for v, t in zip(each[d], ts, strict=True)) if each else ()
            tokens = tuple(getattr(r, "reasoning_tokens", None) for r in resps[d])  # as the server counted
            if isinstance(value, list):
                # no selection step: one value per response, each with its own trace
                out.append([TracedAnswer(v, ts, ts[i] if i < len(ts) else None, own, tokens)
                            for i, v in enumerate(value)])  # fmt: skip
            else:
                out.append(TracedAnswer(value, ts, responses=own, reasoning_tokens=tokens))
        self._warn(traces)
        return out

    def _warn(self, traces: list[list[Trace]]) -> None:
        flat = [t for ts in traces for t in ts]
        if not flat or any(t.is_valid for t in flat):
            return
        closed = any(t.status is TraceStatus.EMPTY for t in flat)
        stripped = None if closed else decoded_family([t.answer for t in flat[:200]])
        if stripped is not None:
            log.warning(
                "trace_status: none of %d responses has a valid trace (rpass@1 is N/A unless another rank's do). "
                "They look like %s output "
                "decoded with skip_special_tokens=True: its markers %s ... %s are special tokens and were dropped "
                "(lm-eval's hf model decodes that way). Run it with vllm (which keeps special tokens), or serve it "
                "with a reasoning parser and use tc_chat_api%s.",
                len(flat),
                "/".join(stripped.models) or stripped.name,
                stripped.open,
                stripped.close,
                ', or --metadata \'{"tc_fmt": "gpt_oss_text"}\'' if stripped.name == "gpt_oss" else "",
            )
            return
        log.warning(
            "trace_status: none of %d responses has a valid trace (rpass@1 is N/A unless another rank's do).%s",
            len(flat),
            ""
            if closed
            else " No response even closes a trace: if the model does reason, check that lm-eval was not "
            "told to strip it (think_end_token / enable_thinking model_args cut everything up to </think> "
            "before filters run), that max_gen_toks and the task's stop sequences leave room for it, and, "
            "for a served model, that the server's reasoning field is read: lm-eval's local-chat-completions "
            "drops it (use tc_chat_api with reasoning_parser=<the server's parser>).",
        )
