"""The @k rows through lm-eval: a task with ``repeats: 4`` run with ``tc_replay`` through
``tracecollapse eval`` (in a group with a repeats-2 task); every row equals its
hand-computed value, and maj@4 equals the stock ``majority_vote`` pipeline's exact_match on
the same responses.  Post hoc, ``tracecollapse analyze --json`` on that run's samples gives
the rows lm-eval printed, and ``compare`` against a collapsed run gives each its Δ."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from testenv import EXACT_MATCH, json_task_yaml, replay_eval, run_tracecollapse

V4, V5, M4, M5 = "<think>w</think>#### 4", "<think>w</think>#### 5", "#### 4", "#### 5"
DOCS = [[V4, V5, M4, V4], [M5, M5, V4, M4]]  # both documents' target: 4
PIPELINES = """  - name: strict-match
    filter:
      - {function: regex, regex_pattern: "#### (\\\\d+)"}
      - {function: take_first}
  - name: vote
    filter:
      - {function: regex, regex_pattern: "#### (\\\\d+)"}
      - {function: majority_vote}
      - {function: take_first}
"""
# hand-computed (docs/extras.md's definitions): doc0 correct 1,0,1,1 valid 1,1,0,1; doc1 correct 0,0,1,1
# valid 0,0,1,0.  pass@2: 1 and 1 - C(2,2)/C(4,2) = 5/6; maj@2 over the 6 ordered pairs, ties to the first
# answer: 4/6 and 1/6; maj@4: 4 wins doc0, 5 wins doc1's 2-2 tie; rpass@2 and rmaj@2: doc0 only (doc1
# has one valid response); valid@2: 1 and 1 - C(3,2)/C(4,2) = 1/2; all_valid@2: C(3,2)/C(4,2) = 1/2 and 0
EXPECTED = {
    "pass@2": 11 / 12, "pass@4": 1.0, "maj@2": 5 / 12, "maj@4": 0.5, "rpass@2": 1.0, "rpass@2_coverage": 0.5,
    "rmaj@2": 2 / 3, "rpass@4": "N/A", "rpass@4_coverage": 0.0, "valid@2": 0.75, "all_valid@2": 0.25,
    "valid@4": 1.0, "all_valid@4": 0.0,
}  # fmt: skip


TWO = [[V4, M5], [V5, V5]]  # rep2: doc0 correct 1,0 valid 1,0; doc1 correct 0,0 valid 1,1


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``tracecollapse eval --tasks repgroup_tc`` run: a group of rep4 (DOCS, repeats 4)
    and rep2 (TWO, repeats 2), both with the strict-match and vote pipelines; its folder."""
    tmp = tmp_path_factory.mktemp("at_k")
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps({"q": f"q{i}", "a": "4"}) + "\n" for i in range(len(DOCS))))
    tasks = tmp / "tasks"
    tasks.mkdir()
    for name, repeats in (("rep4", 4), ("rep2", 2)):
        (tasks / f"{name}.yaml").write_text(
            json_task_yaml(name, data, filters=PIPELINES, metrics=EXACT_MATCH, extra=f"repeats: {repeats}\n")
        )
    (tasks / "repgroup.yaml").write_text(
        "group: repgroup\ntask: [rep4, rep2]\naggregate_metric_list:\n"
        "  - {metric: exact_match, aggregation: mean, weight_by_size: true}\n"
    )
    _replay(tmp, {"rep4_tc": DOCS, "rep2_tc": TWO}, "repgroup_tc")
    return tmp


def _replay(tmp: Path, responses: dict[str, list[list[str]]], tasks: str) -> None:
    """``tracecollapse eval`` of ``tasks`` (in ``tmp / "tasks"``) replaying ``responses`` per task and document."""
    gens = tmp / "gens.jsonl"
    lines = [{"doc_id": i, "task": task, "response": r} for task, docs in responses.items()
             for i, doc in enumerate(docs) for r in doc]  # fmt: skip
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    replay_eval(gens, tmp / "tasks", tasks, tmp)


@pytest.fixture(scope="module")
def rows(evaluated: Path) -> dict:
    """The run's results (lm-eval's rows)."""
    [results] = (evaluated / "out").rglob("results_*.json")
    return json.loads(results.read_text())["results"]


def test_at_k_rows_equal_hand_computed_values(rows: dict) -> None:
    row = rows["rep4_tc"]
    for name, value in EXPECTED.items():
        got = row[f"{name},strict-match"]  # N/A in the table is NaN in the JSON, as rpass@1's
        assert math.isnan(got) if value == "N/A" else got == pytest.approx(value), name
        assert f"{name}_stderr,strict-match" in row
    assert row["pass@1,strict-match"] == pytest.approx(5 / 8)  # avg@4: no row of its own
    # the stock vote pipeline (majority_vote, ties to the first answer) scores what maj@4 says
    assert row["exact_match,vote"] == pytest.approx(EXPECTED["maj@4"])
    assert "pass@8,strict-match" not in row  # k only up to repeats


def test_a_group_pools_at_k_rows_over_documents_of_different_n(rows: dict) -> None:
    """pass@2 and valid@2 pool over the documents of both tasks (each weighs 1); rows with
    k = 4 come from rep4 alone."""
    group = rows["repgroup_tc"]
    # rep2: pass@2 = 1 - C(1,2)/C(2,2) = 1 for doc0, 0 for doc1; valid@2: 1, 1; all_valid@2: 0, 1
    assert rows["rep2_tc"]["pass@2,strict-match"] == pytest.approx(0.5)
    assert group["pass@2,strict-match"] == pytest.approx((1 + 5 / 6 + 1 + 0) / 4)
    assert group["valid@2,strict-match"] == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert group["all_valid@2,strict-match"] == pytest.approx((0.5 + 0 + 0 + 1) / 4)
    assert group["pass@4,strict-match"] == pytest.approx(EXPECTED["pass@4"])  # rep4 only
    assert "pass@2_stderr,strict-match" in group


def test_analyze_gives_the_rows_lm_eval_printed(evaluated: Path, rows: dict, tmp_path: Path) -> None:
    """``tracecollapse analyze --json`` on the run's samples: every @k row of every task and
    pipeline equals lm-eval's (pass@k, rpass@k and valid@k recomputed from each line's
    responses and stored pass@1/rpass@1 by metrics.at_k.count_values; maj@k read), N/A as null;
    each with an interval around it."""
    out = tmp_path / "analyze.json"
    run = run_tracecollapse(["tracecollapse", "analyze", str(evaluated / "out"), "--json", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    summaries = json.loads(out.read_text())["summaries"]
    assert {(s["task"], s["pipeline"]) for s in summaries} == {
        (t, p) for t in ("rep4_tc", "rep2_tc") for p in ("strict-match", "vote")
    }
    for s in summaries:
        lm_eval = {m.split(",")[0]: v for m, v in rows[s["task"]].items()
                   if m.endswith(f",{s['pipeline']}") and re.fullmatch(r"[a-z_]+@\d+(_coverage)?", m.split(",")[0])
                   and m.split(",")[0] not in ("pass@1", "rpass@1")}  # fmt: skip
        assert set(s["at_k"]) == set(lm_eval) and lm_eval, s["task"]
        for name, value in lm_eval.items():
            got = s["at_k"][name]
            if math.isnan(value):
                assert got is None, name
                continue
            assert got["value"] == pytest.approx(value, abs=1e-12), (s["task"], s["pipeline"], name)
            assert got["ci"][0] <= got["value"] <= got["ci"][1] and got["ci"][0] < got["ci"][1], name
    rep4 = next(s for s in summaries if (s["task"], s["pipeline"]) == ("rep4_tc", "strict-match"))
    assert {n: None if v is None else pytest.approx(v["value"]) for n, v in rep4["at_k"].items() if n in EXPECTED} == {
        n: None if v == "N/A" else pytest.approx(v) for n, v in EXPECTED.items()
    }
    assert rep4["at_k"]["rpass@2"]["n"] == 1  # the one document with 2 valid responses
    assert "  pass@2 0.917 [" in run.stdout and "  rpass@2 1.000 [" in run.stdout
    assert "rpass@4 N/A (0 of 2 documents)" in run.stdout


def test_compare_gives_each_at_k_row_its_delta(evaluated: Path, tmp_path: Path) -> None:
    """``tracecollapse compare`` of the run against one whose traces collapsed (rep4, every
    response without a trace, fewer right): pass@k's Δ with its interval, rpass@k n/a."""
    shutil.copytree(evaluated / "tasks", tmp_path / "tasks")
    collapsed = [[M5, M5, M4, M5], [M5, M5, M5, M5]]  # pass@2: 1 - C(3,2)/C(4,2) = 1/2 and 0
    _replay(tmp_path, {"rep4_tc": collapsed}, "rep4_tc")
    base, [new] = next((evaluated / "out").iterdir()), list((tmp_path / "out").iterdir())
    out = tmp_path / "compare.json"
    run = run_tracecollapse(["tracecollapse", "compare", str(base), str(new), "--json", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    [strict] = [c for c in json.loads(out.read_text())["comparisons"] if c["pipeline"] == "strict-match"]
    got = {r["metric"]: r for r in strict["rows"]}
    assert got["pass@2"]["base"] == pytest.approx(11 / 12) and got["pass@2"]["new"] == pytest.approx(0.25)
    assert got["pass@2"]["delta"] == pytest.approx(0.25 - 11 / 12)
    assert got["pass@2"]["ci"][0] <= got["pass@2"]["delta"] <= got["pass@2"]["ci"][1]
    assert got["valid@2"]["new"] == 0.0 and got["rpass@2"]["new"] is None
    assert re.search(r"  pass@2 +0\.917 -> 0\.250   Δ -0\.667 \[[-+]\d\.\d{3}, [-+]\d\.\d{3}\]   \w+ p", run.stdout)
    na = "rpass@2                  1.000 -> N/A     Δ n/a (no document with 2 valid responses in the fine-tuned run)"
    assert na in run.stdout


def test_the_report_page_shows_the_at_k_rows(evaluated: Path, tmp_path: Path) -> None:
    """``tracecollapse report --html``: a table of the @k rows, one row per run, task and k,
    cells as ``analyze`` prints them."""
    page = tmp_path / "page.html"
    run = run_tracecollapse(["tracecollapse", "report", str(evaluated / "out"), "--html", str(page)], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    html = page.read_text()
    table = re.search(r'<table id="tc-at-k".*?</table>', html, re.S)
    assert table is not None
    row = re.search(r'<tr data-key="[^"]*\|rep4_tc\|strict-match\|2">(.*?)</tr>', table.group(0), re.S)
    assert row is not None
    cells = dict(re.findall(r'<td data-col="([^"]+)"[^>]*>([^<]*)</td>', row.group(1)))
    assert cells["pass@k"].startswith("0.917 [") and cells["maj@k"].startswith("0.417 [")
    assert cells["rpass@k"].startswith("1.000 [") and cells["rpass@k"].endswith("(1 of 2 documents)")
    assert len(re.findall(r"<tr data-key=", table.group(0))) == 2 * 2 + 2 * 1  # 2 pipelines: rep4 k 2, 4; rep2 k 2
