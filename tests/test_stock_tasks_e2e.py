"""Our metrics on lm-eval's *stock* tasks, wrapped on the fly, checked against hand-computed values.

One ``tracecollapse eval --model tc_replay`` run (a subprocess, offline: ``tests/offline_hub.py``)
over ``ifeval_tc`` and the groups ``minerva_math_tc``, ``bbh_cot_zeroshot_tc`` and ``mmlu_pro_tc``
(all wrapped on the fly from lm-eval's unchanged YAMLs) and our shipped ``humaneval_tc``;
``humaneval_64_tc`` (wrapped on the fly too) runs on its own, as today it stops any run it is in
(see ``test_humaneval_64``).  Every reply is written here from a small design table
``DESIGN[task]``: one ``(status, correct)`` pair per response, which fixes both the text replayed
and — computed here by hand, never by package code — every value of our metric rows, at task
level and pooled at group level.

How a reply's text is made right or wrong for the task's *own* scorer (read off each stock YAML):

* bbh (both pipelines agree): the answer part is ``The answer is <value>.``; ``strict-match``
  takes what follows ``The answer is `` bar the last character, ``flexible-extract``'s regex /
  ``MultiChoiceRegexFilter`` / ``NumberParseRegexFilter`` / ``MapRegexFilter`` /
  ``WordSortFilter`` the *last* value of its kind in the answer part.
* mmlu_pro: ``The answer is (X).`` for ``custom-extract``'s ``answer is \\(?([A-J])\\)?``.
* minerva_math: ``Final Answer: The final answer is $v$. I hope it is correct.``, what its
  ``process_results`` parses for ``exact_match``.
* ifeval: ``IFEVAL_COMPLIANT`` follows every instruction, ``lol`` none
  (``prompt_level_strict_acc``).
* humaneval_64: a whole function (see ``_code``; a bare indented body works too since issue 35,
  see ``tests/test_stock_tasks_exact.py``), run by ``code_eval``; humaneval_tc: the same in a
  fenced block, run by our ``code_exec``.

Every reply also carries decoys that flip its correctness if the trace leaked into the answer
part (the trace holds the *opposite* answer, and the task's stop strings — ``Q:``, ``Question:``,
``Problem:``, humaneval's ``\\nprint`` — inside it) or if the task's stop strings were not applied
to the answer part (a tail after the answer starts with one and holds the opposite answer).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import offline_hub as hub  # registered by conftest.py
import pytest
from testenv import NA, pooled_row, seeded_cache

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow


V, E, M, T = "valid", "empty", "missing", "truncated"
Design = list[list[tuple[str, int]]]  # per doc, per response: (status, correct)

# --------------------------------------------------------------------------- the design table
# two documents per subtask; patterns 2 and 4 have no valid response (rpass@1 N/A)
PATTERNS: list[tuple[tuple[str, int], tuple[str, int]]] = [
    ((V, 1), (V, 0)),
    ((V, 1), (E, 1)),
    ((M, 1), (T, 0)),
    ((E, 0), (V, 1)),
    ((T, 0), (M, 0)),
    ((V, 0), (M, 1)),
    ((V, 1), (V, 1)),
]
MATH = list(hub.MATH_CONFIGS)
BBH = [f"bbh_cot_zeroshot_{n}" for n in hub.BBH_KINDS]
MMLU = list(hub.MMLU_PRO_CATEGORIES)


def _humaneval_64_design() -> Design:
    """64 responses per problem, statuses mixed within each: problem 0 cycles valid, empty,
    missing, truncated (j % 4) and is right for j % 8 < 4 unless truncated (24 right); problem 1 has
    40 valid, then 16 missing, then 8 empty responses, right for j % 3 == 0 (22 right)."""
    doc0 = [([V, E, M, T][j % 4], int(j % 8 < 4 and j % 4 != 3)) for j in range(64)]
    doc1 = [(V if j < 40 else M if j < 56 else E, int(j % 3 == 0)) for j in range(64)]
    return [doc0, doc1]


DESIGN: dict[str, Design] = {
    "ifeval": [[(V, 1)], [(E, 0)], [(M, 1)]],
    **{t: [[p] for p in PATTERNS[i % 7]] for i, t in enumerate(MATH)},
    **{t: [[p] for p in PATTERNS[i % 7]] for i, t in enumerate(BBH)},
    **{t: [[p] for p in PATTERNS[(i + 3) % 7]] for i, t in enumerate(MMLU)},
    "humaneval_64": _humaneval_64_design(),
    "humaneval": [[(M, 1)], [(V, 0)]],  # our shipped humaneval_tc
}
GROUPS = {"minerva_math": MATH, "bbh_cot_zeroshot": BBH, "mmlu_pro": MMLU}
#: each task's filter pipelines (our rows are added to every one)
PIPELINES = {
    "ifeval": ["none"],
    **{t: ["none"] for t in MATH},
    **{t: ["flexible-extract", "strict-match"] for t in BBH},
    **{t: ["custom-extract"] for t in MMLU},
    "humaneval_64": ["create_test"],
    "humaneval": ["answer"],
}
TC_TASKS = ["ifeval_tc", "minerva_math_tc", "bbh_cot_zeroshot_tc", "mmlu_pro_tc", "humaneval_64_tc", "humaneval_tc"]


# --------------------------------------------------------------------------- the replies
def _opposite(task: str, gold: str) -> str:
    """A wrong answer of the same kind as ``gold``."""
    if task.startswith("bbh_"):
        kind = hub.BBH_KINDS[task.removeprefix("bbh_cot_zeroshot_")]
        pairs = {"True": "False", "Yes": "No", "yes": "no", "valid": "invalid", "(A)": "(B)"}
        pairs.update({v: k for k, v in list(pairs.items())})
        if kind in ("arith", "count"):
            return str(int(gold) + 7)
        if kind in ("dyck", "words"):
            return " ".join(reversed(gold.split()))
        return pairs[gold]
    if task.startswith("mmlu_pro_"):
        return "ABCD"[("ABCD".index(gold) + 1) % 4]
    return str(int(gold) + 100)  # minerva: the gold answers are integers


def _code(row: dict[str, Any], right: bool) -> str:
    """A whole function definition (signature line of the prompt, then its body)."""
    signature = row["prompt"].split("\n", 1)[0]
    body = row["canonical_solution"] if right else "    return None\n"
    return signature + "\n" + body.rstrip("\n")


def _parts(task: str, doc: int, right: bool) -> tuple[str, str, str]:
    """(answer part, decoy trace, decoy tail) of one reply."""
    row = hub.TASK_ROWS[task][doc]
    gold = hub.GOLD[task][doc]
    if task == "ifeval":
        return (hub.IFEVAL_COMPLIANT[doc] if right else "lol"), "Plan: a, b, c, then write it.", ""
    if task == "humaneval_64":
        # the tail is cut at humaneval's stop string "\nprint"; run, it would fail the problem
        return _code(row, right), "def draft():\n    print(1 / 0)\nprint(1 / 0)", "\nprint(1 / 0)"
    if task == "humaneval":
        return f"```python\n{_code(row, right)}\n```", "```python\nraise SystemExit(1)\n```", ""
    value, opp = (gold, _opposite(task, gold)) if right else (_opposite(task, gold), gold)
    if task.startswith("bbh_"):
        say = "The answer is {}."
        return say.format(value), "Q: restated. " + say.format(opp), "\n\nQ: next one. " + say.format(opp)
    if task.startswith("mmlu_pro_"):
        say = "The answer is ({})."
        return say.format(value), "Question: which? " + say.format(opp), "\nQuestion: next. " + say.format(opp)
    say = "Final Answer: The final answer is ${}$. I hope it is correct."
    return say.format(value), "Problem: check. " + say.format(opp), "\n\nProblem:\n" + say.format(opp)


def reply(task: str, doc: int, status: str, correct: int) -> str:
    """The replayed text of one response with that trace status and correctness."""
    if status == T:
        assert not correct, "a truncated trace has no answer part"
        answer, trace, _ = _parts(task, doc, True)
        return f"<think>{trace}\nSo: {answer}"  # the right answer, but inside the unclosed trace
    answer, trace, tail = _parts(task, doc, bool(correct))
    if status == V:
        return f"<think>{trace}</think>{answer}{tail}"
    if status == E:
        return f"<think> </think>{answer}{tail}"
    return f"{answer}{tail}"


def replay_lines() -> list[dict[str, Any]]:
    return [
        {"task": f"{task}_tc", "doc_id": d, "response": reply(task, d, status, correct)}
        for task, docs in DESIGN.items()
        for d, responses in enumerate(docs)
        for status, correct in responses
    ]


# --------------------------------------------------------------------------- expected values, by hand
RATES = {"valid_rate": V, "empty_rate": E, "missing_rate": M, "truncated_rate": T}
OURS = [*RATES, "answer_rate", "pass@1", "rpass@1"]


def _per_doc(design: Design, metric: str) -> list[tuple[float, float]]:
    """(value, weight) per document that carries weight: a share over its responses."""
    out = []
    for responses in design:
        if metric in RATES:
            hits = [s == RATES[metric] for s, _ in responses]
        elif metric == "answer_rate":
            hits = [s != T for s, _ in responses]  # every other reply has a non-blank answer part
        elif metric == "pass@1":
            hits = [bool(c) for _, c in responses]
        else:  # rpass@1: correct among the valid-trace responses
            hits = [bool(c) for s, c in responses if s == V]
        if hits:
            out.append((sum(hits) / len(hits), float(len(hits))))
    return out


def expected_task(design: Design, metric: str) -> tuple[float, float | str, int]:
    """(value, stderr, documents pooled) of one task row (:func:`testenv.pooled_row`)."""
    return pooled_row(_per_doc(design, metric))


def expected_group(tasks: list[str], metric: str) -> tuple[float, float | str]:
    """A group row: every response of its subtasks pooled (rpass@1: every valid one; a subtask
    with none left out), stderr as lm-eval pools group stderr (``pooled_sample_stderr``:
    √(Σ (nᵢ-1)·sᵢ²·nᵢ / (N-L) / N) over the L subtasks with a value)."""
    pooled = [r for r in (_per_doc(DESIGN[t], metric) for t in tasks) if r]
    total = sum(w for docs in pooled for _, w in docs)
    value = sum(v * w for docs in pooled for v, w in docs) / total
    leaves = [expected_task(DESIGN[t], metric) for t in tasks]
    leaves = [(s, n) for v, s, n in leaves if not math.isnan(v)]
    size = sum(n for _, n in leaves)
    if size - len(leaves) <= 0 or any(s == NA and n > 1 for s, n in leaves):
        return value, NA
    var = sum((n - 1) * (0.0 if s == NA else float(s)) ** 2 * n for s, n in leaves) / (size - len(leaves))
    return value, math.sqrt(var / size)


def _assert_row(row: dict[str, Any], metric: str, pipe: str, value: float, stderr: float | str, where: str) -> None:
    got, got_se = row[f"{metric},{pipe}"], row[f"{metric}_stderr,{pipe}"]
    if math.isnan(value):
        assert math.isnan(got), (where, metric, pipe, got)
    else:
        assert got == pytest.approx(value, abs=1e-12), (where, metric, pipe, got, value)
    if stderr == NA:
        assert got_se == NA, (where, metric, pipe, got_se)
    else:
        assert got_se == pytest.approx(stderr, abs=1e-12), (where, metric, pipe, got_se, stderr)


# --------------------------------------------------------------------------- the run
def _tracecollapse(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 180) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - start
    log = proc.stdout[-4000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, log
    return took, log


def _replay_args(path: Path, tasks: list[str], out: Path) -> list[str]:
    return [
        "--model",
        "tc_replay",
        "--model_args",
        f"path={path}",
        "--tasks",
        ",".join(tasks),
        "--confirm_run_unsafe_code",
        "--log_samples",
        "--output_path",
        str(out),
    ]


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = hub.write_offline_hub(tmp_path_factory.mktemp("stock_e2e"))
    env = hub.offline_env(root)
    env["TRACECOLLAPSE_CACHE"] = str(seeded_cache(root / "tc_cache"))  # the task index and on-the-fly wrappers
    return root, env


@pytest.fixture(scope="module")
def replies(hub_root: tuple[Path, dict[str, str]]) -> Path:
    path = hub_root[0] / "replies.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in replay_lines()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(hub_root: tuple[Path, dict[str, str]], replies: Path) -> dict[str, Any]:
    """Run every stock task wrapped on the fly (and humaneval_tc) once, on the replies."""
    root, env = hub_root
    out = root / "out"
    # humaneval_64_tc runs on its own (test_humaneval_64): today it stops the whole run
    took, log = _tracecollapse(_replay_args(replies, [t for t in TC_TASKS if t != "humaneval_64_tc"], out), env, root)
    (results,) = out.glob("*/results_*.json")
    samples: dict[str, list[dict[str, Any]]] = {}
    for path in out.glob("*/samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {"results": json.loads(results.read_text()), "samples": samples, "seconds": took, "log": log}


def _single_response_tasks() -> list[str]:
    return [t for t, docs in DESIGN.items() if all(len(r) == 1 for r in docs)]


# --------------------------------------------------------------------------- the tests
def test_every_task_and_group_ran(run: dict[str, Any]) -> None:
    results = run["results"]
    for task in _single_response_tasks():
        n = len(DESIGN[task])
        assert n == len(hub.TASK_ROWS[task]), task  # a reply for every document
        assert results["n-samples"][f"{task}_tc"] == {"original": n, "effective": n}, task
    for group, tasks in GROUPS.items():
        assert sorted(results["group_subtasks"][f"{group}_tc"]) == sorted(f"{t}_tc" for t in tasks), group


def test_each_reply_is_scored_by_the_tasks_own_scorer_as_designed(run: dict[str, Any]) -> None:
    """Per document: the task's own first metric says right/wrong exactly as designed, on every
    pipeline, and so do our per-document rows (a check of the reply design and its decoys)."""
    own = {"ifeval": "prompt_level_strict_acc"}
    for task in _single_response_tasks():
        lines = run["samples"][f"{task}_tc"]
        assert {line["filter"] for line in lines} == set(PIPELINES[task]), task
        assert len(lines) == len(DESIGN[task]) * len(PIPELINES[task]), task
        for line in lines:
            [(status, correct)] = DESIGN[task][line["doc_id"]]
            where = (task, line["doc_id"], line["filter"], line["resps"], line["filtered_resps"])
            assert float(line[own.get(task, "exact_match")]) == correct, where
            assert line["pass@1"] == correct, where
            for metric, of in RATES.items():
                assert line[metric] == float(status == of), (metric, *where)
            if status == V:
                assert line["rpass@1"] == correct, where
            else:
                assert math.isnan(line["rpass@1"]), where


def test_stop_strings_move_from_generation_to_the_answer_part(run: dict[str, Any]) -> None:
    """Only turn markers stay on generation; the rest cut the answer part (the decoy tails above)."""
    until = {
        "bbh_cot_zeroshot_boolean_expressions": ["</s>", "<|im_end|>"],  # "Q:" moved
        "mmlu_pro_law": [],  # "Question:" moved
        "minerva_math_algebra": [],  # "Problem:" moved
        "humaneval": [],  # humaneval_tc has none
    }
    for task, kept in until.items():
        line = run["samples"][f"{task}_tc"][0]
        assert line["arguments"]["gen_args_0"]["arg_1"]["until"] == kept, task


@pytest.mark.parametrize("task", _single_response_tasks())
def test_task_rows(run: dict[str, Any], task: str) -> None:
    """Every our-metric row of the task, on every pipeline, value and stderr."""
    row = run["results"]["results"][f"{task}_tc"]
    for pipe in PIPELINES[task]:
        for metric in OURS:
            value, stderr, _ = expected_task(DESIGN[task], metric)
            _assert_row(row, metric, pipe, value, stderr, task)


@pytest.mark.parametrize("group", list(GROUPS))
def test_group_rows_pool_every_response(run: dict[str, Any], group: str) -> None:
    tasks = GROUPS[group]
    row = run["results"]["results"][f"{group}_tc"]
    for pipe in PIPELINES[tasks[0]]:
        for metric in OURS:
            value, stderr = expected_group(tasks, metric)
            _assert_row(row, metric, pipe, value, stderr, group)


def test_a_subtask_without_valid_response_is_na_and_left_out_of_the_group(run: dict[str, Any]) -> None:
    results = run["results"]["results"]
    for group, tasks in GROUPS.items():
        pipe = PIPELINES[tasks[0]][0]
        none_valid = [t for t in tasks if all(s != V for r in DESIGN[t] for s, _ in r)]
        assert none_valid, group  # the design has some in every group
        for task in none_valid:
            assert math.isnan(results[f"{task}_tc"][f"rpass@1,{pipe}"]), task
        # the group's rpass@1: correct among every valid response of the other subtasks
        valid = [c for t in tasks for r in DESIGN[t] for s, c in r if s == V]
        assert results[f"{group}_tc"][f"rpass@1,{pipe}"] == pytest.approx(sum(valid) / len(valid)), group
    assert math.isnan(results["minerva_math_geometry_tc"]["rpass@1,none"])


def test_lm_evals_own_group_rows_are_kept(run: dict[str, Any]) -> None:
    """lm-eval's group row (the size-weighted mean of its subtasks' metric) is as lm-eval makes it."""
    results = run["results"]["results"]
    own = {"minerva_math": "exact_match,none", "bbh_cot_zeroshot": "exact_match,flexible-extract"}
    own["mmlu_pro"] = "exact_match,custom-extract"
    for group, key in own.items():
        tasks = GROUPS[group]
        rows = [results[f"{t}_tc"] for t in tasks]
        weighted = sum(r[key] * r["sample_len"] for r in rows) / sum(r["sample_len"] for r in rows)
        correct = [c for t in tasks for r in DESIGN[t] for _, c in r]
        assert results[f"{group}_tc"][key] == pytest.approx(weighted), group
        assert weighted == pytest.approx(sum(correct) / len(correct)), group


def _pass_at_k(n: int, c: int, k: int) -> float:
    """code_eval's unbiased estimator 1 - C(n-c, k) / C(n, k)."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_humaneval_64(hub_root: tuple[Path, dict[str, str]], replies: Path) -> None:
    """humaneval_64_tc: 2 problems x 64 replies, every status mixed within a problem.

    What is well defined is asserted: our rates (per response: each problem weighs 64) and
    lm-eval's own pass@k, which code_eval computes over a problem's 64 answer parts.  pass@1 and
    rpass@1 are not: humaneval_64's only metric is pass_at_k with k in {2, 8, 16, 32, 64}, and
    code_eval reports pass@k only for k <= the number of candidates, so "the task's own first
    metric applied to one response" has no value.  (Each response's own correctness is in the
    design all the same, and fixes the counts c below.)
    """
    root, env = hub_root
    out = root / "out_humaneval_64"
    _tracecollapse(_replay_args(replies, ["humaneval_64_tc"], out), env, root)
    (results,) = out.glob("*/results_*.json")
    row = json.loads(results.read_text())["results"]["humaneval_64_tc"]
    design = DESIGN["humaneval_64"]
    for metric in [*RATES, "answer_rate"]:
        value, stderr, _ = expected_task(design, metric)
        _assert_row(row, metric, "create_test", value, stderr, "humaneval_64")
    # one response alone has no pass@k value: no pass@1/rpass@1 rows rather than wrong ones
    assert "pass@1,create_test" not in row and "rpass@1,create_test" not in row
    correct = [sum(c for _, c in responses) for responses in design]
    assert correct == [24, 22]
    for k in (2, 8, 16, 32, 64):
        per_doc = [_pass_at_k(64, c, k) for c in correct]
        assert row[f"pass@{k},create_test"] == pytest.approx(sum(per_doc) / 2), k
        assert row[f"pass@{k}_stderr,create_test"] == pytest.approx(abs(per_doc[0] - per_doc[1]) / 2), k


def test_wrapping_on_the_fly_adds_under_5_s_of_start_up(hub_root: tuple[Path, dict[str, str]]) -> None:
    """``--tasks bbh_cot_zeroshot_tc`` (27 subtasks wrapped on the fly) against ``--tasks
    bbh_cot_zeroshot``, lm-eval's dummy model, one document each.

    The first run warms the task-index cache (``$TRACECOLLAPSE_CACHE``: indexing lm-eval's
    tasks takes about 10 s once per lm-eval install) and the wrapper folder; it is not timed.
    Each is then timed twice, interleaved, and the fastest of each compared.  The time is the
    CPU seconds a run takes (user + system, with its children): the start-up's own work, which
    other processes on the machine do not stretch, so this runs beside the other tests.
    """
    root, env = hub_root
    args = ["--model", "dummy", "--limit", "1", "--tasks"]
    _tracecollapse([*args, "bbh_cot_zeroshot_tc"], env, root)  # warm-up
    times: dict[str, list[float]] = {"bbh_cot_zeroshot": [], "bbh_cot_zeroshot_tc": []}
    for _ in range(2):
        for tasks in times:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            _tracecollapse([*args, tasks], env, root)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[tasks].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    plain, wrapped = min(times["bbh_cot_zeroshot"]), min(times["bbh_cot_zeroshot_tc"])
    print(f"start-up, CPU seconds: plain {times['bbh_cot_zeroshot']}, wrapped {times['bbh_cot_zeroshot_tc']}")
    assert wrapped - plain < 5.0, times
