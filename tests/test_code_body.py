"""HumanEval-style completions (a function body only) keep their indentation.

``Trace.answer`` is stripped (``"return a * b"``: put after the prompt as it is, a
SyntaxError, a right answer scored wrong), so ``trace_status`` hands the pipeline
``Trace.raw_answer`` (``"    return a * b"``), and ``code_exec`` re-indents a body that
lost its indentation all the same.  The code still runs in the sandbox (a child
process): these tests go through the real filters and ``run_tests``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.harness.filters import TraceStatusFilter
from lm_eval_tracecollapse.harness.grader_filters import CodeExecFilter
from lm_eval_tracecollapse.scoring.code import reindent_body, with_prompt

PROMPT = 'def mul(a: int, b: int) -> int:\n    """Return a times b.\n\n    >>> mul(2, 3)\n    6\n    """\n'
TEST = "def check(candidate):\n    assert candidate(2, 3) == 6\n    assert candidate(-1, 4) == -4\n"
DOC = {"task_id": "t/0", "prompt": PROMPT, "test": TEST, "entry_point": "mul"}
# humaneval_tc's pipeline: trace_status (added by TraceTask), then code_exec with the prompt
CODE_EXEC = {
    "function": "code_exec",
    "test_field": "test",
    "entry_point_field": "entry_point",
    "prompt_field": "prompt",
}

RIGHT = [
    "    return a * b",  # a body-only completion, no trace, no fence
    "<think>Multiply the two.</think>\n    return a * b",
    "<think>Multiply.</think>\n\n    product = a * b\n    return product\n",
    "<think>Zero first.</think>\n    if a == 0:\n        return 0\n    return a * b",
    "<think>A loop.</think>\n    for _ in range(1):\n        return a * b",
    "<think>t</think>\n    total = 0\n    for _ in range(abs(b)):\n        total += a\n"
    "    return total if b >= 0 else -total",
    "<think>Fenced.</think>\nHere it is:\n```python\n    return a * b\n```",
    "<think>Fenced, from column 0.</think>\n```python\nresult = a * b\nreturn result\n```",
    "<think>Whole function.</think>\n```python\ndef mul(a, b):\n    return a * b\n```",
    "<think>Body from column 0.</think>\nif b == 0:\n    return 0\nreturn a * b",
]
WRONG = [
    "    return a + b",
    "<think>Add?</think>\n    return a + b",
    "<think>Fenced.</think>\n```python\n    return a - b\n```",
    "<think>Nested.</think>\n    if a == 0:\n        return 1\n    return a * b + 1",
]


def _traced(responses: list[str], doc: dict[str, Any] = DOC) -> list[str]:
    """Statuses from trace_status with code_exec in its ``then:`` (one value per response)."""
    out = TraceStatusFilter(then=[CODE_EXEC]).apply([responses], [doc])
    return [str(v) for v in out[0]]


@pytest.mark.parametrize("response", RIGHT, ids=[f"right{i}" for i in range(len(RIGHT))])
def test_right_body_passes(response: str) -> None:
    assert _traced([response]) == ["pass"]


@pytest.mark.parametrize("response", WRONG, ids=[f"wrong{i}" for i in range(len(WRONG))])
def test_wrong_body_fails(response: str) -> None:
    assert _traced([response]) == ["fail"]


def test_stripped_answer_is_what_code_exec_gets() -> None:
    """The root of the bug: the parser strips the answer's leading indentation."""
    answer = parse_trace("<think>x</think>\n    return a * b").answer
    assert answer == "return a * b"
    code_exec = CodeExecFilter(test_field="test", prompt_field="prompt")
    assert code_exec.apply([[answer, "return a + b", "<think>unclosed"]], [DOC]) == [["pass", "fail", "fail"]]
    program, _, _ = code_exec._problem(answer, DOC)
    assert program == PROMPT + "    return a * b"


def test_truncated_trace_has_no_code() -> None:
    assert _traced(["<think>Let me multiply"]) == ["no_code"]


def test_prompt_without_final_newline_and_tab_indented_body() -> None:
    tabbed = {**DOC, "prompt": "def mul(a, b):\n\t'''a times b'''"}
    assert _traced(["<think>x</think>\n\treturn a * b"], tabbed) == ["pass"]
    assert with_prompt("def f(x):\n    'doc'", "return x", "f") == "def f(x):\n    'doc'\n    return x"


def test_helper_defs_in_prompt_reindent_to_the_entry_points_body() -> None:
    prompt = "def helper(x):\n  return x\n\n\nclass K:\n    def mul(self, a, b):\n        'doc'\n"
    assert with_prompt(prompt, "return a * b", "mul").endswith("        'doc'\n        return a * b")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return a * b", "    return a * b"),
        ("x = 1\n    return x", "    x = 1\n    return x"),
        ("if a:\n        return 1\n    return 2", "    if a:\n        return 1\n    return 2"),
        ("if a:\n        return 1", "    if a:\n        return 1"),
        ("if a:\n    return 1", "    if a:\n        return 1"),
        ("x = 1\nreturn x", "    x = 1\n    return x"),
        ("x = 1\n\n  return x", "    x = 1\n\n    return x"),  # a two-space body
        ("    return a * b\n", "    return a * b\n"),  # already indented: unchanged
        ("", ""),
    ],
)
def test_reindent_body(code: str, expected: str) -> None:
    assert reindent_body(code, "    ") == expected


def test_humaneval_style_task_through_lm_eval(tmp_path: Path) -> None:
    """humaneval_tc's pipeline (TraceTask + code_exec with prompt_field) on local problems,
    answered by tc_replay: the body-only completions pass, the wrong one fails."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_replay, code_exec, the trace metrics)

    data = tmp_path / "problems.jsonl"
    data.write_text("\n".join(json.dumps({**DOC, "task_id": f"t/{i}"}) for i in range(4)) + "\n")
    (tmp_path / "he_local_tc.yaml").write_text(
        "task: he_local_tc\n"
        "class: !function lm_eval_tracecollapse.tasks.TraceTask\n"
        f"dataset_path: json\ndataset_kwargs: {{data_files: {{test: {data}}}}}\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_text: '{{prompt}}'\ndoc_to_target: pass\n"
        "generation_kwargs: {until: [], do_sample: false}\n"
        "filter_list:\n  - name: answer\n    filter:\n"
        f"      - {json.dumps(CODE_EXEC)}\n      - {{function: take_first}}\n"
        "metric_list:\n  - {metric: exact_match, aggregation: mean, higher_is_better: true}\n"
        "metadata: {version: 1.0}\n"
    )
    responses = [RIGHT[1], RIGHT[3], RIGHT[6], WRONG[1]]
    replay = tmp_path / "gens.jsonl"
    replay.write_text("\n".join(json.dumps({"doc_id": i, "response": r}) for i, r in enumerate(responses)) + "\n")
    res = simple_evaluate(
        model="tc_replay",
        model_args=f"path={replay}",
        tasks=["he_local_tc"],
        task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
    )
    samples = sorted(res["samples"]["he_local_tc"], key=lambda s: s["doc_id"])
    assert [s["filtered_resps"] for s in samples] == [["pass"], ["pass"], ["pass"], ["fail"]]
    r = res["results"]["he_local_tc"]
    assert r["exact_match,answer"] == 0.75 and r["pass@1,answer"] == 0.75 and r["valid_rate,answer"] == 1.0
