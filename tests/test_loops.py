"""The loop detector on real-looking traces (tests/fixtures/traces), and its two
promises under Hypothesis: it never raises, and its work is bounded (linear at worst)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_eval_tracecollapse.metrics.loops import LoopConfig, ends_in_loop, loop_tokens, tail_novelty

TRACES = Path(__file__).resolve().parent / "fixtures" / "traces"
LOOPING = ["r1_sentence_loop", "qwen3_paragraph_loop", "wait_cycle_loop", "cjk_loop"]
PROGRESSING = ["math_long", "prose_reasoning", "recovered_loop"]


def _trace(name: str) -> str:
    return (TRACES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", LOOPING)
def test_looping_traces(name: str) -> None:
    assert ends_in_loop(_trace(name))


@pytest.mark.parametrize("name", PROGRESSING)
def test_progressing_traces(name: str) -> None:
    text = _trace(name)
    assert not ends_in_loop(text)
    assert min(tail_novelty(text).values()) > 0.6  # far from the threshold, not just above it


def test_a_loop_must_reach_the_end() -> None:
    # the recovered trace looped for six cycles, then reasoned anew: cut inside the loop, it loops
    text = _trace("recovered_loop")
    cut = text.index("OK, I keep going around in circles.")
    assert ends_in_loop(text[:cut]) and not ends_in_loop(text)


def test_thresholds_are_configurable() -> None:
    text = _trace("qwen3_paragraph_loop")  # a ~100-token paragraph written nine times
    assert ends_in_loop(text)
    assert not ends_in_loop(text, LoopConfig(window=128))  # the tail is too short to see two copies
    assert not ends_in_loop(_trace("math_long"), LoopConfig(novelty=0.9))
    assert ends_in_loop(_trace("math_long"), LoopConfig(novelty=1.0))  # every tail repeats a little
    assert not ends_in_loop("Okay. " * 20)  # 40 tokens: shorter than min_tokens
    assert ends_in_loop("Okay. " * 20, LoopConfig(min_tokens=32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ngram": 0}, "tc_loop_ngram must be an integer >= 1, got 0"),
        ({"novelty": 1.5}, "tc_loop_novelty must be a number in (0, 1], got 1.5"),
        ({"min_tokens": 2048}, "tc_loop_min_tokens (2048) must not exceed tc_loop_window (1024)"),
        ({"ngram": 40}, "tc_loop_ngram (40) must be below half of tc_loop_min_tokens (64)"),
    ],
)
def test_bad_thresholds_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LoopConfig(**kwargs)


configs = st.builds(
    LoopConfig,
    ngram=st.integers(1, 6),
    window=st.integers(16, 300),
    min_tokens=st.just(14),
    novelty=st.floats(0.01, 1.0),
)


@given(text=st.text(max_size=3000), config=configs)
@settings(max_examples=300, deadline=None)
def test_never_raises(text: str, config: LoopConfig) -> None:
    result = ends_in_loop(text, config)
    assert isinstance(result, bool)
    novelty = tail_novelty(text, config)
    assert all(0.0 <= v <= 1.0 for v in novelty.values())
    assert list(novelty) == sorted(novelty) and all(w <= config.window for w in novelty)


@given(unit=st.text(min_size=1, max_size=40), repeats=st.integers(1, 2000))
@settings(max_examples=100, deadline=None)
def test_work_is_bounded(unit: str, repeats: int) -> None:
    """However long the trace, at most `window` tokens from its last `window · 16` characters are read."""
    text = unit * repeats
    tokens = loop_tokens(text)
    assert len(tokens) <= LoopConfig().window
    assert tokens == loop_tokens(text[-LoopConfig().window * 16 :])


def _seconds(text: str) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        ends_in_loop(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
def test_time_at_4n_is_below_8x_time_at_n() -> None:
    base = _trace("math_long") + _trace("r1_sentence_loop")
    small, large = base * 2, base * 8
    assert _seconds(large) < 8 * _seconds(small) + 0.01


def _reference_novelty(text: str, config: LoopConfig) -> dict[int, float]:
    """The definition, written plainly (a dict of the previous start of every n-gram)."""
    from lm_eval_tracecollapse.metrics.loops import _scales, loop_tokens

    tokens = loop_tokens(text, config.window)
    end, n = len(tokens), config.ngram
    scales = _scales(config, end)
    if not scales:
        return {}
    last: dict[tuple[str, ...], int] = {}
    prev = []
    for i in range(end - n + 1):
        gram = tuple(tokens[i : i + n])
        prev.append(last.get(gram, -1))
        last[gram] = i
    return {w: sum(prev[i] < end - w for i in range(end - w // 2, end - n + 1)) / (w // 2 - n + 1) for w in scales}


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(["a", "b", "c", "12", "+", "=", "x", "<", "Wait", "so"]), min_size=0, max_size=400),
    ngram=st.integers(1, 5),
)
def test_tail_novelty_equals_its_definition(words: list[str], ngram: int) -> None:
    """The packed, sorted computation gives exactly the plain definition's values."""
    config = LoopConfig(ngram=ngram, window=128, min_tokens=16)
    text = " ".join(words)
    assert tail_novelty(text, config) == _reference_novelty(text, config)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab7 \n+<éжλ世")), max_size=600),
    window=st.integers(1, 40),
)
def test_loop_tokens_equals_the_plain_tokenisation(text: str, window: int) -> None:
    """Reading a shorter suffix first gives exactly the last `window` tokens of the last `window · 16` characters."""
    from lm_eval_tracecollapse.metrics.loops import _TOKEN

    assert loop_tokens(text, window) == _TOKEN.findall(text[-window * 16 :])[-window:]


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(["a", "b", "12", "+", "=", "<", "Wait", "so", "éx", "жж", "λ", "世", "\u3000", "\u00a0", "\n"]),
        max_size=500,
    ),
    joiner=st.sampled_from([" ", "", "  ", "\t"]),
    ngram=st.integers(1, 5),
    window=st.sampled_from([16, 40, 128]),
)
def test_the_hashed_screen_decides_as_the_definition(words: list[str], joiner: str, ngram: int, window: int) -> None:
    """ends_in_loop (a hashed screen, exact only where it may loop) equals the exact tail
    novelty's verdict; the screen reads the same tokens and, barring hash collisions (none
    in these small alphabets), the same previous starts."""
    from lm_eval_tracecollapse.metrics.loops import _hashed_previous, _previous_occurrence

    config = LoopConfig(ngram=ngram, window=window, min_tokens=min(window, 2 * ngram + 1))
    text = joiner.join(words)
    assert ends_in_loop(text, config) == any(v < config.novelty for v in tail_novelty(text, config).values())
    tokens = loop_tokens(text, window)
    end, prev = _hashed_previous(text, config) if text else (0, None)
    assert end == len(tokens)
    if len(tokens) >= ngram:
        assert prev.tolist() == _previous_occurrence(tokens, ngram).tolist()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\x0b\x0c\x1c\x1f\x85\xa0é世\u3000")), max_size=200))
def test_word_count_is_len_split(text: str) -> None:
    """The extra rows' word lengths count exactly what str.split() splits (ASCII fast path included)."""
    from lm_eval_tracecollapse.metrics.failure_kinds import word_count

    assert word_count(text) == len(text.split())
    assert word_count(text.encode("ascii", "ignore").decode()) == len(text.encode("ascii", "ignore").decode().split())
