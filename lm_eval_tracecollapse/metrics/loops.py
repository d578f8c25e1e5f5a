"""Does a reasoning trace end in a repetition loop?  One bounded pass over its tail.

A trace **ends in a loop** when the newest part of some tail of it repeats what that
tail said before.  The trace is cut into tokens (runs of Latin, Greek or Cyrillic
letters and digits; any other non-space character — a CJK character, a punctuation
mark — is a token of its own).  For each tail length ``w`` = ``min_tokens``,
2·``min_tokens``, … below ``window`` tokens, and the whole tail (``window`` tokens,
or the whole trace when shorter but at least ``min_tokens`` long), the **novelty** is
the share of the ``ngram``-grams starting in the tail's last ``w/2`` tokens that do
not occur earlier in that tail.  Novelty below ``novelty`` at any length is a loop.

So a block of ``p`` tokens repeated verbatim up to the end is a loop as soon as its
copies fill a tail of ``w ≥ 2p`` tokens (with the defaults: blocks up to 512 tokens,
at least two copies, the last 64 tokens or more) — R1/Qwen3 "Wait, let me recheck…"
cycles, a paragraph written over and over until the budget ran out — while prose and
math that keep moving (new numbers, new steps) have novelty near 1 at every length,
and a trace that looped and then broke out with new reasoning does not end in a loop.

Linear time, in fact bounded: only the last ``window · 16`` characters are read (half
that when it holds enough tokens), the previous occurrence of every n-gram of the tail
is found with one sort (numpy), and each length then counts over its newest half.

Example:
    >>> ends_in_loop("Wait, let me recheck the sum. 12 + 30 = 42. " * 20)
    True
    >>> ends_in_loop(" ".join(f"Step {i}: add {i} to get {i * (i + 1) // 2}." for i in range(60)))
    False
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["LoopConfig", "ends_in_loop", "loop_tokens", "tail_novelty"]

_TOKEN = re.compile(r"[0-9A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF]+|\S")
_CHARS_PER_TOKEN = 16  # how many characters of the tail are read per token of the window


@dataclass(frozen=True)
class LoopConfig:
    """Thresholds of :func:`ends_in_loop` (metadata/YAML keys ``tc_loop_ngram``,
    ``tc_loop_window``, ``tc_loop_min_tokens``, ``tc_loop_novelty``).

    >>> LoopConfig(novelty=0.3).novelty
    0.3
    >>> LoopConfig(ngram=0)
    Traceback (most recent call last):
    ValueError: tc_loop_ngram must be an integer >= 1, got 0
    """

    ngram: int = 8
    window: int = 1024
    min_tokens: int = 64
    novelty: float = 0.5

    def __post_init__(self) -> None:
        for key, value, low in (
            ("ngram", self.ngram, 1),
            ("window", self.window, 1),
            ("min_tokens", self.min_tokens, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"tc_loop_{key} must be an integer >= {low}, got {value!r}")
        if self.min_tokens > self.window:
            raise ValueError(f"tc_loop_min_tokens ({self.min_tokens}) must not exceed tc_loop_window ({self.window})")
        if 2 * self.ngram >= self.min_tokens:
            raise ValueError(
                f"tc_loop_ngram ({self.ngram}) must be below half of tc_loop_min_tokens ({self.min_tokens})"
            )
        if isinstance(self.novelty, bool) or not isinstance(self.novelty, (int, float)) or not 0 < self.novelty <= 1:
            raise ValueError(f"tc_loop_novelty must be a number in (0, 1], got {self.novelty!r}")


DEFAULT = LoopConfig()


def loop_tokens(text: str, window: int = DEFAULT.window) -> list[str]:
    """The last ``window`` tokens of ``text`` (read from its last ``window · 16`` characters).

    >>> loop_tokens("Hello, 世界! x2", 5)
    [',', '世', '界', '!', 'x2']
    """
    limit = window * _CHARS_PER_TOKEN
    if len(text) > limit // 2:
        # Tokens are maximal letter runs or single characters, so every token found in a
        # suffix except its first (which the cut may split) is a token of the whole text:
        # when the shorter suffix holds more than ``window`` of them, its last ``window``
        # are the answer, read from half the characters (most traces take this path).
        tokens = _TOKEN.findall(text[-limit // 2 :])
        if len(tokens) > window:
            return tokens[-window:]
    return _TOKEN.findall(text[-limit:])[-window:]


def _scales(config: LoopConfig, n_tokens: int) -> list[int]:
    scales, w = [], config.min_tokens
    while w < min(n_tokens, config.window):
        scales.append(w)
        w *= 2
    if n_tokens >= config.min_tokens:
        scales.append(min(n_tokens, config.window))
    return scales


def tail_novelty(text: str, config: LoopConfig = DEFAULT) -> dict[int, float]:
    """Novelty of each tail length checked (share of the n-grams of its newest half not
    seen earlier in it), ``{}`` when the trace has fewer than ``min_tokens`` tokens.

    >>> {w: round(v, 3) for w, v in tail_novelty("a b " * 40, LoopConfig(ngram=2, min_tokens=16, window=64)).items()}
    {16: 0.0, 32: 0.0, 64: 0.0}
    >>> ten = "one two three four five six seven eight nine ten "
    >>> {w: round(v, 3) for w, v in tail_novelty(ten * 2, LoopConfig(2, 64, 16)).items()}
    {16: 0.286, 20: 0.0}
    """
    tokens = loop_tokens(text, config.window)
    end, n = len(tokens), config.ngram
    scales = _scales(config, end)
    if not scales:
        return {}
    return _novelties(_previous_occurrence(tokens, n), end, scales)


def _previous_occurrence(tokens: list[str], n: int) -> Any:
    """For each n-gram of ``tokens`` (by start), where the same n-gram started before (-1:
    never), as an integer array: tokens interned to ids, each n-gram packed exactly into
    int64 words, grouped by a stable sort (numpy: no Python loop over the n-grams).

    >>> _previous_occurrence("a b a b a".split(), 2).tolist()
    [-1, -1, 0, 1]
    """
    import numpy as np

    index = {t: k for k, t in enumerate(dict.fromkeys(tokens))}
    ids = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    grams = len(tokens) - n + 1
    bits = max(1, len(index).bit_length())
    per = max(1, 62 // bits)  # ids per int64 word, exactly (no hashing)
    words = []
    for first in range(0, n, per):
        word = np.zeros(grams, dtype=np.int64)
        for j in range(first, min(n, first + per)):
            word = (word << bits) | ids[j : j + grams]
        words.append(word)
    order = np.lexsort(words[::-1])  # by n-gram (stable: equal ones by position)
    keys = np.stack(words, axis=1)[order]
    same = (keys[1:] == keys[:-1]).all(axis=1)
    prev = np.full(grams, -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    return prev


def ends_in_loop(text: str | None, config: LoopConfig = DEFAULT) -> bool:
    """Whether ``text`` (a trace's reasoning; ``None`` for none) ends in a repetition loop.

    Most traces do not, and :func:`_hashed_previous` proves it cheaply: n-grams compared by
    a hash can only look *less* novel than they are (equal n-grams always hash equal), so
    a tail that is novel enough by hash is novel enough; only the rest (loops and hash
    collisions) run the exact :func:`tail_novelty`.

    >>> ends_in_loop(None), ends_in_loop("Okay. " * 5)
    (False, False)
    """
    if not text:
        return False
    end, prev = _hashed_previous(text, config)
    scales = _scales(config, end)
    if not scales or all(v >= config.novelty for v in _novelties(prev, end, scales).values()):
        return False
    return any(v < config.novelty for v in tail_novelty(text, config).values())


def _novelties(prev: Any, end: int, scales: list[int]) -> dict[int, float]:
    """Each tail length's share of n-grams in its newest half not seen earlier in it, from
    the previous start of every n-gram (``prev``) of ``end`` tokens."""
    if not (prev >= 0).any():  # no n-gram repeats (prose, most traces): every tail is all new
        return dict.fromkeys(scales, 1.0)
    out: dict[int, float] = {}
    for w in scales:
        newest = prev[end - w // 2 :]
        out[w] = int((newest < end - w).sum()) / len(newest)
    return out


_WORD_RANGES = ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x370, 0x4FF))  # _TOKEN's letters
_LAST_SPACE = 0x3000  # the highest code point str.isspace() (so ``\s``) accepts


@lru_cache(maxsize=1)
def _classes() -> tuple[Any, bytes]:
    """The character classes of :data:`_TOKEN` (0 space, 1 letter or digit, 2 a token of its
    own) for code points up to U+3000 (above it: 2) as an array, and for ASCII as a
    ``bytes.translate`` table."""
    import numpy as np

    classes = np.array([0 if chr(c).isspace() else 2 for c in range(_LAST_SPACE + 2)], dtype=np.uint8)
    for lo, hi in _WORD_RANGES:
        classes[lo : hi + 1] = 1
    return classes, bytes(classes[:128].tolist()) + bytes(128)


@lru_cache(maxsize=8)
def _powers(size: int, base: int) -> Any:
    """``base**0 … base**(size-1)`` modulo 2**64 (uint64 arithmetic wraps)."""
    import numpy as np

    out = np.ones(size, dtype=np.uint64)
    out[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))
    return out


def _hashed_previous(text: str, config: LoopConfig) -> tuple[int, Any]:
    """``(number of tail tokens, previous start of each n-gram)`` as :func:`tail_novelty`
    computes them, but with tokens and n-grams compared by a 64-bit polynomial hash, in
    numpy without making a string per token.  Hash-equal n-grams include the equal ones,
    so each n-gram's previous start is at least the exact one: novelty at most the exact.
    """
    import numpy as np

    classes, ascii_classes = _classes()
    limit = config.window * _CHARS_PER_TOKEN
    cut = min(limit, 4 * config.window)
    while True:  # a shorter suffix first, as in loop_tokens
        part = text[-cut:]
        if part.isascii():
            data = part.encode("ascii")
            codes: Any = np.frombuffer(data, dtype=np.uint8)
            cls = np.frombuffer(data.translate(ascii_classes), dtype=np.uint8)
        else:
            codes = np.frombuffer(part.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            cls = classes[np.minimum(codes, _LAST_SPACE + 1)]
        word = cls == 1
        start = cls == 2
        start[1:] |= word[1:] > word[:-1]
        start[:1] |= word[:1]
        starts = np.flatnonzero(start)
        if len(starts) > config.window or cut >= min(limit, len(text)):
            break
        cut = min(limit, 4 * cut)
    starts = starts[-config.window :]
    end, n = len(starts), config.ngram
    m = end - n + 1
    if m <= 0:
        return end, np.full(0, -1, dtype=np.int64)
    inside = np.flatnonzero(cls[starts[0] :]) + starts[0]  # the characters of the tail's tokens
    first = start[inside]
    place = inside - starts[np.cumsum(first) - 1]  # each character's place in its token
    with np.errstate(over="ignore"):
        chars = (codes[inside].astype(np.uint64) + np.uint64(1)) * _powers(limit, 0x9E3779B97F4A7C15)[place]
        tokens = np.add.reduceat(chars, np.flatnonzero(first))
        weights = _powers(n, 0xC2B2AE3D27D4EB4F)
        gram = tokens[:m] * weights[0]
        for j in range(1, n):
            gram += tokens[j : j + m] * weights[j]
    order = np.argsort(gram, kind="stable")
    ranked = gram[order]
    same = ranked[1:] == ranked[:-1]
    prev = np.full(m, -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    return end, prev
