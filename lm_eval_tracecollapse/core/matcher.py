"""Compiled delimiter search: linear-time, case-insensitive where the family says so.

Internal to :mod:`lm_eval_tracecollapse.core.parse`.  Every search is either ``str.find``
(case-sensitive families) or one compiled regular expression built from literal
strings only — no nested quantifiers, so the regex engine cannot backtrack
super-linearly.  For ``fmt="auto"`` all families' delimiters are merged into one
trie-shaped pattern per leading character, so a response is scanned a few times
in total, not twice per family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import formats as _formats
from .formats import ReasoningFormat
from .literals import (
    FREE_HOPS,
    GUARDED,
    MIN_GAP,
    caseless_first,
    cases,
    char_source,
    dense_search,
    guard,
    hop_search,
    literal_pattern,
)


class Finder:
    """Find the first of one or more literal delimiters, honouring the family's case rule."""

    __slots__ = ("_anchor", "_canon", "_dense", "_longest", "_regex", "length", "text")

    def __init__(self, words: str | tuple[str, ...], case_sensitive: bool) -> None:
        words = (words,) if isinstance(words, str) else words
        self.text = words[0]
        self.length = len(words[0]) if len(words) == 1 else -1
        # the first word as written, tried with startswith before the regex: safe unless another
        # word extends it (the longest match wins at a position)
        folded = words[0].lower()
        self._canon = -1 if any(w.lower().startswith(folded) for w in words[1:]) else len(words[0])
        firsts = {w[0] for w in words} if case_sensitive else {w[0].lower() for w in words}
        single_exact = case_sensitive and len(words) == 1
        self._regex = None if single_exact else re.compile(literal_pattern(list(words), fold=not case_sensitive))
        first = next(iter(firsts)) if len(firsts) == 1 else None
        self._anchor = first if case_sensitive else (caseless_first(first) if first else None)
        folded_words = [w if case_sensitive else w.lower() for w in words]
        anchor, hops = self._anchor, self._regex is not None  # only the regex path hops between anchors
        self._dense = _pair_patterns(anchor, {(case_sensitive, ""): folded_words}) if anchor and hops else None
        self._longest = max(map(len, words))

    def find(self, s: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
        """``(start, end)`` of the first occurrence in ``s[start:end]``, or None.

        The hot path of every parse: :func:`hop_search` inlined, and the first
        delimiter's canonical spelling tried with ``startswith`` before the regex.
        """
        if end is None:
            end = len(s)
        regex, anchor, text, n = self._regex, self._anchor, self.text, self._canon
        if regex is None:
            i = s.find(text, start, end)
            return None if i < 0 else (i, i + n)
        if anchor is None:
            m = regex.search(s, start, end)
            return None if m is None else m.span()
        i = s.find(anchor, start, end)
        hops = 0
        while i >= 0:
            if n > 0 and s.startswith(text, i, end):
                return (i, i + n)
            m = regex.match(s, i, end)
            if m is not None:
                return m.span()
            hops += 1
            if hops > FREE_HOPS and hops * MIN_GAP > i - start:
                m = dense_search(regex, anchor, s, i, end, self._dense, self._longest)
                return None if m is None else m.span()
            i = s.find(anchor, i + 1, end)
        return None

    def can_end_with(self, ch: str) -> bool:
        """Whether a match of :meth:`match` can end with the character ``ch`` (only a single
        delimiter has a fixed :attr:`length`, which prefill detection needs).

        >>> Finder("<think>", True).can_end_with(">"), Finder("[THINK]", False).can_end_with("k")
        (True, False)
        """
        return self.length > 0 and re.fullmatch(char_source(self.text[-1], self._regex is not None), ch) is not None

    def match(self, s: str, pos: int) -> int:
        """End of the delimiter if one occurs exactly at ``pos``, else -1."""
        if self.length > 0 and s.startswith(self.text, pos):
            return pos + self.length
        if self._regex is None:
            return -1
        m = self._regex.match(s, pos)
        return -1 if m is None else m.end()


_SPACES = re.compile(r"\s*")
_NON_SPACE = re.compile(r"\S")


def _reemitted(close: str) -> re.Pattern[str]:
    """Closing delimiters repeated after the first (whitespace between them), not the
    whitespace after the last: that belongs to the answer part.  Linear: each repetition
    consumes a whole delimiter, which never starts with whitespace; possessive
    quantifiers (Python >= 3.11) also spare the engine its backtracking bookkeeping.

    >>> _reemitted("</think>").match("</think>\\n</think>\\n  x", 8).end()
    17
    """
    try:
        return re.compile(r"(?:\s*+" + close + r")*+")
    except re.error:  # pragma: no cover - Python 3.10
        return re.compile(r"(?:\s*" + close + r")*")


def _regex_anchor(source: str) -> str | None:
    """A case-invariant literal first character of a regex source, if it has one."""
    body = source[4:] if source.startswith("(?i)") else source
    c = body[:1]
    if not c or c in "\\.^$*+?{}[]|()" or body[1:2] in ("*", "?", "{"):
        return None
    return caseless_first(c)


@dataclass(frozen=True)
class FamilyMatcher:
    """Compiled search for one family."""

    family: ReasoningFormat
    open: Finder
    close: Finder
    #: the closing delimiter or any implicit close, found in one pass
    closing: Finder
    implicit: Finder | None
    answer_start: re.Pattern[str] | None
    answer_anchor: str | None
    answer_end: tuple[str, ...]
    #: closing delimiters re-emitted after the first one
    reemitted: re.Pattern[str]

    @classmethod
    def build(cls, family: ReasoningFormat) -> FamilyMatcher:
        cs = family.case_sensitive
        close = Finder(family.close, cs)
        implicit = Finder(family.implicit_closes, cs) if family.implicit_closes else None
        return cls(
            family,
            Finder(family.open, cs),
            close,
            Finder((family.close, *family.implicit_closes), cs) if implicit else close,
            implicit,
            re.compile(family.answer_start) if family.answer_start else None,
            _regex_anchor(family.answer_start) if family.answer_start else None,
            tuple(e if cs else e.lower() for e in family.answer_end),
            _reemitted(literal_pattern([family.close], fold=not cs)),
        )

    def find_close(self, s: str, start: int) -> tuple[tuple[int, int] | None, int]:
        """(first closing delimiter at or after ``start``, start of an implicit close
        before it or -1), in one pass over the text."""
        hit = self.closing.find(s, start)
        if hit is None or self.implicit is None or self.close.match(s, hit[0]) == hit[1]:
            return hit, -1
        return self.close.find(s, hit[1]), hit[0]

    def find_answer_start(self, s: str, start: int, end: int) -> re.Match[str] | None:
        """The answer wrapper's opening match at the start of ``s[start:end]`` (after
        whitespace), or anywhere in it for families with ``answer_start_search``."""
        assert self.answer_start is not None
        if self.family.answer_start_search:
            return hop_search(self.answer_start, self.answer_anchor, s, start, end)
        return self.answer_start.match(s, _SPACES.match(s, start, end).end(), end)  # type: ignore[union-attr]


#: the earliest delimiter found by the auto scanner: (start, end, matcher, is_open)
AutoHit = tuple[int, int, FamilyMatcher, bool]


#: characters that start delimiters and are rare in text: a delimiter that begins with a
#: letter ("to=self<|message|>") is searched from its first of these, the letters before
#: it checked by a lookbehind, so its scan hops between '<' and not between every 't'
_PUNCT = "<[{|◁"


def _back(key: str) -> int:
    """How many characters of ``key`` precede its scan anchor (0: the first one)."""
    if not key[:1].isalnum():
        return 0
    return next((i for i, c in enumerate(key) if c in _PUNCT), 0)


def _group_pattern(
    anchor: str | None, parts: dict[tuple[bool, str], list[str]], guarded: int = GUARDED
) -> re.Pattern[str]:
    """One regex for the delimiters ``parts`` ((case-sensitive, letters before the anchor) ->
    the delimiters from the anchor on), all of which begin with ``anchor``; led by a guard
    when ``guarded`` or more alternatives follow the anchor."""
    # the anchor leads every branch, so the regex engine's own search can skip to it
    lead, cut = (re.escape(anchor), len(anchor)) if anchor is not None else ("", 0)
    branches = []
    for (cs, prefix), words in sorted(parts.items(), key=lambda kv: -len(kv[0][1])):
        body = literal_pattern([w[cut:] for w in words], fold=not cs, root_guard=False)
        if prefix:  # the word first, then the letters before it: a lookbehind only where the word is
            body = "|".join(
                f"{literal_pattern([w[cut:]], fold=not cs)}(?<={literal_pattern([prefix + w], fold=not cs)})"
                for w in words
            )
        branches.append(body)
    # one guard for the group, before its branches (each family's next character in the
    # cases its branch matches; none if a delimiter is the lead alone)
    words_cs = [(w, cs) for (cs, _), words in parts.items() for w in words]
    nexts = {c for w, cs in words_cs if len(w) > cut for c in cases(w[cut], not cs)}
    alternatives = {w[cut].lower() for w, _ in words_cs if len(w) > cut}
    many = len(alternatives) >= guarded and all(len(w) > cut for w, _ in words_cs)
    return re.compile(lead + (guard(nexts) if many else "") + "(?:" + "|".join(branches) + ")")


def _pair_patterns(anchor: str, parts: dict[tuple[bool, str], list[str]]) -> tuple[re.Pattern[str], ...] | None:
    """For text packed with ``anchor`` (:func:`.literals.dense_search`): a regex per leading
    pair of the delimiters ``parts`` ("<|", "</", "<t", "<T"...: a pair's second character
    in each of its cases), which re searches for as a literal prefix, entering its matcher
    only where the pair is ("<|" * k: about 10x its str.find scan, not 50x); None when the
    delimiters have a single pair."""
    split: dict[str, dict[tuple[bool, str], list[str]]] = {}
    for part, words in parts.items():
        for w in words:
            for pair in {anchor} if len(w) < 2 else {anchor + c for c in cases(w[1], not part[0])}:
                split.setdefault(pair, {}).setdefault(part, []).append(w)
    # (where candidates are packed, a guard pays from two alternatives on)
    return tuple(_group_pattern(a, p, 2) for a, p in sorted(split.items())) if len(split) > 1 else None


class AutoScanner:
    """Find the earliest opening (or bare closing) delimiter of any auto family.

    Delimiters are grouped by their scan anchor (a character without case variants,
    usually ``<``); each group is one regex — tries of literals, plus lookbehind
    branches for delimiters anchored after a prefix — searched by :func:`hop_search`.
    A response that starts with a delimiter (the common case) needs no scan at all.
    """

    def __init__(self, matchers: list[FamilyMatcher]) -> None:
        # text a group regex matches (folded) -> (matcher, is_open, characters before it)
        self._lookup: dict[str, tuple[FamilyMatcher, bool, int]] = {}
        groups: dict[str | None, dict[tuple[bool, str], list[str]]] = {}
        self._whole: dict[str, list[tuple[str, bool, FamilyMatcher, bool]]] = {}
        for m in matchers:
            f = m.family
            if not f.auto or f.refines is not None:
                continue
            cs = f.case_sensitive
            for text, is_open in [(f.open, True)] + ([(f.close, False)] if f.bare_close else []):
                key = text if cs else text.lower()
                back = _back(key)
                found = key[back:]
                if found in self._lookup:
                    if back == 0 or key in self._lookup:
                        continue  # the first registered family wins
                    back, found = 0, key
                self._lookup[found] = (m, is_open, back)
                anchor = found[0] if cs else caseless_first(found[0])
                groups.setdefault(anchor, {}).setdefault((cs, key[:back]), []).append(found)
                if back:  # starts with letters: the start-of-response check compares it whole
                    for c in {key[0], key[0].upper()} if not cs else {key[0]}:
                        self._whole.setdefault(c, []).append((key, cs, m, is_open))
        self._patterns: list[tuple[re.Pattern[str], str | None, bool, tuple[re.Pattern[str], ...] | None]] = []
        for anchor, parts in groups.items():
            has_back = any(prefix for _, prefix in parts)
            dense = _pair_patterns(anchor, parts) if anchor is not None else None
            self._patterns.append((_group_pattern(anchor, parts), anchor, has_back, dense))
        for whole in self._whole.values():
            whole.sort(key=lambda w: -len(w[0]))
        #: first character of a response -> the group patterns that may match right there
        self._starts: dict[str, list[re.Pattern[str]]] = {}
        for pattern, anchor, _, _ in self._patterns:
            self._starts.setdefault(anchor, []).append(pattern)  # type: ignore[arg-type]
        # (a user delimiter that starts with whitespace or a cased letter: scan only)
        self._fast = not any(k[:1].isspace() for k in self._lookup) and None not in self._starts
        # the '<' group first: it holds most families, so the others usually search
        # only the first few characters
        self._patterns.sort(key=lambda p: p[1] != "<")
        self._max_len = max((len(k) + b for k, (_, _, b) in self._lookup.items()), default=0)
        self._max_back = max((b for _, _, b in self._lookup.values()), default=0)
        # delimiters that begin another one: a match of theirs is never remembered, since
        # startswith could not tell them from the longer one
        keys = [k.lower() for k in self._lookup]
        self._prefixes = {a for a in keys if any(b != a and b.startswith(a) for b in keys)}
        self._memo: tuple[str, FamilyMatcher, bool] | None = None

    def _resolve(self, found: str) -> tuple[FamilyMatcher, bool, int] | None:
        hit = self._lookup.get(found) or self._lookup.get(found.lower())
        if hit is not None:
            return hit
        # a user delimiter with a letter whose cases do not round-trip
        # (e.g. dotless i): compare through the same character classes, one by one
        for key, value in self._lookup.items():
            if re.fullmatch(literal_pattern([key], fold=True), found):
                return value
        return None  # pragma: no cover - every match comes from a key

    def scan(self, s: str) -> AutoHit | None:
        """Earliest delimiter in ``s``; the longest one wins at equal positions."""
        if self._fast:  # a delimiter at the first non-space character: no scan needed
            i = 0
            if s[:1].isspace():
                first = _NON_SPACE.search(s)
                i = len(s) if first is None else first.start()
            memo = self._memo  # the delimiter the previous response started with, as written
            if memo is not None and s.startswith(memo[0], i):
                return (i, i + len(memo[0]), memo[1], memo[2])
            c = s[i : i + 1]
            lookup = self._lookup
            for pattern in self._starts.get(c, ()):
                m = pattern.match(s, i)
                if m is not None:
                    found = m.group()
                    resolved = lookup.get(found) or self._resolve(found)
                    if resolved is not None and resolved[2] == 0:
                        if found.lower() not in self._prefixes:
                            self._memo = (found, resolved[0], resolved[1])
                        return (i, m.end(), resolved[0], resolved[1])
            for key, cs, fam, is_open in self._whole.get(c, ()):
                piece = s[i : i + len(key)]
                if (piece if cs else piece.lower()) == key:
                    return (i, i + len(key), fam, is_open)
        best: AutoHit | None = None
        n = len(s)
        for pattern, anchor, has_back, dense in self._patterns:
            end = n if best is None else min(n, best[0] + self._max_len)
            if anchor is not None and s.find(anchor, 0, end) < 0:
                continue  # cheap rejection of a whole group (memchr / str.find)
            m = hop_search(pattern, anchor, s, 0, end, dense, self._max_len)
            while m is not None:
                resolved = self._resolve(m.group())
                if resolved is not None:
                    fam, is_open, back = resolved
                    start = m.start() - back
                    if best is None or start < best[0] or (start == best[0] and m.end() > best[1]):
                        best = (start, m.end(), fam, is_open)
                if not has_back:
                    break
                # a later match anchored after a prefix may still start earlier
                stop = min(n, best[0] + self._max_back + 1) if best is not None else n
                m = pattern.search(s, m.start() + 1, stop) if m.start() + 1 < stop else None
        return best


class _Compiled:
    """Matchers for the current registry, rebuilt when the registry changes."""

    def __init__(self) -> None:
        self.generation = -1
        self.by_name: dict[str, FamilyMatcher] = {}
        self.refinements: dict[str, list[FamilyMatcher]] = {}
        self.auto = AutoScanner([])
        self._prefill: dict[tuple[str, str], list[FamilyMatcher]] = {}

    def prefill_candidates(self, fmt: str, last: str) -> list[FamilyMatcher]:
        """The families (``fmt``'s, or every base family for ``auto``) whose opening delimiter
        can end with the character ``last`` — the only ones a prompt ending in it can have
        prefilled (computed once per character)."""
        key = (fmt, last)
        if key not in self._prefill:
            bases = [m for m in self.by_name.values() if m.family.refines is None]
            pool = [self.by_name[fmt]] if fmt != "auto" else bases
            self._prefill[key] = [m for m in pool if m.open.can_end_with(last)]
        return self._prefill[key]

    def refresh(self) -> _Compiled:
        gen = _formats.registry_generation()
        if gen != self.generation:
            by_name = {f.name: FamilyMatcher.build(f) for f in _formats.all_formats()}
            refinements: dict[str, list[FamilyMatcher]] = {}
            for m in by_name.values():
                if m.family.refines is not None:
                    refinements.setdefault(m.family.refines, []).append(m)
            self.by_name, self.refinements = by_name, refinements
            self.auto = AutoScanner(list(by_name.values()))
            self._prefill = {}
            self.generation = gen
        return self


_compiled = _Compiled()


def compiled() -> _Compiled:
    """The compiled matchers for the current registry (every parse asks: the check is inlined)."""
    c = _compiled
    return c if c.generation == _formats._generation else c.refresh()
