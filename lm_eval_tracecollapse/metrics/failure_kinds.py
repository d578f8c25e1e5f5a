"""Beyond the four statuses: accuracy per status, loops, degenerate traces, lengths.

Extra rows beside the paper's seven (which never change), per **response** like them,
each a :class:`~.metrics.Weighted` value per document aggregated by ``pooled_mean``
(so with a stderr, pooled at group level by :mod:`.groups`).  Precise definitions in
``docs/failure-kinds.md``:

* ``pass@1_empty`` / ``pass@1_missing`` / ``pass@1_truncated`` — correct among the
  responses of that status (``rpass@1`` is the valid one), weight = their number,
  ``N/A`` when there are none;
* ``loop_rate`` — share of all responses whose trace ends in a repetition loop
  (:func:`~.loops.ends_in_loop`); ``truncated_loop_rate`` + ``truncated_progress_rate``
  = ``truncated_rate``: truncated responses whose trace loops / was still progressing;
* ``degenerate_rate`` — share of all responses whose trace is **valid** but says
  nothing: only filler phrases (:data:`FILLERS`) and punctuation, not one word or number
  of content (a short computation such as ``3+8=11`` is content); with
  ``tc_degenerate_words`` N (default 0: off), also a valid trace of fewer than N words;
* ``trace_length_<unit>`` — mean trace length over the responses with a trace (valid,
  empty, truncated); ``answer_length_<unit>`` — mean answer-part length over those with
  a non-blank answer; ``<unit>`` is ``tokens`` (the model's tokenizer) or ``words``.

Example:
    >>> from lm_eval_tracecollapse.core.carriers import TracedAnswer
    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> pred = TracedAnswer("4", [parse_trace("<think>Okay.</think>4")])
    >>> v = extra_metric_values(pred, [1.0], FailureOptions())
    >>> v["degenerate_rate"], v["pass@1_empty"], v["trace_length_words"], v["answer_length_words"]
    (1.0, N/A, 1.0, 1.0)
    >>> extra_metric_values(TracedAnswer("11", [parse_trace("<think>3+8=11</think>11")]), None,
    ...                     FailureOptions())["degenerate_rate"]
    0.0
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any, Literal

from ..core.parse import Trace, TraceStatus
from .loops import LoopConfig, ends_in_loop
from .pooled import NotAvailable, Weighted
from .trace_rates import pass_among, response_answers

__all__ = [
    "EXTRA_METRICS",
    "FILLERS",
    "KIND_STATUSES",
    "REGISTERED",
    "ROWS",
    "FailureOptions",
    "KindCounts",
    "KindRow",
    "LengthUnit",
    "extra_metric_values",
    "extras_enabled",
    "failure_options",
    "is_degenerate",
    "word_count",
]

log = logging.getLogger(__name__)

LengthUnit = Literal["tokens", "words"]

RowKind = Literal["status_pass", "share", "length"]


@dataclass(frozen=True)
class KindRow:
    """One extra row: the ONE place a row is defined.  It drives the lm-eval metric (its name
    and arrow, :func:`extra_metric_values`), ``analyze``/``compare``'s columns
    (``report/kinds.py``) and their text (``report/render.py``).

    ``kind``: ``status_pass`` — correct among the responses whose status is ``source``;
    ``share`` — the :class:`KindCounts` field ``source`` over all responses; ``length`` —
    mean length of the ``source`` part (``trace``/``answer``), the row named with its unit.
    ``label``/``line``/``sep``: its words, its line of ``analyze``'s block, and what
    separates it from the row before it on that line.
    """

    name: str
    higher_is_better: bool | None  # None: neither (the table shows no arrow)
    kind: RowKind
    source: str
    label: str
    line: int
    sep: str = "   "

    def names(self) -> tuple[str, ...]:
        """The lm-eval row names it emits (a length row: one per unit)."""
        return (f"{self.name}_tokens", f"{self.name}_words") if self.kind == "length" else (self.name,)


#: the extra rows, in table order
ROWS: tuple[KindRow, ...] = (
    KindRow("pass@1_empty", True, "status_pass", "empty", "pass@1 among empty", 0, ""),
    KindRow("pass@1_missing", True, "status_pass", "missing", "missing", 0),
    KindRow("pass@1_truncated", True, "status_pass", "truncated", "truncated", 0),
    KindRow("loop_rate", False, "share", "loops", "loop rate", 1, ""),
    KindRow("truncated_loop_rate", False, "share", "truncated_loops", "truncated: looping", 1),
    KindRow("truncated_progress_rate", False, "share", "truncated_progress", "still progressing", 1, ", "),
    KindRow("degenerate_rate", False, "share", "degenerate", "degenerate rate", 2, ""),
    KindRow("trace_length", None, "length", "trace", "trace length", 2),
    KindRow("answer_length", None, "length", "answer", "answer length", 2),
)
#: row name -> higher_is_better (None: neither; the table shows no arrow), in table order
EXTRA_METRICS: dict[str, bool | None] = {name: r.higher_is_better for r in ROWS for name in r.names()}
#: metric names registered with lm-eval (``trace_length``/``answer_length`` emit the row with its unit)
REGISTERED: dict[str, bool | None] = {r.name: r.higher_is_better for r in ROWS}
#: the stored rows :meth:`KindCounts.from_stored` reads (words: the unit a run without a tokenizer writes)
STORED_ROWS = ("loop_rate", "truncated_loop_rate", "degenerate_rate", "trace_length_words", "answer_length_words")
STATUS_PASS = {r.name: TraceStatus(r.source) for r in ROWS if r.kind == "status_pass"}
KIND_STATUSES = tuple(r.source for r in ROWS if r.kind == "status_pass")  # pass@1_<status> rows

#: filler phrases: a valid trace made only of these (any case, any number of times) and
#: punctuation is degenerate
FILLERS = (
    "okay",
    "ok",
    "alright",
    "all right",
    "sure",
    "well",
    "so",
    "hmm",
    "um",
    "uh",
    "let me think",
    "let me think about this",
    "let me think step by step",
    "let's think",
    "let's think step by step",
    "let me see",
    "i need to think",
    "thinking",
)
_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits (any script); anything else separates words
_FILLER_WORDS = frozenset(tuple(_WORD.findall(f)) for f in FILLERS)  # "let's think" -> ("let", "s", "think")
_FILLER_FIRST = frozenset(words[0] for words in _FILLER_WORDS)
_FILLER_LONGEST = max(map(len, _FILLER_WORDS))
_SPACED = re.compile(r"\S+")


def _filler_only(text: str) -> bool:
    """Whether every word of ``text`` belongs to a filler phrase (:data:`FILLERS`, longest
    first).  Words are read one at a time and the scan stops at the first that does not
    belong, so a trace that starts with content costs a few words, whatever its length."""
    words: Iterator[str] = (m.group().casefold() for m in _WORD.finditer(text))
    ahead: list[str] = []  # the next words, at most as many as the longest phrase has
    while True:
        while len(ahead) < _FILLER_LONGEST and (word := next(words, None)) is not None:
            if not ahead and word not in _FILLER_FIRST:
                return False
            ahead.append(word)
        if not ahead:
            return True
        n = next((n for n in range(len(ahead), 0, -1) if tuple(ahead[:n]) in _FILLER_WORDS), 0)
        if not n:
            return False
        del ahead[:n]


def is_degenerate(trace: Trace, min_words: int = 0) -> bool:
    """A **valid** trace that says nothing: made only of :data:`FILLERS` (any case, any
    number of times) and punctuation, with no word or number of content; with
    ``min_words`` (``tc_degenerate_words``, default 0: off), also one of fewer than that
    many whitespace-separated words.  Length alone does not make a trace degenerate: a
    short, on-topic computation (``3+8=11``) is a real trace.  Other statuses are never
    degenerate (each has its own rate).  Linear in the trace and stops early: at the first
    word of content, and after ``min_words`` words.

    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> [is_degenerate(parse_trace(r)) for r in ("<think>Okay, let me think.</think>4",
    ...  "<think>Okay, 6 * 7 = 42.</think>42", "<think></think>4", "<think>6*7</think>42",
    ...  "<think>Hmm... OK, ok. Let's think step by step!</think>4", "<think>3+8=11</think>11")]
    [True, False, False, False, True, False]
    >>> is_degenerate(parse_trace("<think>6*7</think>42"), min_words=3)
    True
    """
    if trace.status is not TraceStatus.VALID or trace.reasoning is None:
        return False
    text = trace.reasoning
    if min_words and sum(1 for _ in islice(_SPACED.finditer(text), min_words)) < min_words:
        return True
    return _filler_only(text)


#: ASCII whitespace (as ``str.split`` sees it) -> 0, any other ASCII character -> 1
_ASCII_INK = bytes(0 if chr(c).isspace() else 1 for c in range(128)) + bytes(128)


def word_count(text: str) -> int:
    """``len(text.split())`` without making the words (ASCII text: the starts of runs of
    non-space bytes are counted in C).

    >>> word_count(" six  times\\tseven\\n"), word_count("mañana, 世界")
    (3, 2)
    """
    if not text.isascii():
        return len(text.split())
    ink = text.encode("ascii").translate(_ASCII_INK)
    return ink.count(b"\x00\x01") + (ink[:1] == b"\x01")


@dataclass(frozen=True)
class FailureOptions:
    """How the extra rows are computed; see :func:`failure_options` for the keys.

    ``tokenizer`` is anything with ``encode(text, add_special_tokens=False)`` (a
    Hugging Face tokenizer); without one lengths are in words.

    >>> FailureOptions().unit, FailureOptions().length("six times seven")
    ('words', 3)
    """

    loop: LoopConfig = field(default_factory=LoopConfig)
    degenerate_words: int = 0
    tokenizer: Any = None
    #: read the rows a run stored on a samples line (:meth:`KindCounts.from_stored`) instead of
    #: recomputing them, where they were computed as these options would compute them
    stored: bool = True

    @property
    def unit(self) -> LengthUnit:
        """``tokens`` with a tokenizer, else ``words``."""
        return "words" if self.tokenizer is None else "tokens"

    def length(self, text: str) -> int:
        """``text``'s length in :attr:`unit`."""
        if self.tokenizer is None:
            return word_count(text)
        return len(self.tokenizer.encode(text, add_special_tokens=False))


@dataclass(frozen=True)
class KindCounts:
    """Sums over one document's responses: loops, truncated loops, degenerate traces, trace
    length and the responses with a trace, answer length and those with an answer, truncated
    ones — what the extra rows (:func:`extra_metric_values`) and ``analyze`` are built from."""

    loops: int = 0
    truncated_loops: int = 0
    degenerate: int = 0
    trace_len: int = 0
    traced: int = 0
    answer_len: int = 0
    answered: int = 0
    truncated: int = 0

    @property
    def truncated_progress(self) -> int:
        """Truncated responses whose trace does not end in a loop (still progressing when cut)."""
        return self.truncated - self.truncated_loops

    def length(self, part: str) -> tuple[int, int]:
        """(total length, responses counted) of the ``trace`` or ``answer`` parts."""
        return (self.trace_len, self.traced) if part == "trace" else (self.answer_len, self.answered)

    @classmethod
    def from_stored(cls, rec: Mapping[str, Any], traces: Sequence[Trace], options: FailureOptions) -> KindCounts | None:
        """The counts from the rows an lm-eval run with our metrics stored on the samples line
        ``rec`` (per-document shares and mean lengths), so ``analyze`` need not run loop
        detection again; None when they are absent or the options differ from how the run
        computes them by default (other loop thresholds, a degenerate minimum, lengths in
        tokens): then :meth:`of` recomputes.

        >>> from lm_eval_tracecollapse.core.parse import parse_trace
        >>> t = [parse_trace("<think>a b c</think>4")]
        >>> row = {"loop_rate": 0.0, "truncated_loop_rate": 0.0, "degenerate_rate": 0.0,
        ...        "trace_length_words": 3.0, "answer_length_words": 1.0}
        >>> KindCounts.from_stored(row, t, FailureOptions()) == KindCounts.of(t, FailureOptions())
        True
        """
        if not options.stored or options.tokenizer is not None or options.degenerate_words:
            return None
        if options.loop != LoopConfig():
            return None
        values = []
        for key in STORED_ROWS:
            v = rec.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return None
            values.append(float(v))
        loop_rate, truncated_loop_rate, degenerate_rate, trace_mean, answer_mean = values
        k = len(traces)
        traced = sum(t.reasoning is not None for t in traces)
        answered = sum(t.has_answer for t in traces)
        shares = (loop_rate, truncated_loop_rate, degenerate_rate)
        if any(math.isnan(x) for x in shares) or (traced and math.isnan(trace_mean)):
            return None
        if answered and math.isnan(answer_mean):
            return None
        return cls(
            loops=round(loop_rate * k),
            truncated_loops=round(truncated_loop_rate * k),
            # a stored share above 0 is checked again (cheap: the check stops at the first word
            # of content): a run made before the filler-only rule counted every short trace
            # (the demo's 6+4=10,6+2+1=9) as degenerate; 0 stays 0 (the old rule counted more)
            degenerate=sum(is_degenerate(t) for t in traces) if degenerate_rate else 0,
            trace_len=round(trace_mean * traced) if traced else 0,
            traced=traced,
            answer_len=round(answer_mean * answered) if answered else 0,
            answered=answered,
            truncated=sum(t.status is TraceStatus.TRUNCATED for t in traces),
        )

    @classmethod
    def of(cls, traces: Sequence[Trace], options: FailureOptions) -> KindCounts:
        """The counts of one line's parsed responses."""
        loops = [ends_in_loop(t.reasoning, options.loop) for t in traces]
        traced = [t.reasoning for t in traces if t.reasoning is not None]
        answers = [t.answer for t in traces if t.has_answer]
        return cls(
            loops=sum(loops),
            truncated_loops=sum(lp and t.status is TraceStatus.TRUNCATED for t, lp in zip(traces, loops, strict=True)),
            degenerate=sum(is_degenerate(t, options.degenerate_words) for t in traces),
            trace_len=sum(map(options.length, traced)),
            traced=len(traced),
            answer_len=sum(map(options.length, answers)),
            answered=len(answers),
            truncated=sum(t.status is TraceStatus.TRUNCATED for t in traces),
        )


def extra_metric_values(pred: Any, correct: list[float] | None, options: FailureOptions) -> dict[str, float]:
    """Per-document values of the extra rows for one prediction (``{}`` for anything
    that did not go through ``trace_status``); ``correct`` as for
    :func:`~.metrics.trace_metric_values` (without it, no ``pass@1_*`` rows)."""
    responses = response_answers(pred)
    traces = [r.trace for r in responses if r.trace is not None]
    if not traces:
        return {}
    if correct is not None and len(correct) != len(responses):
        raise ValueError(f"pass@1_*: {len(correct)} correctness values for {len(responses)} responses")
    c, n = KindCounts.of(traces, options), len(traces)
    out: dict[str, float] = {}
    for row in ROWS:
        if row.kind == "status_pass":
            if correct is not None:
                out[row.name] = pass_among(responses, correct, STATUS_PASS[row.name])
        elif row.kind == "share":
            out[row.name] = Weighted(getattr(c, row.source) / n, n)
        else:
            total, count = c.length(row.source)
            out[f"{row.name}_{options.unit}"] = Weighted(total / count, count) if count else NotAvailable()
    return out


def extras_enabled(settings: Mapping[str, Any]) -> bool:
    """``tc_extra_metrics`` (default true) from a task's metadata or YAML.

    >>> extras_enabled({}), extras_enabled({"tc_extra_metrics": "false"})
    (True, False)
    """
    value = settings.get("tc_extra_metrics", True)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"tc_extra_metrics must be true or false, got {value!r}")
    return value


_INT_KEYS = {"tc_loop_ngram": "ngram", "tc_loop_window": "window", "tc_loop_min_tokens": "min_tokens"}
OPTION_KEYS = (*_INT_KEYS, "tc_loop_novelty", "tc_degenerate_words", "tc_tokenizer", "tc_extra_metrics")


@lru_cache(maxsize=2)
def load_tokenizer(name: str) -> Any:
    """A tokenizer for lengths in tokens (local path or hub name), loaded once per name;
    one that cannot be loaded is a ValueError in one line naming it."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, ...: one line saying which
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load tokenizer {name!r}: {why}") from None


def failure_options(settings: Mapping[str, Any], implicit_tokenizer: bool = False) -> FailureOptions:
    """Options from a task's metadata/YAML keys (or a metric entry's options):
    ``tc_loop_ngram``, ``tc_loop_window``, ``tc_loop_min_tokens``, ``tc_loop_novelty``
    (:class:`~.loops.LoopConfig`), ``tc_degenerate_words`` (0: off), ``tc_tokenizer``.

    The tokenizer: ``tc_tokenizer`` (a local path or hub name; ``words``/``false`` for
    words) — one that cannot be loaded is an error; else, with ``implicit_tokenizer``,
    lm-eval's model args (``tokenizer``, then ``pretrained``, which lm-eval merges into
    every task's metadata) — one that cannot be loaded is a warning, and words.

    >>> failure_options({"tc_loop_novelty": 0.3, "tc_tokenizer": "words"}).loop.novelty
    0.3
    """
    loop = {attr: settings[key] for key, attr in _INT_KEYS.items() if key in settings}
    if "tc_loop_novelty" in settings:
        loop["novelty"] = settings["tc_loop_novelty"]
    words = settings.get("tc_degenerate_words", 0)
    if isinstance(words, bool) or not isinstance(words, int) or words < 0:
        raise ValueError(f"tc_degenerate_words must be an integer >= 0, got {words!r}")
    name = settings.get("tc_tokenizer")
    tokenizer = None
    if name is not None and name is not False and not (isinstance(name, str) and name.lower() in ("words", "false")):
        if not isinstance(name, str) or not name:
            raise ValueError(f"tc_tokenizer must be a tokenizer name or path, or 'words', got {name!r}")
        tokenizer = load_tokenizer(name)  # ValueError naming it
    elif name is None and implicit_tokenizer:
        found = next((settings[k] for k in ("tokenizer", "pretrained") if isinstance(settings.get(k), str)), None)
        if found:
            try:
                tokenizer = load_tokenizer(found)
            except ValueError as exc:
                log.warning("trace_length/answer_length: %s; lengths are in words (set tc_tokenizer to choose)", exc)
    return FailureOptions(LoopConfig(**loop), words, tokenizer)
