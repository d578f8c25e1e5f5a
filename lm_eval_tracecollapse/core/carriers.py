"""The str carriers: a response with its prompt, a filtered answer with its traces, a
generation with its finish reason.

They are ``str`` (what lm-eval's filters and metrics pass around) that carry what our
rows need; no lm-eval import, so metrics, samples and reports use them without lm-eval.

Example:
    >>> a = TracedAnswer("42", traces=[parse_trace("<think>x</think>42")])
    >>> a, a.trace.status.value
    ('42', 'valid')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .parse import Trace, parse_trace  # noqa: F401 - parse_trace: used by the doctests

__all__ = ["Generation", "Response", "TracedAnswer", "cut_at"]


class Response(str):
    """A raw generation that carries the prompt it answers (and the model's ``finish_reason``,
    and the server's count of reasoning tokens when it reported one).

    >>> r = Response("4</think>4", prompt="<think>", finish_reason="stop", reasoning_tokens=1)
    >>> r, r.prompt, r.finish_reason, r.reasoning_tokens
    ('4</think>4', '<think>', 'stop', 1)
    """

    prompt: str | None
    finish_reason: str | None
    reasoning_tokens: int | None

    def __new__(
        cls,
        text: object = "",
        prompt: str | None = None,
        finish_reason: str | None = None,
        reasoning_tokens: int | None = None,
    ) -> Response:
        obj = super().__new__(cls, text)
        obj.prompt, obj.finish_reason, obj.reasoning_tokens = prompt, finish_reason, reasoning_tokens
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Response, (str(self), self.prompt, self.finish_reason, self.reasoning_tokens))


def cut_at(text: str, until: Sequence[str]) -> str:
    """``text`` up to the first stop string, as lm-eval cuts a generation.

    >>> cut_at("Paris. It is big", [".", ","])
    'Paris'
    """
    for stop in until:
        if stop:
            text = text.split(stop, 1)[0]
    return text


class TracedAnswer(str):
    """A filtered answer (the ``str`` value) that carries its response's trace(s).

    ``trace`` is the trace of the response the value came from (the first one when
    several were sampled), ``traces`` those of every response of the document.
    The single-argument form exists because lm-eval casts the gold reference to the
    prediction's type.

    >>> a = TracedAnswer("42", traces=[parse_trace("<think>x</think>42")])
    >>> a == "42", a.trace.status.value, TracedAnswer("gold").traces
    (True, 'valid', ())
    """

    trace: Trace | None
    traces: tuple[Trace, ...]
    #: with several responses: each response's own answer (the pipeline run on it alone)
    responses: tuple[TracedAnswer, ...]
    #: the server's reasoning-token count of each response (``traces`` order), None where it gave none
    reasoning_tokens: tuple[int | None, ...]

    def __new__(
        cls,
        value: object = "",
        traces: Sequence[Trace] = (),
        trace: Trace | None = None,
        responses: Sequence[TracedAnswer] = (),
        reasoning_tokens: Sequence[int | None] = (),
    ) -> TracedAnswer:
        obj = super().__new__(cls, value)
        obj.traces = tuple(traces)
        obj.trace = trace if trace is not None else (obj.traces[0] if obj.traces else None)
        obj.responses = tuple(responses)
        obj.reasoning_tokens = tuple(reasoning_tokens)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        # every field (scores are cached in scoring.memo, not on the answer)
        fields = (str(self), self.traces, self.trace, self.responses, self.reasoning_tokens)
        return (TracedAnswer, fields, dict(self.__dict__))


class Generation(str):
    """A generated text that remembers why generation stopped (``finish_reason``).

    >>> g = Generation("<think>a", finish_reason="length")
    >>> g, g.finish_reason
    ('<think>a', 'length')
    """

    finish_reason: str | None
    reasoning_tokens: int | None  # the server's usage.completion_tokens_details.reasoning_tokens

    def __new__(
        cls, text: str = "", finish_reason: str | None = None, reasoning_tokens: int | None = None
    ) -> Generation:
        obj = super().__new__(cls, text)
        obj.finish_reason, obj.reasoning_tokens = finish_reason, reasoning_tokens
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Generation, (str(self), self.finish_reason, self.reasoning_tokens))
