"""Data-parallel lm-eval runs give the rows of one process.

Two processes under ``torch.distributed.run`` (gloo, CPU): lm-eval gives each rank
every other document (``build_all_requests(rank=…, world_size=…)``), pads the shorter
rank, runs ``tc_replay`` (which joins the process group and implements lm-eval's
``all_gather``/``gather_object``/``barrier``) and gathers the per-document metrics on
rank 0 by pickling — lm-eval's real gathering code, compared row by row and stderr by
stderr with a one-process run of the same saved generations.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from testenv import offline_env

from lm_eval_tracecollapse.paper_data import chemistry_256, gsm8k_256

pytestmark = pytest.mark.slow

LIMIT = 9  # odd: the ranks get 5 and 4 documents, so lm-eval pads rank 1


def _lines() -> list[dict]:
    """Saved generations: tc_gsm8k_256 has no valid trace at all (rpass@1 N/A);
    tc_chemistry_256's valid traces are all on odd doc_ids (rank 1 of 2); tc_demo_easy
    mixes every status, right and wrong."""
    lines = []
    gsm = gsm8k_256()["test"]
    for i in range(LIMIT):
        answer = gsm[i]["answer"] if i % 3 else "0"
        text = f"The answer is {answer}." if i % 2 else f"<think></think>The answer is {answer}."
        lines.append({"task": "tc_gsm8k_256", "doc_id": i, "response": text})
    chem = chemistry_256()["test"]
    for i in range(LIMIT):
        letter = chem[i]["answer"] if i % 4 != 1 else "A" if chem[i]["answer"] != "A" else "B"
        text = f"<think>Consider option {letter}.</think>{letter}" if i % 2 else letter
        lines.append({"task": "tc_chemistry_256", "doc_id": i, "response": text})
    from lm_eval_tracecollapse.builtin.data import eval_items

    easy = eval_items("easy", n=LIMIT)["test"]
    shapes = [
        "<think>{q}</think>The answer is {a}.",
        "<think>{q}</think>The answer is 0.",
        "The answer is {a}.",
        "<think></think>The answer is {a}.",
        "<think>{q} is about",
    ]
    for i in range(LIMIT):
        item = easy[i]
        text = shapes[i % len(shapes)].format(q=item["question"], a=item["answer"])
        lines.append({"task": "tc_demo_easy", "doc_id": i, "response": text})
    # rep_tc (repeats: 4, the @k rows): four responses per document, statuses and answers mixed
    reps = ["<think>w</think>#### 4", "#### 4", "<think>w</think>#### 5", "#### 5", "<think>w"]
    for i in range(LIMIT):
        for j in range(4):
            lines.append({"task": "rep_tc", "doc_id": i, "response": reps[(i + j * (i % 3 + 1)) % len(reps)]})
    return lines


def _rep_task(tmp: Path) -> Path:
    """A local task with repeats: 4 (its _tc wrapper is built on the fly)."""
    from testenv import EXACT_MATCH, STRICT_MATCH, json_task_yaml

    data = tmp / "rep.jsonl"
    data.write_text("".join(json.dumps({"q": f"q{i}", "a": "4"}) + "\n" for i in range(LIMIT)))
    folder = tmp / "rep_tasks"
    folder.mkdir()
    (folder / "rep.yaml").write_text(json_task_yaml("rep", data, filters=STRICT_MATCH, metrics=EXACT_MATCH,
                                                    extra="repeats: 4\n"))  # fmt: skip
    return folder


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(tmp: Path, name: str, procs: int) -> dict:
    saved = tmp / "gens.jsonl"
    out = tmp / name
    args = [
        "eval",
        "--model",
        "tc_replay",
        "--model_args",
        f"path={saved}",
        "--tasks",
        "tc_paper,tc_demo_easy,rep_tc",
        "--include_path",
        str(tmp / "rep_tasks"),
        "--limit",
        str(LIMIT),
        "--metadata",
        json.dumps({"n": LIMIT}),
        "--output_path",
        str(out),
        "--log_samples",
    ]
    if procs == 1:
        cmd = [sys.executable, "-m", "lm_eval_tracecollapse", *args]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={procs}",
            "--master_addr=127.0.0.1",
            f"--master_port={_port()}",
            "-m",
            "lm_eval_tracecollapse",
            *args,
        ]
    env = offline_env(OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    if procs > 1:  # lm-eval really sharded the documents over two ranks
        log = proc.stdout + proc.stderr
        assert "Building contexts for tc_demo_easy on rank 1" in log, log[-3000:]
    (results,) = out.rglob("results_*.json")
    return {"results": json.loads(results.read_text()), "samples": sorted(out.rglob("samples_*.jsonl"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("dp")
    (tmp / "gens.jsonl").write_text("".join(json.dumps(line) + "\n" for line in _lines()))
    _rep_task(tmp)
    return _run(tmp, "one", 1), _run(tmp, "two", 2)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


def test_every_row_and_stderr_equals_one_process(runs: tuple[dict, dict]) -> None:
    one, two = (r["results"]["results"] for r in runs)
    assert set(one) == set(two) == {"tc_paper", "tc_gsm8k_256", "tc_chemistry_256", "tc_demo_easy", "rep_tc"}
    assert {"pass@4,strict-match", "maj@2,strict-match", "rpass@2,strict-match"} <= set(one["rep_tc"])
    for task, row in one.items():
        keys = [k for k in row if "," in k]
        assert any(k.startswith("rpass@1,") for k in keys), (task, keys)
        for key in keys:
            assert _same(row[key], two[task][key]), (task, key, row[key], two[task][key])
        assert set(keys) == {k for k in two[task] if "," in k}, task


def test_no_valid_trace_is_na_and_valid_on_one_rank_counts(runs: tuple[dict, dict]) -> None:
    for run in runs:
        rows = run["results"]["results"]
        # no valid trace in any process: N/A (NaN in the JSON), no crash
        assert math.isnan(rows["tc_gsm8k_256"]["rpass@1,answer"])
        assert rows["tc_gsm8k_256"]["valid_rate,answer"] == 0.0
        # every valid trace on rank 1 (odd doc_ids): counted, not N/A
        chem = rows["tc_chemistry_256"]
        assert chem["valid_rate,answer"] == pytest.approx(4 / 9)
        assert chem["rpass@1,answer"] == pytest.approx(2 / 4)  # doc 1 and 5 answer wrong
        # group row (macro average over the two tasks, weight_by_size: false): the N/A task adds nothing
        assert rows["tc_paper"]["rpass@1,answer"] == pytest.approx(0.5)
        easy = rows["tc_demo_easy"]
        assert easy["valid_rate,answer"] == pytest.approx(4 / 9)  # docs 0, 1, 5, 6
        assert easy["rpass@1,answer"] == pytest.approx(2 / 4)
        assert easy["truncated_rate,answer"] == pytest.approx(1 / 9)


def test_logged_samples_are_the_same_documents(runs: tuple[dict, dict]) -> None:
    def docs(run: dict) -> dict[str, list[tuple[int, str]]]:
        out = {}
        for path in run["samples"]:
            recs = [json.loads(line) for line in path.read_text().splitlines()]
            out[path.name.split("_20")[0]] = sorted((r["doc_id"], r["filter"], json.dumps(r["resps"])) for r in recs)
        return out

    one, two = docs(runs[0]), docs(runs[1])
    assert one == two and len(one) == 4
    # padding (rank 1 ran 5 requests for 4 documents) gave no document another response (rep_tc: its 4)
    assert all(len(json.loads(r)[0]) == (4 if name == "samples_rep_tc" else 1)
               for name, rows in one.items() for _, _, r in rows)  # fmt: skip
