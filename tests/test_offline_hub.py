"""lm-eval's stock task YAMLs, unchanged, run offline on ``tests/offline_hub.py``'s synthetic data.

One real ``lm_eval run --model dummy`` (lm-eval's own model, which answers "lol") over every
supported task, with nothing but the offline environment set; the tests then read lm-eval's
results and samples files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import offline_hub as hub  # registered by conftest.py
import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write the hub, run the stock tasks through the CLI once, and collect what lm-eval wrote."""
    root = hub.write_offline_hub(tmp_path_factory.mktemp("offline_hub"))
    env = hub.offline_env(root)
    out = root / "out"
    args = [str(BIN / "lm_eval"), "run", "--model", "dummy", "--tasks", ",".join(hub.TASKS)]
    args += ["--confirm_run_unsafe_code", "--log_samples", "--output_path", str(out)]
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    (results,) = out.glob("*/results_*.json")
    samples = {}
    for task in hub.TASK_ROWS:
        (path,) = out.glob(f"*/samples_{task}_2*.jsonl")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        # one line per (doc, filter): keep the first filter's, as bbh has two
        samples[task] = sorted((s for s in lines if s["filter"] == lines[0]["filter"]), key=lambda s: s["doc_id"])
    return {
        "root": root,
        "env": env,
        "log": proc.stdout + proc.stderr,
        "results": json.loads(results.read_text()),
        "samples": samples,
    }


def test_every_row_is_evaluated_offline(run: dict[str, Any]) -> None:
    """lm-eval evaluates exactly the rows written, for every subtask of every group."""
    n_samples = run["results"]["n-samples"]
    assert set(n_samples) == set(hub.TASK_ROWS)
    for task, rows in hub.TASK_ROWS.items():
        assert n_samples[task] == {"original": len(rows), "effective": len(rows)}, task
        assert [s["doc_id"] for s in run["samples"][task]] == list(range(len(rows))), task
    # every dataset came from the datasets cache written under root, none from anywhere else
    assert "offline mode is enabled" in run["log"]
    assert str(run["root"]) in run["log"]


def test_docs_are_the_rows_in_order(run: dict[str, Any]) -> None:
    """``TASK_ROWS[task][i]`` is the document lm-eval gives ``doc_id`` i (process_docs may add keys)."""
    for task, rows in hub.TASK_ROWS.items():
        for sample, row in zip(run["samples"][task], rows, strict=True):
            assert {k: sample["doc"][k] for k in row} == row, (task, sample["doc_id"])


def test_gold_is_lm_evals_target(run: dict[str, Any]) -> None:
    """For minerva_math, bbh and mmlu_pro, ``GOLD`` is the target lm-eval scores against."""
    checked = 0
    for task, gold in hub.GOLD.items():
        if task.startswith(("minerva_math_", "bbh_", "mmlu_pro_")):
            assert [str(s["target"]) for s in run["samples"][task]] == gold, task
            checked += 1
    assert checked == 7 + 27 + 14


def test_mmlu_pro_few_shot_comes_from_validation_of_its_category(run: dict[str, Any]) -> None:
    sample = run["samples"]["mmlu_pro_law"][0]
    prompt = sample["arguments"]["gen_args_0"]["arg_0"]
    assert len(re.findall(r"Synthetic law question 1\d{4}:", prompt)) == 5  # validation ids are 10000+
    assert "The answer is (" in prompt and "biology" not in prompt


def test_repeats(run: dict[str, Any]) -> None:
    """humaneval_64 asks 64 generations per problem and reports pass@k up to 64."""
    assert all(len(s["resps"][0]) == 64 for s in run["samples"]["humaneval_64"])
    assert run["results"]["results"]["humaneval_64"]["pass@64,create_test"] == 0.0  # "lol" is no code
    assert all(len(s["resps"][0]) == 1 for s in run["samples"]["humaneval"])


def test_humaneval_gold_passes_the_code_eval_stand_in(run: dict[str, Any]) -> None:
    """The canonical completions pass their tests under the offline ``code_eval``, "lol" does not."""
    code = (
        "import json, sys, evaluate\n"
        "rows = json.loads(sys.argv[1])\n"
        "m = evaluate.load('code_eval')\n"
        "refs = [r['test'] + '\\ncheck(' + r['entry_point'] + ')' for r in rows]\n"
        "gold = [[r['prompt'] + r['canonical_solution']] for r in rows]\n"
        "good = m.compute(references=refs, predictions=gold, k=[1])\n"
        "bad = m.compute(references=refs, predictions=[[r['prompt'] + 'lol'] for r in rows], k=[1])\n"
        "print(json.dumps([good[0]['pass@1'], bad[0]['pass@1']]))\n"
    )
    args = [sys.executable, "-c", code, json.dumps(hub.HUMANEVAL_ROWS)]
    proc = subprocess.run(args, env=run["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == [1.0, 0.0]


def test_ifeval_compliant_replies_follow_every_instruction(run: dict[str, Any]) -> None:
    """lm-eval's own ifeval scorer gives ``IFEVAL_COMPLIANT`` full marks, strict and loose."""
    import nltk

    nltk.data.path.insert(0, run["env"]["NLTK_DATA"])  # the punkt_tab stub: no download attempt
    from lm_eval.tasks.ifeval import utils

    for row, reply in zip(hub.IFEVAL_ROWS, hub.IFEVAL_COMPLIANT, strict=True):
        scores = utils.process_results(row, [reply])
        assert scores["prompt_level_strict_acc"] and scores["prompt_level_loose_acc"], (row["key"], scores)
        assert not utils.process_results(row, ["lol"])["prompt_level_strict_acc"], row["key"]
