"""Every object we hand lm-eval survives pickling and copying, and the filter gives
the serial statuses on threads and in spawn workers (a user-registered family included)."""

from __future__ import annotations

import copy
import math
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lm_eval_tracecollapse import parse_trace
from lm_eval_tracecollapse.core.formats import register_format, unregister_format
from lm_eval_tracecollapse.harness.filters import Response, TracedAnswer, TraceStatusFilter
from lm_eval_tracecollapse.harness.models.replay import Generation
from lm_eval_tracecollapse.metrics.pooled import NotAvailable, Pooled, Weighted
from lm_eval_tracecollapse.metrics.trace_rates import trace_metric_values

ROUND_TRIPS: list[Callable[[Any], Any]] = [
    lambda x: pickle.loads(pickle.dumps(x)),
    lambda x: pickle.loads(pickle.dumps(x, protocol=0)),
    copy.copy,
    copy.deepcopy,
]


def _fields(t: Any) -> tuple:
    return (t.status, t.reasoning, t.raw_reasoning, t.answer, t.raw_answer, t.fmt, t.prefilled)


TEXTS = [
    "<think>\n  step one\n  step two\n</think>\n\n    return a * b  ",
    "<think>   </think>42",
    "just an answer",
    "<think>cut off mid",
    "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>",
    "<think>x</think><answer> 7 </answer>",
]


@pytest.mark.parametrize("trip", ROUND_TRIPS)
@pytest.mark.parametrize("text", TEXTS)
def test_trace_keeps_every_field(trip: Callable[[Any], Any], text: str) -> None:
    t = parse_trace(text)
    u = trip(t)
    assert _fields(u) == _fields(t) and u == t


def test_trace_pickles_only_its_spans_and_stays_lazy() -> None:
    big = "<think>" + "a long line of reasoning\n" * 40_000 + "</think>42"
    t = parse_trace(big)
    data = pickle.dumps(t)
    assert len(data) < len(big) + 500  # once, not once per materialised part
    u = pickle.loads(data)
    assert u.raw_reasoning == t.raw_reasoning and u.answer == "42"
    # prefix noise outside the spans is not carried
    t2 = parse_trace("x" * 100_000 + "<think>r</think>a", fmt="think")
    assert t2.status.value == "valid" and len(pickle.dumps(t2)) < 1_000


@pytest.mark.parametrize("trip", ROUND_TRIPS)
def test_traced_answer_response_generation_and_values_keep_every_field(trip: Callable[[Any], Any]) -> None:
    ts = [parse_trace("<think>a</think> 1"), parse_trace("2")]
    each = (TracedAnswer("1", ts[:1]), TracedAnswer("2", ts[1:]))
    a = TracedAnswer("1", ts, responses=each)
    b = trip(a)
    assert (str(b), b.traces, b.trace, b.responses) == (str(a), a.traces, a.trace, a.responses)
    assert b.__dict__ == a.__dict__
    assert trace_metric_values(b, [1.0, 0.0]) == trace_metric_values(a, [1.0, 0.0])

    r = trip(Response("<think>x", prompt="P<think>", finish_reason="length"))
    assert (str(r), r.prompt, r.finish_reason) == ("<think>x", "P<think>", "length")
    g = trip(Generation("text", finish_reason="stop"))
    assert (str(g), g.finish_reason) == ("text", "stop")
    w, p = trip(Weighted(0.25, 4)), trip(Pooled(0.5, 8, 3))
    assert (float(w), w.weight, float(p), p.weight, p.count) == (0.25, 4.0, 0.5, 8.0, 3)
    na = trip(NotAvailable())
    assert isinstance(na, NotAvailable) and math.isnan(na) and na.weight == 0.0


# -- the filter on threads and in spawn workers ------------------------------------

CASES = [
    ("<scratch>12*3=36</scratch>36", None),
    ("<scratch></scratch>36", None),
    ("12*3 is", "P:<scratch>"),  # prefilled prompt: truncated
    ("36", None),
    ("<think>6*6</think>36", None),
    ("<scratch>unclosed", None),
]


def _statuses(flt: TraceStatusFilter) -> list[tuple[str, str]]:
    resps = [[Response(text, prompt=prompt)] for text, prompt in CASES]
    out = flt.apply(resps, [{} for _ in CASES])
    return [(a[0].trace.status.value, a[0].trace.fmt or "") for a in out]


@pytest.fixture()
def scratch() -> Any:
    register_format("scratch", open="<scratch>", close="</scratch>")
    yield
    unregister_format("scratch")


def test_filter_on_threads_and_spawn_workers_matches_serial(scratch: None) -> None:
    flt = TraceStatusFilter()
    serial = _statuses(flt)
    assert [s for s, _ in serial] == ["valid", "empty", "truncated", "missing", "valid", "truncated"]
    assert serial[0][1] == "scratch"
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(_statuses, [flt] * 8)) == [serial] * 8
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(_statuses, [flt, flt]) == [serial, serial]
    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        assert pool.map(_statuses, [flt]) == [serial]


def test_adopting_a_family_replaces_a_different_local_definition(scratch: None) -> None:
    from lm_eval_tracecollapse.core.formats import adopt_formats, get_format, user_formats

    sent = user_formats()
    unregister_format("scratch")
    register_format("scratch", open="<s>", close="</s>")
    adopt_formats(sent)
    assert get_format("scratch").open == "<scratch>"
