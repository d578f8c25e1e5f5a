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

``until:`` holds the task's stop strings when they were taken off generation so
that the trace could run (our ``*_tc`` tasks do this): each answer part is cut at
them exactly as lm-eval cuts a generation, before ``then:``.  With ``repeats: k``
the pipeline's steps also run on each response alone, so every response has its own
answer to score (``TracedAnswer.responses``).  The prompt reaches the filter on the
response itself (:class:`Response`, set by ``TraceTask``), so ``prefilled: null``
reads the template's prefill off it.

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

    def apply(self, resps: Iterable[Sequence[Any]], docs: Sequence[dict]) -> list[Any]:
        resps = [list(r) for r in resps]
        traces = [[self.parse(r) for r in rs] for rs in resps]
        answers = [[cut_at(t.raw_answer, self.until) for t in ts] for ts in traces]
        values = self._run(answers, docs)
        k = max((len(ts) for ts in traces), default=1)
        # several responses: each one's own answer, the pipeline's steps run on it alone
        alone = [self._run([a[i : i + 1] or [""] for a in answers], docs) for i in range(k)] if k > 1 else []
        out: list[Any] = []
        for d, (value, ts) in enumerate(zip(values, traces, strict=True)):
            each = tuple(TracedAnswer(_single(alone[i][d]), ts[i : i + 1]) for i in range(len(ts))) if alone else ()
            if isinstance(value, list):
                # no selection step: one value per response, each with its own trace
                out.append([TracedAnswer(v, ts, ts[i] if i < len(ts) else None, each) for i, v in enumerate(value)])
            else:
                out.append(TracedAnswer(value, ts, responses=each))
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
