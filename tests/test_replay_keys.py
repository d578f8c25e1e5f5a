"""tc_replay's keys through lm-eval itself: repeats and groups with doc_id lines.

lm-eval 0.4.13 builds one Instance per document and asks the model for it
``repeats`` times in a row (``cloned_reqs.extend([req] * req.repeats)``), appending
each answer to ``req.resps`` in order.  tc_replay must serve a key's saved lines one
per request, in order, never reuse one, and refuse doc_id-only lines it cannot place.
No mocks of lm-eval: tiny local task YAMLs and JSON data written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DOCS = [{"question": "What is 6*7?", "answer": "42"}, {"question": "What is 3+4?", "answer": "7"}]

TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: generate_until
doc_to_text: "Q{tag}: {{{{question}}}}\\nA:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs: {{until: [], do_sample: false}}
repeats: {repeats}
filter_list:
  - name: answer
    filter:
      - function: !function lm_eval_tracecollapse.harness.filters.TraceStatusFilter
        then:
          - {{function: regex, regex_pattern: "#### (\\\\-?[0-9]+)"}}
          - {{function: take_first}}
metric_list:
  - {{metric: exact_match, aggregation: mean, higher_is_better: true}}
  - {{metric: valid_rate, aggregation: mean, higher_is_better: true}}
  - {{metric: missing_rate, aggregation: mean, higher_is_better: false}}
metadata: {{version: 1.0}}
"""

# per doc, the responses of its repeats, in order: doc 0 valid then missing, doc 1 twice missing
# (its first answer wrong): valid_rate (0.5 + 0) / 2, exact_match of the first response (1 + 0) / 2
REPEATED = [
    ["<think>6*7=42</think>#### 42", "#### 41"],
    ["#### 5", "#### 7"],
]


def _tasks(tmp_path: Path, names: dict[str, str], repeats: int = 1, group: str | None = None) -> Any:
    """Task YAMLs (name -> prompt tag) over a local JSON dataset, and a TaskManager for them."""
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_replay and the trace metrics)

    folder = tmp_path / "tasks"
    folder.mkdir()
    data = folder / "docs.json"
    data.write_text("\n".join(json.dumps(d) for d in DOCS) + "\n")
    for name, tag in names.items():
        (folder / f"{name}.yaml").write_text(TASK_YAML.format(name=name, data=data, tag=tag, repeats=repeats))
    if group:
        (folder / f"{group}.yaml").write_text(
            f"group: {group}\ntask: [{', '.join(names)}]\n"
            "aggregate_metric_list:\n  - {metric: exact_match, aggregation: mean, weight_by_size: false}\n"
            "metadata: {version: 1.0}\n"
        )
    return TaskManager(include_path=str(folder), include_defaults=False)


def _lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _evaluate(tm: Any, tasks: list[str], path: Path) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    return simple_evaluate(model="tc_replay", model_args=f"path={path}", tasks=tasks, task_manager=tm)


@pytest.mark.parametrize("with_task", [True, False], ids=["doc_id+task", "doc_id_only"])
def test_repeats_are_served_in_order_one_line_each(tmp_path: Path, with_task: bool) -> None:
    tm = _tasks(tmp_path, {"rk_rep": "r"}, repeats=2)
    rows = [
        {**({"task": "rk_rep"} if with_task else {}), "doc_id": d, "response": resp}
        for d, resps in enumerate(REPEATED)
        for resp in resps
    ]
    res = _evaluate(tm, ["rk_rep"], _lines(tmp_path / "gens.jsonl", rows))
    r = res["results"]["rk_rep"]
    assert r["valid_rate,answer"] == pytest.approx(0.25)
    assert r["missing_rate,answer"] == pytest.approx(0.75)
    assert r["exact_match,answer"] == pytest.approx(0.5)
    samples = sorted(res["samples"]["rk_rep"], key=lambda s: s["doc_id"])
    assert [s["resps"] for s in samples] == [[resps] for resps in REPEATED]  # each line once, in file order
    assert [s["valid_rate"] for s in samples] == [0.5, 0.0]
    assert [s["filtered_resps"] for s in samples] == [["42"], ["5"]]


@pytest.mark.parametrize(
    ("with_task", "message"),
    [
        (True, r"task 'rk_rep' doc_id 0 has 1 saved line\(s\) in .* but 2 requests ask for it \(task 'rk_rep' has "
               r"repeats=2\); a saved line is never reused for another request: save one line per repeat, in order"),
        (False, r"doc_id 0, keyed by doc_id only \(no \"task\" field, no matching \"prompt\"\), has 1 saved line\(s\) "
                r"in .* but 2 requests ask for it \(task 'rk_rep' has repeats=2\).*save one line per repeat, in order "
                r".*add the \"task\" field \(or the \"prompt\"\)"),
    ],
    ids=["doc_id+task", "doc_id_only"],
)  # fmt: skip
def test_repeats_without_enough_lines_is_an_error(tmp_path: Path, with_task: bool, message: str) -> None:
    tm = _tasks(tmp_path, {"rk_rep": "r"}, repeats=2)
    rows = [{**({"task": "rk_rep"} if with_task else {}), "doc_id": d, "response": REPEATED[d][0]} for d in (0, 1)]
    with pytest.raises(ValueError, match=message):
        _evaluate(tm, ["rk_rep"], _lines(tmp_path / "gens.jsonl", rows))


def test_group_with_doc_id_only_lines_is_an_error(tmp_path: Path) -> None:
    tm = _tasks(tmp_path, {"rk_a": "a", "rk_b": "b"}, group="rk_group")
    rows = [{"doc_id": d, "response": f"#### {doc['answer']}"} for d, doc in enumerate(DOCS)]
    message = (
        r"tc_replay: ambiguous saved lines in .*gens\.jsonl: 4 requests match a line by doc_id alone \(no \"task\" "
        r"field, no matching \"prompt\"\), but this run has requests from 2 tasks \(rk_a, rk_b\), so such a line "
        r"could answer any of them \(first: doc_id 0, asked by task 'rk_a'\)\. Add a \"task\" field to each line "
        r"\(or the \"prompt\" it answers\)"
    )
    with pytest.raises(ValueError, match=message):
        _evaluate(tm, ["rk_group"], _lines(tmp_path / "gens.jsonl", rows))


def test_group_with_task_field_gives_each_subtask_its_lines(tmp_path: Path) -> None:
    tm = _tasks(tmp_path, {"rk_a": "a", "rk_b": "b"}, group="rk_group")
    answers = {"rk_a": ["#### 42", "#### 7"], "rk_b": ["<think>x</think>#### 42", "#### 0"]}  # a: 2/2, b: 1/2
    rows = [{"task": t, "doc_id": d, "response": resp} for t, resps in answers.items() for d, resp in enumerate(resps)]
    res = _evaluate(tm, ["rk_group"], _lines(tmp_path / "gens.jsonl", rows))
    a, b = res["results"]["rk_a"], res["results"]["rk_b"]
    assert a["exact_match,answer"] == 1.0 and a["valid_rate,answer"] == 0.0
    assert b["exact_match,answer"] == 0.5 and b["valid_rate,answer"] == 0.5
    assert res["results"]["rk_group"]["exact_match,answer"] == pytest.approx(0.75)
    for task, resps in answers.items():
        samples = sorted(res["samples"][task], key=lambda s: s["doc_id"])
        assert [s["resps"] for s in samples] == [[[resp]] for resp in resps]


def test_group_served_by_prompt_needs_no_task_field(tmp_path: Path) -> None:
    """Lines that carry the prompt they answer are unambiguous in a group, doc_id or not."""
    tm = _tasks(tmp_path, {"rk_a": "a", "rk_b": "b"}, group="rk_group")
    rows = [
        {
            "doc_id": d,
            "prompt": f"Q{tag}: {doc['question']}\nA:",
            "response": f"#### {doc['answer'] if tag == 'a' else 0}",
        }
        for tag in ("a", "b")
        for d, doc in enumerate(DOCS)
    ]
    res = _evaluate(tm, ["rk_group"], _lines(tmp_path / "gens.jsonl", rows))
    assert res["results"]["rk_a"]["exact_match,answer"] == 1.0
    assert res["results"]["rk_b"]["exact_match,answer"] == 0.0


def test_doc_id_lines_of_several_tasks_do_not_answer_another(tmp_path: Path) -> None:
    """One task in the run, but the doc_id-only fallback would have to pick between two tasks' lines."""
    tm = _tasks(tmp_path, {"rk_c": "c"})
    rows = [{"task": t, "doc_id": d, "response": "#### 1"} for t in ("rk_a", "rk_b") for d in (0, 1)]
    with pytest.raises(ValueError, match=r"task 'rk_c' doc_id 0 matches no line .* belong to 2 tasks \(rk_a, rk_b\)"):
        _evaluate(tm, ["rk_c"], _lines(tmp_path / "gens.jsonl", rows))


def test_samples_file_repeats_replay_in_order(tmp_path: Path) -> None:
    """An lm-eval samples file of a repeats run (resps [[r1, r2]]) replays into the same task."""
    tm = _tasks(tmp_path, {"rk_rep": "r"}, repeats=2)
    first = _evaluate(tm, ["rk_rep"], _lines(tmp_path / "gens.jsonl", [
        {"task": "rk_rep", "doc_id": d, "response": resp} for d, resps in enumerate(REPEATED) for resp in resps
    ]))  # fmt: skip
    saved = tmp_path / "run" / "samples_rk_rep_2026-01-01T00-00-00.000000.jsonl"
    saved.parent.mkdir()
    saved.write_text("\n".join(json.dumps(s, default=str) for s in first["samples"]["rk_rep"]) + "\n")
    again = _evaluate(tm, ["rk_rep"], saved.parent)
    samples = sorted(again["samples"]["rk_rep"], key=lambda s: s["doc_id"])
    assert [s["resps"] for s in samples] == [[resps] for resps in REPEATED]
    assert again["results"]["rk_rep"]["valid_rate,answer"] == pytest.approx(0.25)


def test_a_task_and_its_wrapper_need_lines_per_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """plain_task + plain_task_tc in one run (tests/fixtures/task_yamls): the doc_id-only
    fixture is refused, the same lines with a "task" field (one copy per task) score as before."""
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401

    repo = Path(__file__).resolve().parent.parent
    fixture = repo / "tests" / "fixtures" / "replay_gsm8k_local.jsonl"
    monkeypatch.chdir(repo)  # the fixture YAMLs name their data file relative to the repository
    tm = TaskManager(include_path=str(repo / "tests" / "fixtures" / "task_yamls"), include_defaults=False)
    tasks = ["plain_task", "plain_task_tc"]
    with pytest.raises(ValueError, match=r"requests from 2 tasks \(plain_task, plain_task_tc\)"):
        _evaluate(tm, tasks, fixture)
    rows = [json.loads(x) for x in fixture.read_text().splitlines() if x.strip()]
    both = _lines(tmp_path / "both.jsonl", [{**row, "task": t} for t in tasks for row in rows])
    res = _evaluate(tm, tasks, both)
    plain, traced = res["results"]["plain_task"], res["results"]["plain_task_tc"]
    assert plain["exact_match,strict-match"] == pytest.approx(1 / 3)  # reads '#### 40' inside doc 0's reasoning
    assert traced["exact_match,strict-match"] == pytest.approx(2 / 3)
    assert traced["valid_rate,strict-match"] == pytest.approx(1 / 3)


def test_same_prompt_in_two_tasks_keeps_each_tasks_lines(tmp_path: Path) -> None:
    """Two tasks with identical prompts (a task and its wrapper): lines with prompt and task
    go to their own task, whatever the file order."""
    tm = _tasks(tmp_path, {"rk_a": "s", "rk_b": "s"}, group="rk_group")
    rows = [
        {"task": t, "prompt": f"Qs: {doc['question']}\nA:", "response": f"#### {doc['answer'] if t == 'rk_a' else 0}"}
        for t in ("rk_b", "rk_a")
        for doc in DOCS
    ]
    res = _evaluate(tm, ["rk_group"], _lines(tmp_path / "gens.jsonl", rows))
    assert res["results"]["rk_a"]["exact_match,answer"] == 1.0
    assert res["results"]["rk_b"]["exact_match,answer"] == 0.0


def test_prompt_lines_short_of_repeats_is_an_error(tmp_path: Path) -> None:
    tm = _tasks(tmp_path, {"rk_rep": "r"}, repeats=2)
    rows = [{"prompt": f"Qr: {doc['question']}\nA:", "response": "#### 1"} for doc in DOCS]
    with pytest.raises(ValueError, match=r"the prompt 'Qr: What is 6\*7\?\\nA:' \(task 'rk_rep', doc_id 0\) has 1 "):
        _evaluate(tm, ["rk_rep"], _lines(tmp_path / "gens.jsonl", rows))
