"""The @k rows through lm-eval: a task with ``repeats: 4`` run with ``tc_replay`` through
``tracecollapse eval`` (in a group with a repeats-2 task); every row equals its
hand-computed value, and maj@4 equals the stock ``majority_vote`` pipeline's exact_match on
the same responses."""

from __future__ import annotations

import json
import math

import pytest
from testenv import EXACT_MATCH, json_task_yaml, replay_eval

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
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One ``tracecollapse eval --tasks repgroup_tc`` run: a group of rep4 (DOCS, repeats 4)
    and rep2 (TWO, repeats 2), both with the strict-match and vote pipelines."""
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
    gens = tmp / "gens.jsonl"
    lines = [{"doc_id": i, "task": "rep4_tc", "response": r} for i, doc in enumerate(DOCS) for r in doc]
    lines += [{"doc_id": i, "task": "rep2_tc", "response": r} for i, doc in enumerate(TWO) for r in doc]
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    replay_eval(gens, tasks, "repgroup_tc", tmp)
    [results] = (tmp / "out").rglob("results_*.json")
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
