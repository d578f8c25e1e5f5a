"""OpenAI-compatible servers without losing the trace: ``tc_chat_api`` and ``tc_completions_api``.

vLLM, SGLang and others can split the trace off server-side (``--reasoning-parser``)
into ``message.reasoning_content`` (or ``reasoning``); lm-eval's
``local-chat-completions`` keeps only ``content``, so every response would look like
it has no trace.  ``tc_chat_api`` is that model with one change, how a response is
read: the text is rebuilt as ``<think>reasoning</think>content`` (in the family given by
``reasoning_fmt``, default ``think``), and the choice's ``finish_reason`` travels with
it.  When the server returned reasoning but no answer (``content`` null, or empty with
``finish_reason: "length"``), the trace is left unclosed, so it counts as truncated even
though the server closed it for us.  Batching, retries and concurrency are lm-eval's.

``tc_completions_api`` is ``local-completions`` (raw text, untouched) that also keeps
``finish_reason``.

Every response is checked before it is read.  A server error (HTTP status not 2xx, an
``error`` object in an HTTP 200 body or in a choice, ``choices`` null or absent) is
raised inside lm-eval's retried call, so lm-eval retries it (``max_retries``), then stops
the run with one :class:`ServerResponseError` naming the server's message: it never becomes an
empty, "missing" trace.  A malformed response (``choices`` not a non-empty list, a choice
or message that is not an object, a wrong ``index``, a ``finish_reason`` that is not a
string or null, text of another type) is the same one clear error, naming the choice
and what is wrong.  ``content`` and ``reasoning_content`` given as lists (OpenAI
content parts ``[{"type": "text", "text": ...}]``, or plain strings) are concatenated.
The body is read at most ``max_response_bytes`` (default 64 MiB) once decompressed, so a
gzip bomb is an error, not memory exhaustion; raise it with
``--model_args max_response_bytes=N``.

Usage::

    tracecollapse eval --model tc_chat_api --apply_chat_template \\
        --model_args model=Qwen/Qwen3-8B,base_url=http://localhost:8000/v1/chat/completions \\
        --tasks tc_paper --gen_kwargs max_gen_toks=32768

Example:
    >>> rebuild_text("6*7=42", "42", "stop", "think")
    '<think>6*7=42</think>42'
    >>> rebuild_text("6*7 is", None, "length", "think")
    '<think>6*7 is'
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from lm_eval.models.api_models import LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER
from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

from ...core.carriers import Generation
from ...core.formats import get_format
from ._split import SplitReader
from ._stock import STOCK_API_MODELS, stock_api_warning
from ._text import rebuild_text

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "STOCK_API_MODELS",
    "ServerResponseError",
    "TraceChatAPI",
    "TraceCompletionsAPI",
    "rebuild_text",
    "stock_api_warning",
]

log = logging.getLogger(__name__)

#: the most bytes one response body may take once decompressed (model_arg ``max_response_bytes``)
DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20
_CHUNK = 2**16


def _flag(value: str | bool, name: str) -> bool | None:
    """A boolean model_arg given as text (``true``/``false``), or None for ``auto``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    if text == "auto":
        return None
    raise ValueError(f"{name} must be true, false or auto, got {value!r}")


class ServerResponseError(ValueError):
    """A response that is a server error, or that is not an OpenAI-compatible answer."""


def _kind(value: Any) -> str:
    return type(value).__name__


def _snippet(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value, default=str)
    return text[:200] + ("..." if len(text) > 200 else "")


def _read_capped(chunks: Iterable[bytes], cap: int) -> bytes:
    """The whole body, decompressed chunk by chunk, refused as soon as it passes ``cap``."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise _too_big(cap)
    return bytes(body)


def _too_big(cap: int) -> ServerResponseError:
    return ServerResponseError(
        f"the response body is over max_response_bytes={cap} bytes once decompressed "
        "(a runaway or compressed-bomb response?); raise the cap with --model_args max_response_bytes=N"
    )


def _error_message(error: Any) -> str:
    """The server's own words from an OpenAI-style ``error`` (an object or a string)."""
    if isinstance(error, dict):
        message = error.get("message")
        text = message if isinstance(message, str) and message else _snippet(error)
        extra = [f"{k}={error[k]}" for k in ("type", "code") if error.get(k) not in (None, "")]
        return f"{text} ({', '.join(extra)})" if extra and text != _snippet(error) else text
    return error if isinstance(error, str) else _snippet(error)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ServerResponseError(f"the response is not JSON ({exc}): {_snippet(body)}") from None


def _checked_body(status: int, body: bytes) -> dict[str, Any]:
    """The decoded body of a response that is no server error; else the server's message."""
    if not 200 <= status < 300:
        try:
            out = json.loads(body)
        except ValueError:
            out = None
        message = _error_message(out["error"]) if isinstance(out, dict) and "error" in out else _snippet(body)
        raise ServerResponseError(f"HTTP {status}: {message}")
    out = _decode(body)
    if not isinstance(out, dict):
        raise ServerResponseError(f"the response is a JSON {_kind(out)}, not an object: {_snippet(out)}")
    if out.get("error") not in (None, "", {}):
        raise ServerResponseError(f"HTTP {status} but the server returned an error: {_error_message(out['error'])}")
    if out.get("choices") is None:
        state = "null" if "choices" in out else "absent"
        raise ServerResponseError(f"the response has no 'choices' ({state}): {_snippet(out)}")
    return out


def _choices(out: Any) -> list[tuple[dict[str, Any], str | None, str]]:
    """``(choice, finish_reason, where)`` in ``index`` order, each checked."""
    choices = out.get("choices") if isinstance(out, dict) else None
    if not isinstance(choices, list):
        raise ServerResponseError(f"'choices' is a {_kind(choices)}, not a list: {_snippet(out)}")
    if not choices:
        raise ServerResponseError(f"'choices' is empty: {_snippet(out)}")
    n = len(choices)
    ordered: list[tuple[dict[str, Any], str | None, str] | None] = [None] * n
    for i, choice in enumerate(choices):
        where = f"choice {i}"
        if not isinstance(choice, dict):
            raise ServerResponseError(f"{where} is a {_kind(choice)}, not an object: {_snippet(choice)}")
        index = choice.get("index", i)
        if isinstance(index, bool) or not isinstance(index, int):
            raise ServerResponseError(f"{where}: 'index' {index!r} is a {_kind(index)}, not an integer")
        if not 0 <= index < n:
            raise ServerResponseError(f"{where}: 'index' {index} is out of range for {n} choice(s)")
        if ordered[index] is not None:
            raise ServerResponseError(f"{where}: 'index' {index} is given twice")
        if choice.get("error") not in (None, "", {}):  # OpenRouter-style: finish_reason "error"
            raise ServerResponseError(f"{where}: the server returned an error: {_error_message(choice['error'])}")
        finish = choice.get("finish_reason")
        if finish is not None and not isinstance(finish, str):
            raise ServerResponseError(f"{where}: 'finish_reason' {finish!r} is a {_kind(finish)}, not a string or null")
        ordered[index] = (choice, finish, where)
    return [c for c in ordered if c is not None]


def _text(value: Any, what: str) -> str | None:
    """A string (or null) as is; a list of strings or text parts concatenated; else refused."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ServerResponseError(f"{what} is a {_kind(value)}, not a string, a list of text parts or null")
    texts: list[str] = []
    for k, part in enumerate(value):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            kind, text = part.get("type", "text"), part.get("text")
            if kind != "text":
                raise ServerResponseError(
                    f"{what} part {k} has type {kind!r}; only text parts ({{'type': 'text', 'text': ...}}) are read"
                )
            if not isinstance(text, str):
                raise ServerResponseError(f"{what} part {k} has a {_kind(text)} 'text', not a string")
            texts.append(text)
        else:
            raise ServerResponseError(f"{what} part {k} is a {_kind(part)}, not a string or a text part")
    return "".join(texts)


class _CheckedAPI(LocalCompletionsAPI):
    """lm-eval's request/retry machinery, with every response read bounded and checked.

    The checks run inside ``model_call``/``amodel_call``, the calls lm-eval retries, so
    a bad response is retried like a failed request; the last failure ends the run as one
    :class:`ServerResponseError` that names the model, the URL and the attempts.
    """

    _name = "api"

    def __init__(self, *args: Any, max_response_bytes: int | str = DEFAULT_MAX_RESPONSE_BYTES, **kwargs: Any) -> None:
        try:
            cap = int(max_response_bytes)
        except (TypeError, ValueError):
            cap = 0
        if cap <= 0:
            raise ValueError(f"max_response_bytes must be a positive number of bytes, got {max_response_bytes!r}")
        self.max_response_bytes = cap
        super().__init__(*args, **kwargs)

    def _generations(self, out: dict[str, Any]) -> list[Generation | None]:
        raise NotImplementedError

    def parse_generations(self, outputs: dict | list[dict], **kwargs: Any) -> list[Any]:  # type: ignore[override]
        # a Generation per choice, None for a choice with no text (lm-eval maps it to its placeholder)
        res: list[Any] = []
        for out in outputs if isinstance(outputs, list) else [outputs]:
            res.extend(self._generations(out))
        return res

    def _checked(self, status: int, body: bytes, generate: bool) -> dict[str, Any]:
        try:
            out = _checked_body(status, body)
            if generate:
                self._generations(out)
            else:
                _choices(out)
        except ServerResponseError as exc:
            log.warning(
                "%s: unusable response (lm-eval retries up to max_retries=%d): %s", self._name, self.max_retries, exc
            )
            raise
        return out

    def model_call(
        self, messages: Any, *, generate: bool = True, gen_kwargs: dict | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """lm-eval's ``TemplateAPI.model_call``, reading at most ``max_response_bytes``."""
        gen_kwargs = copy.deepcopy(gen_kwargs)
        payload = self._create_payload(
            self.create_message(messages),
            generate=generate,
            gen_kwargs=gen_kwargs,
            seed=self._seed,
            eos=self.eos_string,
            **kwargs,
        )
        if self.base_url is None:
            raise ValueError(f"{self._name}: model_args base_url=<the server's endpoint URL> is required")
        with requests.post(
            self.base_url,
            json=payload,
            headers=self.header,
            verify=self.verify_certificate,
            timeout=self.timeout,
            stream=True,
        ) as response:
            body = _read_capped(response.iter_content(_CHUNK), self.max_response_bytes)
        return self._checked(response.status_code, body, generate)

    async def amodel_call(
        self,
        session: Any,
        sem: Any,
        messages: Any,
        *,
        generate: bool = True,
        cache_keys: list | None = None,
        ctxlens: list[int] | None = None,
        gen_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """lm-eval's ``TemplateAPI.amodel_call``, reading at most ``max_response_bytes``."""
        gen_kwargs = copy.deepcopy(gen_kwargs)
        payload = self._create_payload(
            self.create_message(messages), generate=generate, gen_kwargs=gen_kwargs, seed=self._seed, **kwargs
        )
        acquired = await sem.acquire()
        try:
            async with session.post(self.base_url, json=payload, headers=self.header) as response:
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise _too_big(self.max_response_bytes)
                outputs = self._checked(response.status, bytes(body), generate)
        finally:
            if acquired:
                sem.release()
        if generate:
            answers: list[Any] = self.parse_generations(outputs=outputs)
        else:
            answers = self.parse_logprobs(outputs=outputs, tokens=messages, ctxlens=ctxlens)
        if any(a is None for a in answers):
            log.warning("API returned null content; filled with LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER")
        answers = [LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER if a is None else a for a in answers]
        if cache_keys:
            for res, cache in zip(answers, cache_keys):  # noqa: B905 - as lm-eval
                self.cache_hook.add_partial("generate_until" if generate else "loglikelihood", cache, res)
        return answers

    @contextmanager
    def _one_error(self) -> Iterator[None]:
        try:
            yield
        except ServerResponseError as exc:
            n = self.max_retries
            raise ServerResponseError(
                f"{self._name} ({self.base_url}): {exc} (after {n} attempt{'s' if n != 1 else ''}; "
                "--model_args max_retries=N sets how many)"
            ) from exc

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        with self._one_error():
            return super().generate_until(requests, disable_tqdm)

    def _loglikelihood_tokens(self, requests: Any, **kwargs: Any) -> list[tuple[float, bool]]:
        with self._one_error():
            return super()._loglikelihood_tokens(requests, **kwargs)


class TraceChatAPI(_CheckedAPI, LocalChatCompletion):
    """lm-eval model ``tc_chat_api`` (see the module docstring)."""

    _name = "tc_chat_api"

    def __init__(
        self,
        *args: Any,
        reasoning_fmt: str = "think",
        reasoning_parser: str | None = None,
        prefilled: str | bool = "auto",
        **kwargs: Any,
    ) -> None:
        get_format(reasoning_fmt)  # ValueError naming the known families
        super().__init__(*args, **kwargs)
        self.reasoning_fmt = reasoning_fmt
        self.reasoning_parser = reasoning_parser or None
        self._split = SplitReader(str(self.base_url), getattr(self, "model", None), self.header, reasoning_fmt,
                                  self.reasoning_parser, _flag(prefilled, "prefilled"))  # fmt: skip

    def _create_payload(self, *args: Any, **kwargs: Any) -> dict:
        payload: dict = super()._create_payload(*args, **kwargs)
        if self._split.asks_token_ids:
            payload["return_token_ids"] = True  # vLLM: each reply's ids show whether it opened the trace
        if self._split.asks_logprobs:
            payload["logprobs"] = True  # llama.cpp: each reply's tokens show an empty block its format dropped
        return payload

    def _generations(self, out: dict[str, Any]) -> list[Generation | None]:
        res: list[Generation | None] = []
        choices = _choices(out)
        # usage counts a whole reply: it is one response's only when the reply holds one choice
        served = _reasoning_tokens(out) if len(choices) == 1 else None
        for choice, finish, where in choices:
            msg = choice.get("message")
            if msg is None and finish == "content_filter":  # blocked: no answer, no server error
                msg = {}
            if msg is None:
                raise ServerResponseError(f"{where}: 'message' is missing or null: {_snippet(choice)}")
            if not isinstance(msg, dict):
                raise ServerResponseError(f"{where}: 'message' is a {_kind(msg)}, not an object: {_snippet(msg)}")
            key = "reasoning_content" if msg.get("reasoning_content") is not None else "reasoning"
            reasoning = _text(msg.get(key), f"{where}: {key!r}")
            content = _text(msg.get("content"), f"{where}: 'content'")
            res.append(Generation(self._split.read(choice, reasoning, content, finish), finish, served))
        return res


def _reasoning_tokens(out: dict[str, Any]) -> int | None:
    """``usage.completion_tokens_details.reasoning_tokens`` (vLLM, SGLang, OpenAI), None when absent.

    >>> _reasoning_tokens({"usage": {"completion_tokens_details": {"reasoning_tokens": 12}}}), _reasoning_tokens({})
    (12, None)
    """
    usage = out.get("usage")
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    value = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ServerResponseError(f"usage.completion_tokens_details.reasoning_tokens is {value!r}, not a count")
    return value


class TraceCompletionsAPI(_CheckedAPI):
    """lm-eval model ``tc_completions_api``: raw completions, untouched, with ``finish_reason``."""

    _name = "tc_completions_api"

    def _generations(self, out: dict[str, Any]) -> list[Generation | None]:
        res: list[Generation | None] = []
        for choice, finish, where in _choices(out):
            text = choice.get("text")
            if text is not None and not isinstance(text, str):
                raise ServerResponseError(f"{where}: 'text' is a {_kind(text)}, not a string or null")
            res.append(None if text is None else Generation(text, finish))
        return res
