"""The extra rows (accuracy per status, loops, degenerate traces, lengths) and the budget
warning, through lm-eval's real entry points on replayed generations, every value
hand-computed from the definitions in docs/failure-kinds.md."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testenv import EXACT_MATCH, json_task_yaml, replay_eval

from lm_eval_tracecollapse.harness.wrap import write_wrappers

TRACES = Path(__file__).resolve().parent / "fixtures" / "traces"
LOOP = (TRACES / "r1_sentence_loop.txt").read_text()  # ends in a loop
WAIT = (TRACES / "wait_cycle_loop.txt").read_text()  # ends in a loop
MATH = (TRACES / "math_long.txt").read_text()  # long, never loops
PROSE = (TRACES / "prose_reasoning.txt").read_text()


# (response, finish_reason, gold); the comment is (status, correct, kinds)
REPLIES: dict[str, list[tuple[str, str | None, str]]] = {
    "fa": [
        (f"<think>{MATH}</think>#### 4", None, "4"),  # valid, right
        ("<think>Okay.</think>#### 5", None, "5"),  # valid, right, degenerate
        ("<think></think>#### 6", None, "6"),  # empty, right
        ("<think>\n</think>#### 1", None, "7"),  # empty, wrong
        ("The answer is\n#### 8", None, "8"),  # missing, right
        (f"<think>{LOOP}", "length", "9"),  # truncated at the budget, looping
        (f"<think>{PROSE}", None, "3"),  # truncated (stop string?), still progressing
        (f"<think>{WAIT}</think>#### 2", None, "2"),  # valid, right, loops, then answers
    ],
    "fb": [
        (f"<think>{PROSE}</think>#### 1", None, "1"),  # valid, right
        ("<think>Let me compute 2 + 2 carefully. It is 4.</think>#### 4", None, "5"),  # valid, wrong
    ],
}


def words(text: str) -> int:
    return len(text.split())


def _expected() -> dict[str, dict[str, float]]:
    """Every extra row of fa, fb and the group, by hand from the table above."""
    fa_trace = [words(MATH), 1, 0, 0, words(LOOP), words(PROSE), words(WAIT)]  # the missing one has none
    fa_answer = [2, 2, 2, 2, words("The answer is\n#### 8")]  # + "#### 2"; truncated ones have no answer
    fa_answer.append(2)
    fb_trace = [words(PROSE), words("Let me compute 2 + 2 carefully. It is 4.")]
    fa = {
        "pass@1_empty": 1 / 2,
        "pass@1_missing": 1.0,
        "pass@1_truncated": 0.0,
        "loop_rate": 2 / 8,
        "truncated_loop_rate": 1 / 8,
        "truncated_progress_rate": 1 / 8,
        "degenerate_rate": 1 / 8,
        "trace_length_words": sum(fa_trace) / 7,
        "answer_length_words": sum(fa_answer) / 6,
    }
    fb = {
        "pass@1_empty": math.nan,
        "pass@1_missing": math.nan,
        "pass@1_truncated": math.nan,
        "loop_rate": 0.0,
        "truncated_loop_rate": 0.0,
        "truncated_progress_rate": 0.0,
        "degenerate_rate": 0.0,
        "trace_length_words": sum(fb_trace) / 2,
        "answer_length_words": 2.0,
    }
    group = {  # pooled over responses (the wrapper weights by size)
        "pass@1_empty": 1 / 2,
        "pass@1_missing": 1.0,
        "pass@1_truncated": 0.0,
        "loop_rate": 2 / 10,
        "truncated_loop_rate": 1 / 10,
        "truncated_progress_rate": 1 / 10,
        "degenerate_rate": 1 / 10,
        "trace_length_words": (sum(fa_trace) + sum(fb_trace)) / 9,
        "answer_length_words": (sum(fa_answer) + 4) / 8,
    }
    return {"fa_tc": fa, "fb_tc": fb, "fg_tc": group}


def _user_dir(root: Path) -> tuple[Path, Path]:
    mine = root / "mine"
    mine.mkdir()
    lines = []
    for name, replies in REPLIES.items():
        data = mine / f"{name}.jsonl"
        data.write_text("".join(json.dumps({"q": f"{name} {i}", "a": g}) + "\n" for i, (_, _, g) in enumerate(replies)))
        (mine / f"{name}.yaml").write_text(
            json_task_yaml(name, data, generation="{until: [], do_sample: false, max_gen_toks: 64}")
        )
        for i, (text, finish, _) in enumerate(replies):
            line = {"task": f"{name}_tc", "doc_id": i, "response": text}
            lines.append({**line, "finish_reason": finish} if finish else line)
    (mine / "fg.yaml").write_text("group: fg\ntask: [fa, fb]\n")
    gens = root / "gens.jsonl"
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return mine, gens


def _close(got: Any, want: float) -> bool:
    return math.isnan(got) if math.isnan(want) else got == pytest.approx(want)


def _check(results: dict[str, Any]) -> None:
    for task, rows in _expected().items():
        for name, want in rows.items():
            got = results[task][f"{name},strict-match"]
            assert _close(got, want), (task, name, got, want)
            stderr = results[task][f"{name}_stderr,strict-match"]
            one_doc = math.isnan(want) or name == "pass@1_missing"  # fa has one missing response
            assert stderr == "N/A" if one_doc else isinstance(stderr, float), (task, name, stderr)
    # the paper's rows are untouched, and the split adds up to truncated_rate
    fa = results["fa_tc"]
    assert fa["truncated_rate,strict-match"] == pytest.approx(2 / 8)
    assert fa["rpass@1,strict-match"] == pytest.approx(1.0) and fa["pass@1,strict-match"] == pytest.approx(5 / 8)
    assert fa["valid_rate,strict-match"] == pytest.approx(3 / 8)


@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
def test_degenerate_is_filler_only_not_short() -> None:
    """A valid trace is degenerate when it says nothing (filler phrases and punctuation only),
    not when it is short: the demo's ``3+8=11`` is a real trace.  The length rule is opt-in
    (``tc_degenerate_words``); the check stops at the first word of content."""
    import time

    from lm_eval_tracecollapse.core.parse import parse_trace
    from lm_eval_tracecollapse.core.trace import Trace, TraceStatus
    from lm_eval_tracecollapse.metrics.failure_kinds import failure_options, is_degenerate

    def degenerate(reasoning: str, min_words: int = 0) -> bool:
        return is_degenerate(parse_trace(f"<think>{reasoning}</think>4"), min_words)

    real = ["3+8=11", "6*7", "42", "x = 2", "Yes.", "Quick estimate.", "Okay, 6 * 7 = 42.", "So 3+8=11",
            "ok so 11", "让我想想", "Let me think about that", "Hmm, carry the one", "okay_then"]  # fmt: skip
    filler = ["Okay.", "Hmm...", "OK, ok. Okay!", "Let's think step by step.", "Let’s think.", "...", "?!", "_",
              "Alright, all right, let me see...", "um, uh, so, well", "LET ME THINK ABOUT THIS"]  # fmt: skip
    assert [r for r in real if degenerate(r)] == []
    assert [f for f in filler if not degenerate(f)] == []
    # only a valid trace can be degenerate: the other statuses have their own rates
    assert [is_degenerate(parse_trace(r)) for r in ("<think>Okay.", "<think></think>4", "Okay. 4")] == [False] * 3
    # the opt-in length rule: fewer than N whitespace-separated words
    assert degenerate("3+8=11", min_words=2) and not degenerate("3 + 8 = 11", min_words=3)
    assert failure_options({}).degenerate_words == 0
    assert failure_options({"tc_degenerate_words": 3}).degenerate_words == 3
    # cost: a long trace is decided at its first word of content, and filler alone is linear
    long_real = Trace(TraceStatus.VALID, "Okay, so 3+8=11. " + "Carry the one. " * 2_000_000, "11", "think")
    start = time.perf_counter()
    assert not is_degenerate(long_real)
    assert time.perf_counter() - start < 0.01  # 30 MB: a whole-text pass takes well over 10 ms
    assert is_degenerate(Trace(TraceStatus.VALID, "Hmm, okay. Let me think... " * 20_000, "4", "think"))


_NUMBER = st.integers(min_value=0, max_value=10_000).map(str)
_SUM = st.tuples(st.lists(_NUMBER, min_size=2, max_size=4), st.sampled_from("+-*/"), _NUMBER).map(
    lambda t: t[1].join(t[0]) + "=" + t[2]
)  # 6+2+1=9


@settings(max_examples=300, deadline=None)
@given(sums=st.lists(_SUM, min_size=1, max_size=5), sep=st.sampled_from([",", ", ", "\n", " ", ";"]),
       filler=st.lists(st.sampled_from(["Okay", "so", "Hmm", "let me think", ",", "."]), max_size=3))  # fmt: skip
def test_a_short_computation_is_never_degenerate(sums: list[str], sep: str, filler: list[str]) -> None:
    """Hypothesis: a valid trace made of compact computations (``6+4=10,6+2+1=9``), with or
    without filler around them, is never degenerate; the filler alone always is."""
    from lm_eval_tracecollapse.core.parse import parse_trace
    from lm_eval_tracecollapse.metrics.failure_kinds import is_degenerate

    trace = " ".join(filler) + " " + sep.join(sums)
    assert not is_degenerate(parse_trace(f"<think>{trace}</think>9"))
    if any(f not in ",." for f in filler):
        assert is_degenerate(parse_trace(f"<think>{' '.join(filler)}</think>9"))


def test_analyze_rechecks_a_stored_degenerate_rate(tmp_path: Path) -> None:
    """Samples written before the filler-only rule stored ``degenerate_rate`` 1.0 for the
    demo's compact traces; ``analyze`` and ``compare`` read the other stored rows but check a
    stored degenerate share again (a healthy base showed 1.000, and compare Δ -1.000)."""
    from lm_eval_tracecollapse.report import analyze

    run = tmp_path / "base"
    run.mkdir()
    lines = [{"doc_id": i, "resps": [[f"<think>\n6+4=10,6+2+{i}={8 + i}\n</think>\nThe answer is {8 + i}."]],
              "filter": "answer", "metrics": ["pass@1"], "pass@1": 1.0, "rpass@1": 1.0, "loop_rate": 0.0,
              "truncated_loop_rate": 0.0, "degenerate_rate": 1.0, "trace_length_words": 1.0,
              "answer_length_words": 4.0} for i in range(5)]  # fmt: skip
    lines[0]["resps"] = [["<think>Okay, let me think.</think>The answer is 8."]]  # really degenerate
    (run / "samples_t_2026-01-01T00-00-00.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    [summary], _ = analyze([run], workers=1, progress=False)
    degenerate = summary.kinds["degenerate_rate"]
    assert degenerate is not None and degenerate.value == pytest.approx(1 / 5)
    assert summary.kinds["trace_length_words"] is not None  # the other stored rows are still read


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real `tracecollapse eval` run of the group fg_tc (wrapped on the fly) with --log_samples."""
    root = tmp_path_factory.mktemp("fk")
    mine, gens = _user_dir(root)
    return root, replay_eval(gens, mine, "fg_tc", root)


def _results(out: Path) -> dict[str, Any]:
    [path] = list(out.rglob("results_*.json"))
    return json.loads(path.read_text())["results"]


def test_rows_in_tasks_and_group(cli_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, run = cli_run
    _check(_results(root / "out"))
    table = run.stdout
    assert re.search(r"\|loop_rate\s*\|↓\s*\|\s*0\.2500\|±\s*\|", table), table  # fa_tc
    assert re.search(r"\|trace_length_words\s*\|\s*\|", table)  # no arrow: neither is better


def test_budget_warning_once_per_task(cli_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, run = cli_run
    warnings = [line for line in run.stderr.splitlines() if "stopped at the generation limit" in line]
    assert len(warnings) == 1, warnings  # fa_tc only: fb_tc has no truncated response
    assert "fa_tc: 1 of 8 responses (12.5%)" in warnings[0] and "max_gen_toks=64" in warnings[0]
    assert "--gen_kwargs max_gen_toks=128" in warnings[0]


def test_analyze_prints_the_lm_eval_figures(cli_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    from lm_eval_tracecollapse.report import analyze
    from lm_eval_tracecollapse.report.render import analyze_text

    root, _ = cli_run
    results = _results(root / "out")
    summaries, problems = analyze([root / "out"], progress=False, workers=1)
    assert problems.skipped == 0
    for s in summaries:
        row = results[s.task]
        assert s.length_unit == "words"
        for name, est in s.kinds.items():
            got = math.nan if est is None else est.value
            assert _close(got, row[f"{name},strict-match"]), (s.task, name)
    # the rows are read off the lines (the run stored them); recomputed, they are the same
    from lm_eval_tracecollapse.metrics.failure_kinds import STORED_ROWS

    first = json.loads(next((root / "out").rglob("samples_*.jsonl")).read_text().splitlines()[0])
    assert set(STORED_ROWS) <= set(first)
    again, _ = analyze([root / "out"], progress=False, workers=1, recompute=True)
    assert [s.kinds for s in again] == [s.kinds for s in summaries]
    text = analyze_text(summaries)
    fa = results["fa_tc"]
    assert f"loop rate {fa['loop_rate,strict-match']:.3f}" in text
    assert f"trace length {fa['trace_length_words,strict-match']:.1f} words" in text
    assert "pass@1 among empty 0.500" in text


def test_compare_shows_the_new_rows(cli_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    from lm_eval_tracecollapse.report import compare
    from lm_eval_tracecollapse.report.render import compare_text

    root, _ = cli_run
    comparisons, _ = compare([root / "out"], [root / "out"])
    fa = next(c for c in comparisons if c.task == "fa_tc")
    assert fa.kinds["loop_rate"] == pytest.approx((0.25, 0.25))
    assert re.search(r"loop_rate\s+0\.250 -> 0\.250   Δ \+0\.000", compare_text(comparisons))


def test_switched_off_and_tokens(tmp_path: Path) -> None:
    """tc_extra_metrics: false gives the paper's rows only; tc_tokenizer gives token lengths."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    mine, gens = _user_dir(tmp_path)
    write_wrappers(["fg"], tmp_path / "wrapped", include_path=[mine])
    paths = [str(mine), str(tmp_path / "wrapped")]
    off = TaskManager(include_path=paths, metadata={"tc_extra_metrics": False})
    res = simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=["fb_tc"], task_manager=off)
    rows = res["results"]["fb_tc"]
    assert not [k for k in rows if k.split(",")[0] in _expected()["fb_tc"]]
    assert rows["valid_rate,strict-match"] == 1.0 and rows["pass@1,strict-match"] == 0.5

    raw = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ | [^\w\s]+ : "It is 4." -> 4 tokens
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    tm = TaskManager(include_path=paths, metadata={"tc_tokenizer": str(tmp_path / "tok")})
    res = simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=["fb_tc"], task_manager=tm)
    rows = res["results"]["fb_tc"]

    def tokens(text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]+", text))

    want = (tokens(PROSE) + tokens("Let me compute 2 + 2 carefully. It is 4.")) / 2
    assert rows["trace_length_tokens,strict-match"] == pytest.approx(want)
    assert rows["answer_length_tokens,strict-match"] == pytest.approx(2.0)  # "####", "1"
    assert "trace_length_words,strict-match" not in rows


def test_paper_tasks_and_group(tmp_path: Path) -> None:
    """tc_paper: the extra rows in both paper tasks and the macro-averaged group row."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    repo = Path(__file__).resolve().parents[1]
    data = repo / "lm_eval_tracecollapse" / "data"
    gold = {t: [json.loads(x)["answer"] for x in (data / f"{t}_256.jsonl").read_text().splitlines()[:4]]
            for t in ("gsm8k", "chemistry")}  # fmt: skip
    wrong = {"C": "A", "A": "B", "B": "C", "D": "A"}
    replies = {
        "tc_gsm8k_256": [
            f"<think>{MATH}</think>The answer is {gold['gsm8k'][0]}.",  # valid right
            "<think>Okay.</think>The answer is 999999.",  # valid wrong, degenerate
            f"<think></think>The answer is {gold['gsm8k'][2]}.",  # empty right
            f"<think>{LOOP}",  # truncated, loops
        ],
        "tc_chemistry_256": [
            f"<think>{PROSE}</think>The answer is {gold['chemistry'][0]}.",  # valid right
            f"The answer is {wrong[gold['chemistry'][1]]}.",  # missing wrong
            f"The answer is {gold['chemistry'][2]}.",  # missing right
            f"<think>{PROSE}",  # truncated, progressing
        ],
    }
    gens = tmp_path / "gens.jsonl"
    lines = [{"task": t, "doc_id": i, "response": r} for t, rs in replies.items() for i, r in enumerate(rs)]
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = simple_evaluate(
        model="tc_replay",
        model_args=f"path={gens}",
        tasks=["tc_paper"],
        task_manager=TaskManager(include_path=[str(repo / "task_yamls")]),
        limit=4,
    )["results"]
    gsm, chem, group = res["tc_gsm8k_256"], res["tc_chemistry_256"], res["tc_paper"]
    f = ",answer"
    assert gsm["pass@1_empty" + f] == 1.0 and gsm["pass@1_truncated" + f] == 0.0
    assert math.isnan(gsm["pass@1_missing" + f])
    assert gsm["degenerate_rate" + f] == 0.25 and gsm["loop_rate" + f] == 0.25
    assert chem["pass@1_missing" + f] == 0.5 and chem["truncated_progress_rate" + f] == 0.25
    assert chem["loop_rate" + f] == 0.0 and chem["degenerate_rate" + f] == 0.0
    # group rows: macro average over the two tasks (weight_by_size: false), N/A ones left out
    assert group["loop_rate" + f] == pytest.approx((0.25 + 0.0) / 2)
    assert group["truncated_loop_rate" + f] == pytest.approx((0.25 + 0.0) / 2)
    assert group["pass@1_missing" + f] == pytest.approx(0.5)  # gsm8k has no missing response
    want_gsm = (words(MATH) + 1 + 0 + words(LOOP)) / 4
    want_chem = (words(PROSE) * 2) / 2
    assert gsm["trace_length_words" + f] == pytest.approx(want_gsm)
    assert group["trace_length_words" + f] == pytest.approx((want_gsm + want_chem) / 2)
    assert gsm["pass@1" + f] == 0.5 and chem["valid_rate" + f] == 0.25  # paper rows as ever


HAND_FILTERS = """  - name: traced
    filter:
      - function: trace_status
        then: [{function: regex, regex_pattern: "#### (\\\\d+)"}, {function: take_first}]
"""
HAND_METRICS = EXACT_MATCH + "".join(
    f"  - {{metric: {m}}}\n"
    for m in ("pass@1_empty", "pass@1_missing", "loop_rate, tc_loop_novelty: 0.5", "truncated_loop_rate",
              "degenerate_rate, tc_degenerate_words: 3", "trace_length", "answer_length")
)  # fmt: skip


def test_registered_metrics_in_a_hand_written_metric_list(tmp_path: Path) -> None:
    """A task of the user's own with `trace_status` and our metric names in its metric_list."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    replies = REPLIES["fa"]
    data = tmp_path / "fh.jsonl"
    data.write_text("".join(json.dumps({"q": f"fh {i}", "a": g}) + "\n" for i, (_, _, g) in enumerate(replies)))
    (tmp_path / "fh.yaml").write_text(json_task_yaml("fh", data, filters=HAND_FILTERS, metrics=HAND_METRICS))
    gens = tmp_path / "gens.jsonl"
    lines = [{"task": "fh", "doc_id": i, "response": r, "finish_reason": f} for i, (r, f, _) in enumerate(replies)]
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    tm = TaskManager(include_path=[str(tmp_path)])
    rows = simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=["fh"], task_manager=tm)["results"]["fh"]
    want = _expected()["fa_tc"]
    for name in ("pass@1_empty", "pass@1_missing", "loop_rate", "truncated_loop_rate", "degenerate_rate"):
        assert rows[f"{name},traced"] == pytest.approx(want[name]), name
    assert rows["trace_length_words,traced"] == pytest.approx(want["trace_length_words"])
    assert rows["answer_length_words,traced"] == pytest.approx(want["answer_length_words"])
    assert isinstance(rows["loop_rate_stderr,traced"], float)
