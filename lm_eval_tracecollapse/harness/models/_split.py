"""Reading one served reply's split back into the text the model generated (``tc_chat_api``).

:class:`SplitReader` holds what a run learns from its server once: whether the prompt
the server renders opens the trace (:func:`~._probe.rendered_prompt`), and the token
ids of the opening marker (:func:`~._probe.token_ids`), which tell, reply by reply,
whether a parser's "reasoning without content" opened the trace (vLLM returns each
reply's ids when asked: ``return_token_ids``).  llama.cpp's reasoning formats drop an
empty trace block from the reply altogether (no reasoning field, the answer alone): the
reply's tokens (``logprobs``, asked for with those formats) give the block back.  What
cannot be told is warned once.

Example:
    >>> r = SplitReader("http://127.0.0.1:9/v1/chat/completions", "m", None, "think", None, False)
    >>> r.read({}, "2+2=4", "4", "stop"), r.asks_token_ids
    ('<think>2+2=4</think>4', False)
    >>> r = SplitReader("http://127.0.0.1:9/v1/chat/completions", "m", None, "think", "deepseek", False)
    >>> tokens = [{"token": "<think>"}, {"token": "\\n"}, {"token": "</think>"}, {"token": "\\n4"}]
    >>> r.read({"logprobs": {"content": tokens}}, None, "4", "stop")
    '<think>\\n</think>4'
"""

from __future__ import annotations

import logging
from typing import Any

from ...core.formats import get_format
from ._probe import rendered_prompt, token_ids
from ._text import UNCLOSED_IN_REASONING, is_ambiguous, rebuild_text

__all__ = ["DROPS_EMPTY_BLOCK", "SplitReader"]

log = logging.getLogger(__name__)

#: llama.cpp's ``--reasoning-format`` values that drop an empty ``<think></think>`` block from a
#: reply (llama-server 0.3.36's vendored build: no reasoning field, content the answer alone)
DROPS_EMPTY_BLOCK = frozenset({"deepseek", "deepseek-legacy", "auto"})


class SplitReader:
    """The reading of a run's replies (see the module docstring)."""

    def __init__(self, base_url: str, model: str | None, headers: dict[str, str] | None, fmt: str,
                 parser: str | None, prefilled: bool | None) -> None:  # fmt: skip
        self.base_url, self.model, self.headers = base_url, model, headers
        self.family, self.fmt, self.parser = get_format(fmt), fmt, parser
        self.prefilled = prefilled
        self._probe = prefilled is None  # ask the server once, when a split needs it
        self._open_ids: list[int] | None = None
        self._warned = False

    @property
    def asks_token_ids(self) -> bool:
        """Whether requests ask for each reply's token ids (a parser that files unopened replies as reasoning)."""
        return self.parser in UNCLOSED_IN_REASONING

    @property
    def asks_logprobs(self) -> bool:
        """Whether requests ask for each reply's tokens (``logprobs``: a format that drops empty blocks)."""
        return self.parser in DROPS_EMPTY_BLOCK

    def _dropped_block(self, choice: dict[str, Any]) -> str | None:
        """The empty trace block the server dropped from a reply, read off its tokens; None when
        the tokens hold none (or were not returned: warned once)."""
        tokens = (choice.get("logprobs") or {}).get("content")
        if not isinstance(tokens, list):
            if not self._warned:
                self._warned = True
                log.warning(
                    "tc_chat_api: llama.cpp's --reasoning-format %s drops an empty %s%s block from a reply, and the "
                    "server returned no logprobs to tell, so an empty trace reads as none (missing); serve with "
                    "--reasoning-format none (tc_chat_api reads the trace inline, as hf does).",
                    self.parser, self.family.open, self.family.close,
                )  # fmt: skip
            return None
        raw = b"".join(bytes(t["bytes"]) if t.get("bytes") else str(t.get("token", "")).encode() for t in tokens)
        text = raw.decode(errors="replace")
        head = text.lstrip()
        if not head.startswith(self.family.open):
            return None
        rest = head[len(self.family.open) :].lstrip()
        if not rest.startswith(self.family.close):
            return None
        return text[: len(text) - len(rest) + len(self.family.close)]

    def _prefill(self) -> bool | None:
        if self._probe:
            self._probe = False
            prompt = rendered_prompt(self.base_url, self.model, self.headers)
            self.prefilled = None if prompt is None else prompt.rstrip().endswith(self.family.open)
        return self.prefilled

    def _opened(self, choice: dict[str, Any]) -> bool | None:
        """Whether the reply's token ids hold the opening marker's (None: not returned)."""
        ids = choice.get("token_ids")
        if not self.asks_token_ids or not isinstance(ids, list):
            return None
        if self._open_ids is None:
            self._open_ids = token_ids(self.base_url, self.model, self.family.open, self.headers) or []
        n = len(self._open_ids)
        if not n:
            return None
        return any(ids[k : k + n] == self._open_ids for k in range(len(ids) - n + 1))

    def read(self, choice: dict[str, Any], reasoning: str | None, content: str | None, finish: str | None) -> str:
        """The text of one reply (its choice, split fields and finish reason)."""
        if reasoning is None and self.asks_logprobs and not (content or "").lstrip().startswith(self.family.open):
            block = self._dropped_block(choice)
            if block is not None:
                return block + (content or "")
        prefilled = opened = None
        if is_ambiguous(reasoning, content, finish, self.parser):
            prefilled, opened = self._prefill(), self._opened(choice)
            if prefilled is not True and opened is None and not self._warned:
                self._warned = True
                known = (
                    "the server's prompt does not open the trace"
                    if prefilled is False
                    else "the server does not say which prompt it renders (/tokenize, /apply-template); pass "
                    "--model_args prefilled=true if the model's template opens the trace (DeepSeek-R1, QwQ)"
                )
                log.warning(
                    "tc_chat_api: the %s parser returned reasoning with no content, its answer to a reply that never "
                    "wrote %s; %s, and the server returned no token ids to tell, so such replies are read as having "
                    "no trace (missing). The parser files a reply that opened the trace and never closed it "
                    "(truncated) the same way: for exact statuses serve vLLM >= 0.32 (return_token_ids) or serve the "
                    "model without --reasoning-parser (tc_chat_api reads the trace inline, as hf does).",
                    self.parser, self.family.close, known,
                )  # fmt: skip
        return rebuild_text(reasoning, content, finish, self.fmt, parser=self.parser, prefilled=prefilled,
                            opened=opened)  # fmt: skip
