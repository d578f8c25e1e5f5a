"""Unit tests of the trace_status filter, the metric functions and tc_replay's loader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import lm_eval_tracecollapse  # noqa: F401  (registers)
from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.harness.filters import Response, TracedAnswer, TraceStatusFilter
from lm_eval_tracecollapse.harness.metric_fns import make_metric, score_with
from lm_eval_tracecollapse.harness.models import Generation, ReplayLM
from lm_eval_tracecollapse.metrics.pooled import NotAvailable, Weighted, pooled_mean, pooled_stderr
from lm_eval_tracecollapse.metrics.trace_rates import trace_metric_values


def test_filter_feeds_the_answer_part_to_the_pipeline() -> None:
    f = TraceStatusFilter(then=[{"function": "regex", "regex_pattern": r"#### (\d+)"}, {"function": "take_first"}])
    out = f.apply([["<think>#### 1 is wrong</think>#### 2"], ["#### 3"]], [{}, {}])
    assert out == ["2", "3"]
    assert [o.trace.status.value for o in out] == ["valid", "missing"]


def test_filter_without_selection_keeps_one_trace_per_response() -> None:
    [out] = TraceStatusFilter().apply([["<think>a</think>1", "2"]], [{}])
    assert isinstance(out, list) and [o.trace.status.value for o in out] == ["valid", "missing"]
    assert trace_metric_values(out)["valid_rate"] == 0.5


def test_filter_reads_finish_reason_and_prompts() -> None:
    f = TraceStatusFilter(then=[{"function": "take_first"}])
    [a] = f.apply([[Generation("12 * 7 is", finish_reason="length")]], [{}])
    assert a.trace.status.value == "truncated"
    resp = Response("12 * 7 is", prompt="<|im_start|>assistant\n<think>\n")
    [b] = f.apply([[resp]], [{}])
    [c] = TraceStatusFilter(prefilled=False, then=[{"function": "take_first"}]).apply([[resp]], [{}])
    assert (b.trace.status.value, c.trace.status.value) == ("truncated", "missing")
    # the prompt travels on the response: through a pickle round trip (worker processes) too
    import pickle

    [d] = f.apply([[pickle.loads(pickle.dumps(resp))]], [{}])
    assert d.trace.status.value == "truncated"


def test_filter_cuts_the_answer_at_the_tasks_stop_strings() -> None:
    f = TraceStatusFilter(until=["\n", "."], then=[{"function": "take_first"}])
    [a] = f.apply([["<think>Paris. It is in France.\nYes.</think>Paris. Capital\nmore"]], [{}])
    assert a == "Paris" and a.trace.status.value == "valid" and "France" in (a.trace.reasoning or "")


def test_repeats_score_each_response_alone() -> None:
    """Each response also gets its own value, scored beside the pipeline's (pass@1, rpass@1)."""
    f = TraceStatusFilter(then=[{"function": "regex", "regex_pattern": r"(\d+)"}, {"function": "take_first"}])
    [a] = f.apply([["<think>x</think>1", "2", "<think>y</think>3"]], [{}])
    assert a == "1" and [str(r) for r in a.responses] == ["1", "2", "3"]
    values = trace_metric_values(a, [1.0, 1.0, 0.0])
    assert values["valid_rate"] == pytest.approx(2 / 3) and values["valid_rate"].weight == 3
    assert values["pass@1"] == pytest.approx(2 / 3)
    assert values["rpass@1"] == 0.5 and values["rpass@1"].weight == 2  # correct among valid responses


def test_steps_over_several_responses_get_all_of_them() -> None:
    """take_first_k and majority_vote get every response's answer part, in order, as in the stock
    task (issue 35: they got one response and asserted); each response's own value is the
    pipeline's value for a document whose responses were all this one."""
    steps = [{"function": "take_first_k", "k": 3}, {"function": "regex", "regex_pattern": r"is (\d+)"}]
    steps += [{"function": "majority_vote"}, {"function": "take_first"}]
    responses = ["<think>is 9</think>is 5", "is 5\n", "<think>x</think>\nis 4", "<think>y</think>is 4", "is 4"]
    [a] = TraceStatusFilter(then=steps).apply([responses], [{}])
    assert a == "5"  # the majority of the first 3 answer parts (the trace's 9 never counts)
    assert [str(r) for r in a.responses] == ["5", "5", "4", "4", "4"]
    assert [r.trace.status.value for r in a.responses] == ["valid", "missing", "valid", "valid", "missing"]
    with pytest.raises(AssertionError, match="Need at least 3 responses"):  # as stock, with fewer
        TraceStatusFilter(then=steps).apply([responses[:2]], [{}])


def test_a_corpus_metric_is_no_scorer() -> None:
    with pytest.raises(ValueError, match="scorer 'bleu' gives no per-document score"):
        score_with("bleu", "a cat", "a cat")


def test_filter_option_errors() -> None:
    with pytest.raises(ValueError, match="unknown reasoning format 'nope'"):
        TraceStatusFilter(fmt="nope")
    with pytest.raises(ValueError, match="prefilled must be true, false or null"):
        TraceStatusFilter(prefilled="maybe")
    with pytest.raises(ValueError, match="'then' must be a list of filter steps"):
        TraceStatusFilter(then={"function": "regex"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown filter 'no_such_filter'"):
        TraceStatusFilter(then=[{"function": "no_such_filter"}])
    with pytest.raises(TypeError, match="returned None"):
        TraceStatusFilter().apply([[None]], [{}])


def test_no_valid_trace_gives_rpass_not_available(caplog: pytest.LogCaptureFixture) -> None:
    out = TraceStatusFilter(then=[{"function": "take_first"}]).apply([["42"], ["<think></think>41"]], [{}, {}])
    assert "none of 2 responses has a valid trace" in caplog.text
    values = [trace_metric_values(o, [1.0])["rpass@1"] for o in out]
    assert all(isinstance(v, NotAvailable) and v.weight == 0 for v in values)
    assert isinstance(pooled_mean(values), NotAvailable)  # decided over all documents, not per filter call


def test_pooled_mean_and_stderr() -> None:
    items = [Weighted(1.0, 2), Weighted(0.5, 2), NotAvailable(), Weighted(0.0, 1)]
    assert pooled_mean(items) == pytest.approx(3 / 5) and pooled_mean(items).weight == 5
    # equal weights: lm-eval's mean and mean_stderr exactly
    from lm_eval.api.metrics import mean, mean_stderr

    plain = [1.0, 0.0, 1.0, 1.0]
    assert pooled_mean([Weighted(v, 4) for v in plain]) == mean(plain)
    assert pooled_stderr([Weighted(v, 4) for v in plain]) == pytest.approx(mean_stderr(plain))
    assert pooled_stderr([Weighted(1.0, 1)]) == "N/A"


def test_metric_values() -> None:
    valid = TracedAnswer("42", [parse_trace("<think>x</think>42")])
    empty = TracedAnswer("", [parse_trace("<think></think>")])
    assert trace_metric_values(valid, [0.0]) == {
        "valid_rate": 1.0, "empty_rate": 0.0, "missing_rate": 0.0, "truncated_rate": 0.0,
        "answer_rate": 1.0, "pass@1": 0.0, "rpass@1": 0.0,
    }  # fmt: skip
    assert trace_metric_values(empty)["answer_rate"] == 0.0
    assert trace_metric_values("plain string") == {}  # other pipelines: no rows


def test_registered_metric_functions_score_with_the_tasks_scorer() -> None:
    pred = TracedAnswer("$2,280", [parse_trace("<think>r</think>$2,280")])
    pass1, rpass1 = make_metric("pass@1"), make_metric("rpass@1")
    assert pass1(references=["2280"], predictions=[pred]) == {"pass@1": 0.0}
    kw = {"regexes_to_ignore": [",", r"\$"]}
    assert pass1(references=["2280"], predictions=[pred], **kw) == {"pass@1": 1.0}
    assert rpass1(references=["2280"], predictions=[pred], **kw) == {"rpass@1": 1.0}
    assert make_metric("valid_rate")(references=["x"], predictions=["plain"]) == {}
    # pass@1 and rpass@1 of one prediction share one scorer call
    calls = []

    def scorer(references: list[str], predictions: list[str]) -> float:
        calls.append(predictions[0])
        return 1.0

    assert pass1(references=["2280"], predictions=[pred], scorer=scorer) == {"pass@1": 1.0}
    assert rpass1(references=["2280"], predictions=[pred], scorer=scorer) == {"rpass@1": 1.0}
    assert calls == ["$2,280"]
    with pytest.raises(ValueError, match="unknown scorer"):
        score_with("no_such_metric", "1", "1")


def test_not_available_prints_as_na() -> None:
    na = NotAvailable()
    assert f"{na:.4f}" == "N/A" and math.isnan(na) and (na + 1) is na and sum([na]) / 1 is na


def test_traced_answer_is_a_str_for_lm_eval() -> None:
    a = TracedAnswer("42", [parse_trace("x")])
    assert a == "42" and TracedAnswer(a) == "42" and a.upper() == "42"
    import pickle

    b = pickle.loads(pickle.dumps(a))
    assert b == "42" and b.trace == a.trace
    na = pickle.loads(pickle.dumps(NotAvailable()))
    assert isinstance(na, NotAvailable) and na.weight == 0
    import copy

    assert isinstance(copy.deepcopy(NotAvailable()), NotAvailable)


def test_replay_loader(tmp_path: Path) -> None:
    f = tmp_path / "samples_mytask_2026-01-01T00-00-00.000000.jsonl"
    lines = [
        {"doc_id": 0, "arguments": {"gen_args_0": {"arg_0": "Q0", "arg_1": {}}}, "resps": [["r0"]], "filter": "a"},
        {"doc_id": 0, "arguments": {"gen_args_0": {"arg_0": "Q0", "arg_1": {}}}, "resps": [["r0"]], "filter": "b"},
        {"doc_id": 1, "arguments": {"gen_args_0": {"arg_0": "Q1", "arg_1": {}}}, "resps": [["r1a", "r1b"]]},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    lm = ReplayLM(path=str(tmp_path))
    from lm_eval.api.instance import Instance

    def req(prompt: str, doc_id: int) -> Instance:
        return Instance("generate_until", {}, (prompt, {}), 0, ("mytask", doc_id, 1))

    # one line per filter pipeline is deduplicated; repeats are served in order
    assert lm.generate_until([req("Q0", 0), req("Q1", 1), req("Q1", 1), req("other", 1)]) == ["r0", "r1a", "r1b", "r1a"]
    with pytest.raises(ValueError, match="1 of 1 requests have no saved generation"):
        lm.generate_until([req("nope", 7)])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json\n", "not valid JSON"),
        ('{"doc_id": 1}\n', "needs a string 'response'"),
        ('{"response": "x"}\n', "needs 'prompt' or 'doc_id'"),
        ("[1, 2]\n", "expected a JSON object"),
    ],
)
def test_replay_bad_files(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "gens.jsonl"
    f.write_text(content)
    with pytest.raises(ValueError, match=message):
        ReplayLM(path=str(f))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ReplayLM(path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match="needs model_args path"):
        ReplayLM()


def test_registering_keeps_lm_evals_own_models() -> None:
    """Our tc_replay must not hide hf/vllm/dummy (lm-eval loads its models lazily
    only while the model registry is empty)."""
    from lm_eval.api.registry import get_model

    assert get_model("tc_replay") is ReplayLM
    assert get_model("hf").__name__ == "HFLM" and get_model("dummy").__name__ == "DummyLM"


def test_replay_rebuilds_server_split_reasoning(tmp_path: Path) -> None:
    f = tmp_path / "gens.jsonl"
    rows = [
        {"doc_id": 0, "reasoning_content": "6*7=42", "response": "42", "finish_reason": "stop"},
        {"doc_id": 1, "reasoning": "6*7 is", "response": None, "finish_reason": "length"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    from lm_eval.api.instance import Instance

    lm = ReplayLM(path=str(f))
    out = lm.generate_until([Instance("generate_until", {}, (f"Q{i}", {}), 0, ("t", i, 1)) for i in (0, 1)])
    assert out == ["<think>6*7=42</think>42", "<think>6*7 is"]
    assert [parse_trace(o, finish_reason=o.finish_reason).status.value for o in out] == ["valid", "truncated"]


def test_special_token_markers_dropped_at_decoding_are_named(caplog: pytest.LogCaptureFixture) -> None:
    """Gemma 4 decoded with skip_special_tokens=True: '<|channel>thought\\nR<channel|>42' became
    'thought\\nR42' — no boundary survives, so the filter says which family and what to do."""
    f = TraceStatusFilter(then=[{"function": "take_first"}])
    out = f.apply([["thought\nR is 6*7.\n42"], ["thought\nadd them\n4"]], [{}, {}])
    assert [o.trace.status.value for o in out] == ["missing", "missing"]
    assert "Gemma 4 output decoded with skip_special_tokens=True" in caplog.text
    assert "<|channel>thought ... <channel|>" in caplog.text and "vllm" in caplog.text
    caplog.clear()
    f.apply([["analysisLet me think.assistantfinal42"]], [{}])
    assert "gpt-oss output" in caplog.text and "gpt_oss_text" in caplog.text
