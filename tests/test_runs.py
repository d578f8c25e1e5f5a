"""A folder is one run or it is refused, through the real CLI: ``compare`` refuses a folder of
runs with their list; ``analyze``/``table``/``compare``/``report`` say on stderr which runs
they found; a task with two samples files in one run (lm-eval run again into the same
``--output_path``) is read by document from the newest file, with a warning, the same way
by every command; two run folders of one name stay two runs; checkpoints in numeric order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from testenv import REPO, run_tracecollapse

FIX = REPO / "tests" / "fixtures" / "lm_eval_run"
BASE = next((FIX / "base").glob("samples_*.jsonl"))
OLD = "samples_tc_gsm8k_256_2026-11-23T10-00-00.000000.jsonl"
NEW = "samples_tc_gsm8k_256_2026-11-24T10-00-00.000000.jsonl"


def _rerun(root: Path) -> Path:
    """A run folder where lm-eval ran twice: the older file is the fixture's base (16
    documents, VR 0.5), the newer one re-ran the first 12 documents and every trace is gone."""
    run = root / "rerun"
    run.mkdir(parents=True)
    shutil.copy(BASE, run / OLD)
    lines = [json.loads(x) for x in BASE.read_text().splitlines()][:12]
    for line in lines:
        line["resps"] = [["The answer is " + str(line["target"])]]
        line.update(valid_rate=0.0, empty_rate=0.0, missing_rate=1.0, truncated_rate=0.0)
    (run / NEW).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


def _ok(argv: list[str], tmp: Path) -> tuple[str, str]:
    run = run_tracecollapse(argv, tmp)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, run.stderr


def test_compare_refuses_a_folder_of_runs(tmp_path: Path) -> None:
    run = run_tracecollapse(["tracecollapse", "compare", str(FIX), str(FIX / "base")], tmp_path)
    assert run.returncode == 1 and "paired documents" not in run.stdout
    assert f"the base run {FIX} holds 2 runs (base, finetuned), not one" in run.stderr
    assert "give one run's folder" in run.stderr


def test_a_rerun_task_is_read_by_document_newest_first_everywhere(tmp_path: Path) -> None:
    rerun = _rerun(tmp_path / "out")
    out, err = _ok(["tracecollapse", "analyze", str(rerun.parent)], tmp_path)
    # 16 documents, not 28 lines: 12 from the newer file (all missing), 4 only in the older one
    assert "rerun / tc_gsm8k_256 [answer]: n=16" in out
    old_valid = sum(json.loads(x)["valid_rate"] for x in BASE.read_text().splitlines()[12:])
    assert f"VR {old_valid / 16:.3f}" in out
    assert "1 run:" in err and "rerun" in err
    assert f"run rerun, task tc_gsm8k_256: 2 samples files (lm-eval run again into one folder); each document is " \
           f"read from the newest file that has it ({NEW})" in err  # fmt: skip
    table, err = _ok(["tracecollapse", "table", str(rerun), "--format", "csv"], tmp_path)
    assert table.splitlines()[1].endswith(f",{old_valid / 16:.3f}") and "2 samples files" in err
    compared, err = _ok(["tracecollapse", "compare", str(FIX / "base"), str(rerun)], tmp_path)
    assert "16 paired documents" in compared and "2 samples files" in err
    assert f"VR                       0.500 -> {old_valid / 16:.3f}" in compared
    html = tmp_path / "r.html"
    _, err = _ok(["tracecollapse", "report", str(rerun), "--html", str(html)], tmp_path)
    assert "2 samples files" in err and "1 run:" in err and "16 responses" in html.read_text()


def test_runs_of_one_name_stay_apart_and_checkpoints_are_numeric(tmp_path: Path) -> None:
    """lm-eval names a run folder by the model: two output paths, one model name."""
    for arm in ("a", "b"):
        (tmp_path / arm / "model").mkdir(parents=True)
        shutil.copy(BASE, tmp_path / arm / "model" / BASE.name)
    out, err = _ok(["tracecollapse", "analyze", str(tmp_path / "a"), str(tmp_path / "b")], tmp_path)
    assert [x.split(" / ")[0] for x in out.splitlines() if " / " in x] == ["a/model", "b/model"]
    assert "2 runs:" in err
    for step in (1000, 1500, 2000, 500):
        (tmp_path / "ckpt" / f"checkpoint-{step}").mkdir(parents=True)
        shutil.copy(BASE, tmp_path / "ckpt" / f"checkpoint-{step}" / BASE.name)
    (tmp_path / "ckpt" / "base").mkdir()
    shutil.copy(BASE, tmp_path / "ckpt" / "base" / BASE.name)
    globbed = sorted(str(p) for p in (tmp_path / "ckpt").iterdir())  # base, 1000, 1500, 2000, 500
    out, _ = _ok(["tracecollapse", "analyze", *globbed], tmp_path)
    runs = [x.split(" / ")[0] for x in out.splitlines() if " / " in x]
    assert runs == ["base", "checkpoint-500", "checkpoint-1000", "checkpoint-1500", "checkpoint-2000"]
