"""Your own task plus ``_tc`` with a relative ``--include_path``, through the real CLI run
in the folder that holds ``mytasks/`` (the README's second use): the relative and the
absolute folder, cached or not, give the same table, and the wrapper ``tracecollapse wrap
--out`` writes runs with the command it prints, from where it was printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testenv import json_task_yaml, offline_env, seeded_cache

# valid right, empty right, missing wrong
REPLIES = ["<think>6*7 = 42.</think>#### 42", "<think>\n</think>#### 7", "#### 5"]
GOLDS = ["42", "7", "4"]


def _folder(root: Path) -> None:
    (root / "mytasks").mkdir()
    data = root / "mytasks" / "data.jsonl"
    data.write_text("".join(json.dumps({"q": f"q{i}", "a": g}) + "\n" for i, g in enumerate(GOLDS)))
    (root / "mytasks" / "mytask.yaml").write_text(json_task_yaml("mytask", data))
    (root / "replay.jsonl").write_text("".join(json.dumps({"doc_id": i, "response": r}) + "\n"
                                               for i, r in enumerate(REPLIES)))  # fmt: skip


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``tracecollapse ARGV`` (or ``lm_eval`` when ARGV starts with it) run in ``root``."""
    if argv[0] == "lm_eval":
        cmd = [str(Path(sys.executable).parent / "lm_eval"), *argv[1:]]
    else:
        cmd = [sys.executable, "-m", "lm_eval_tracecollapse", *argv]
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(root / "cache"), TQDM_DISABLE="1")
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _rows(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("|") and "strict-match" in line]
    assert rows, run.stdout[-2000:]
    return [line.split("|", 2)[2] for line in rows]  # without the task name column


@pytest.mark.slow
def test_relative_and_absolute_include_path_cached_or_not(tmp_path: Path) -> None:
    _folder(tmp_path)
    replay = ("--model", "tc_replay", "--model_args", "path=replay.jsonl")
    relative = _rows(_run(tmp_path, "eval", *replay, "--include_path", "mytasks", "--tasks", "mytask_tc"))
    assert any("valid_rate" in r and "0.3333" in r for r in relative)
    assert any("exact_match" in r and "0.6667" in r for r in relative)
    # the same folder as an absolute path, with the index cached by the relative run
    absolute = _rows(_run(tmp_path, "eval", *replay, "--include_path", str(tmp_path / "mytasks"), "--tasks",
                          "mytask_tc"))  # fmt: skip
    assert absolute == relative
    # the wrapper `wrap` writes, run with the commands it prints (where it printed them)
    wrap = _run(tmp_path, "wrap", "mytask", "--include_path", "mytasks", "--out", "my_tc")
    assert wrap.returncode == 0, wrap.stderr
    assert "tracecollapse eval --include_path my_tc --tasks mytask_tc" in wrap.stdout
    wrapped = _rows(_run(tmp_path, "eval", *replay, "--include_path", "my_tc", "--tasks", "mytask_tc"))
    assert wrapped == relative
    bare = _rows(_run(tmp_path, "lm_eval", *replay, "--tasks", os.path.join("my_tc", "mytask_tc.yaml")))
    assert bare == relative
