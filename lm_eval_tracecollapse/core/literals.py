"""Literal delimiters as regular expressions — a trie of the words, case-folded through
character classes where the family says so, led by a lookahead guard where many
alternatives branch — and their search (:func:`hop_search`).

Internal to :mod:`lm_eval_tracecollapse.core.matcher`.  Every pattern built here is made of
literal strings only — no nested quantifiers — so the regex engine cannot backtrack
super-linearly.

Example:
    >>> literal_pattern(["<think>", "<think_fast>"], fold=True)
    '<[tT][hH][iI][nN][kK](?:>|_[fF][aA][sS][tT]>)'
"""

from __future__ import annotations

import re

__all__ = [
    "FREE_HOPS",
    "GUARDED",
    "MIN_GAP",
    "caseless_first",
    "cases",
    "char_source",
    "dense_search",
    "guard",
    "hop_search",
    "literal_pattern",
]


def cases(ch: str, fold: bool) -> tuple[str, ...]:
    """The characters :func:`char_source` matches for ``ch``."""
    lo, up = ch.lower(), ch.upper()
    if fold and lo != up and len(lo) == 1 and len(up) == 1:
        return (lo, up)
    return (ch,)


def char_source(ch: str, fold: bool) -> str:
    """Regex source for one character; with ``fold``, a class of its two cases."""
    both = cases(ch, fold)
    return re.escape(ch) if len(both) == 1 else f"[{re.escape(both[0])}{re.escape(both[1])}]"


def guard(chars: set[str]) -> str:
    """A lookahead for the characters that can start the next of several alternatives: where
    none follows (text dense with a delimiter's first character, ``"<" * k``), ``re`` fails
    with one class test instead of trying each alternative in turn (about 9 ns a character
    on ``"<" * k`` instead of 55).

    >>> guard({"t", "T", "/"})
    '(?=[/Tt])'
    """
    return "(?=[" + "".join(map(re.escape, sorted(chars))) + "])"


#: alternatives at one point of a trie from which a lookahead guard leads them
GUARDED = 6


def literal_pattern(words: list[str], fold: bool = False, root_guard: bool = True) -> str:
    """Regex source matching any of ``words``, factored as a trie (longest first).

    With ``fold``, letters match in either case through character classes (simple
    case mapping), which the regex engine scans faster than ``re.IGNORECASE``.

    >>> literal_pattern(["<think>", "<thinking>"])
    '<think(?:>|ing>)'
    >>> literal_pattern(["<" + c for c in "abcdef"])  # six alternatives: led by a guard
    '<(?=[abcdef])(?:a|b|c|d|e|f)'
    >>> literal_pattern(["</a>"], fold=True)
    '</[aA]>'
    >>> literal_pattern(["A", "a<"], fold=True)
    '[aA](?:<)?'
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:  # with fold, "A" and "a" are one node (one class): the longest still wins
            key = ch.lower() if fold and cases(ch.lower(), fold) == cases(ch, fold) else ch
            node = node.setdefault(key, {})
        node[""] = {}

    def build(node: dict[str, dict], guarded: bool = True) -> str:
        firsts = [ch for ch in sorted(node) if ch]
        alts = [char_source(ch, fold) + build(node[ch]) for ch in firsts]
        if not alts:
            return ""
        if len(alts) == 1:
            body = alts[0]
        else:  # a guard pays where many alternatives would each be tried (and fail)
            many = guarded and len(alts) >= GUARDED
            lead = guard({c for ch in firsts for c in cases(ch, fold)}) if many else ""
            body = lead + "(?:" + "|".join(alts) + ")"
        if "" in node:
            body = "(?:" + body + ")?"
        return body

    return build(trie, root_guard)


#: keep hopping between candidates (after the first few) only while they are sparser
#: than one per this many characters; denser text goes to the regex engine's own
#: scan.  A hop costs about what the regex engine needs for ~600 characters.
MIN_GAP = 1024
FREE_HOPS = 2
#: text packed with the anchor (more than one in this many characters over the next window)
#: is searched with the group's regexes by leading pair (:func:`hop_search`'s ``dense``):
#: each of those scans the text once in C, which pays only where nearly every character
#: would otherwise enter the regex matcher
_PACKED = 8
_WINDOW = 512


def caseless_first(word: str) -> str | None:
    """The first character of ``word`` if no case mapping can change it, else None."""
    c = word[:1]
    return c if c and c.lower() == c.upper() and len(c.encode("utf-32-le")) == 4 else None


def hop_search(
    pattern: re.Pattern[str],
    anchor: str | None,
    s: str,
    start: int,
    end: int,
    dense: tuple[re.Pattern[str], ...] | None = None,
    longest: int = 0,
) -> re.Match[str] | None:
    """``pattern.search(s, start, end)``, hopping between occurrences of ``anchor``.

    Every match of ``pattern`` starts with ``anchor``, a character without case
    variants, so ``str.find`` (``memchr``) can skip the text between candidates.  On
    text dense with the anchor character, the regex engine takes over: ``pattern``'s
    search, or, on text packed with it, the earliest match of ``dense``: regexes by
    leading pair that together match what ``pattern`` matches, each at most ``longest``
    characters long, never two at one position.  Either way the cost is linear in
    ``end - start``.
    """
    if anchor is None:
        return pattern.search(s, start, end)
    i = s.find(anchor, start, end)
    hops = 0
    while i >= 0:
        m = pattern.match(s, i, end)
        if m is not None:
            return m
        hops += 1
        if hops > FREE_HOPS and hops * MIN_GAP > i - start:
            return dense_search(pattern, anchor, s, i, end, dense, longest)
        i = s.find(anchor, i + 1, end)
    return None


def dense_search(
    pattern: re.Pattern[str],
    anchor: str,
    s: str,
    i: int,
    end: int,
    dense: tuple[re.Pattern[str], ...] | None,
    longest: int,
) -> re.Match[str] | None:
    """``pattern.search(s, i + 1, end)`` where the hops of :func:`hop_search` found the anchor
    dense from ``i`` on: the regex engine's own search, or, where the next characters are
    packed with the anchor, the earliest match of the ``dense`` regexes (one per leading pair
    of the delimiters, together matching what ``pattern`` matches, never two at one position)."""
    window = min(_WINDOW, end - i)
    if dense is None or s.count(anchor, i, i + window) * _PACKED <= window:
        return pattern.search(s, i + 1, end)
    best: re.Match[str] | None = None
    for p in dense:  # a later one need only search where it could start first
        m = p.search(s, i + 1, end if best is None else min(end, best.start() + longest))
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best
