"""Asking an OpenAI-compatible server which prompt its chat template renders.

Whether the generation prompt opens the trace (``<think>`` prefilled) decides how a
reasoning parser's split reads (:mod:`._text`).  The server knows its template:
vLLM and SGLang render it through ``POST /tokenize`` (``messages``,
``add_generation_prompt``) and ``POST /detokenize``; llama.cpp's server through
``POST /apply-template``.  :func:`rendered_prompt` tries those, at the server's root.

Example:
    >>> server_root("http://127.0.0.1:8000/v1/chat/completions")
    'http://127.0.0.1:8000'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

__all__ = ["rendered_prompt", "server_root", "token_ids"]

_PROBE = [{"role": "user", "content": "What is 2 + 2?"}]


def server_root(base_url: str) -> str:
    """``scheme://host:port`` of an endpoint URL."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _post(url: str, payload: dict[str, Any], headers: dict[str, str] | None, timeout: float) -> dict[str, Any] | None:
    try:
        response = requests.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        out = response.json()
    except ValueError:
        return None
    return out if isinstance(out, dict) else None


def rendered_prompt(
    base_url: str, model: str | None, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> str | None:
    """The generation prompt the server renders for a one-message chat, or None when the
    server offers no way to ask (then the caller says so and asks for ``prefilled=``)."""
    root = server_root(base_url)
    tokenized = _post(f"{root}/tokenize", {"model": model, "messages": _PROBE, "add_generation_prompt": True},
                      headers, timeout)  # fmt: skip
    if tokenized is not None and isinstance(tokenized.get("tokens"), list):
        text = _post(f"{root}/detokenize", {"model": model, "tokens": tokenized["tokens"]}, headers, timeout)
        if text is not None and isinstance(text.get("prompt"), str):
            return str(text["prompt"])
    applied = _post(f"{root}/apply-template", {"messages": _PROBE}, headers, timeout)
    if applied is not None and isinstance(applied.get("prompt"), str):
        return str(applied["prompt"])
    return None


def token_ids(
    base_url: str, model: str | None, text: str, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> list[int] | None:
    """The server's token ids of ``text`` (vLLM/SGLang ``/tokenize``), or None."""
    out = _post(f"{server_root(base_url)}/tokenize", {"model": model, "prompt": text, "add_special_tokens": False},
                headers, timeout)  # fmt: skip
    ids = None if out is None else out.get("tokens")
    return [int(i) for i in ids] if isinstance(ids, list) and all(isinstance(i, int) for i in ids) else None
