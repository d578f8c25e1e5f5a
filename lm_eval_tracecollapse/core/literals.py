"""Literal delimiters as regular expressions: a trie of the words, case-folded through
character classes where the family says so, led by a lookahead guard where many
alternatives branch.

Internal to :mod:`lm_eval_tracecollapse.core.matcher`.  Every pattern built here is made of
literal strings only — no nested quantifiers — so the regex engine cannot backtrack
super-linearly.

Example:
    >>> literal_pattern(["<think>", "<think_fast>"], fold=True)
    '<[tT][hH][iI][nN][kK](?:>|_[fF][aA][sS][tT]>)'
"""

from __future__ import annotations

import re

__all__ = ["GUARDED", "cases", "char_source", "guard", "literal_pattern"]


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
