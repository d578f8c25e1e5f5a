"""lm-eval's task index read from our cache (issue 32): inside ``tracecollapse eval`` and
:func:`harness.run.task_manager`, lm-eval's ``TaskManager`` gets, for each unchanged folder,
the very entries its own ``TaskIndex.build`` gives (names, kinds, YAML paths, tags, configs,
a later folder's name replacing an earlier one's with lm-eval's warning), without parsing
lm-eval's 14,000 YAMLs again; an edited folder is indexed again; outside the block, and with
an lm-eval whose ``build`` we have not checked, lm-eval's own build runs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testenv import offline_env, seeded_cache

from lm_eval_tracecollapse.harness import compat
from lm_eval_tracecollapse.harness.run import task_manager
from lm_eval_tracecollapse.harness.task_index import entries_file, lm_eval_entries, lm_eval_tasks_dir

_TASK = "dataset_path: json\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"


def _mine(root: Path) -> Path:
    """A folder with a task of its own (tagged), and one that takes lm-eval's name gsm8k."""
    d = root / "mine"
    d.mkdir()
    (d / "mytask.yaml").write_text("task: mytask\ntag: [mytag, math_word_problems]\n" + _TASK)
    (d / "gsm8k.yaml").write_text("task: gsm8k\n" + _TASK)
    return d


def _view(index: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {n: (e.name, e.kind, str(e.yaml_path), e.cfg, sorted(e.tags)) for n, e in index.items()}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = seeded_cache(tmp_path / "cache")
    monkeypatch.setenv("TRACECOLLAPSE_CACHE", str(cache))
    return cache


def test_the_cached_index_is_lm_evals_own(tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._index import TaskIndex

    mine = _mine(tmp_path)
    original = TaskIndex.build
    with caplog.at_level(logging.WARNING, logger="lm_eval.tasks._index"):
        theirs = TaskManager(include_path=[str(mine)])
    their_warnings = [r.getMessage() for r in caplog.records if "overrides" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lm_eval.tasks._index"):
        ours = task_manager([mine])  # ours first, then the folder, as lm-eval orders include paths
        with compat.cached_index_builds(lm_eval_entries) as used:
            assert used and TaskIndex.build is not original
            same_args = TaskManager(include_path=[str(mine)])
    our_warnings = [r.getMessage() for r in caplog.records if "overrides" in r.getMessage()]
    assert TaskIndex.build is original  # restored when the block ends
    assert _view(same_args.task_index) == _view(theirs.task_index)
    assert (same_args.all_tasks, same_args.all_groups, same_args.all_tags, same_args.all_subtasks) == (
        theirs.all_tasks,
        theirs.all_groups,
        theirs.all_tags,
        theirs.all_subtasks,
    )
    # lm-eval's words, also for its quirk: a later folder's tag replaces the earlier one's
    assert their_warnings == [
        f"Task 'gsm8k' from {mine / 'gsm8k.yaml'} overrides existing task from "
        f"{lm_eval_tasks_dir() / 'gsm8k' / 'gsm8k.yaml'}",
        "Task 'math_word_problems' from None overrides existing task from None",
    ]
    assert our_warnings == their_warnings * 2
    assert ours.task_index["gsm8k"].yaml_path == mine / "gsm8k.yaml"
    assert "tc_demo_easy" in ours.all_tasks and "mytask" in ours.task_index["mytag"].tags
    assert entries_file(mine).is_file() and entries_file(lm_eval_tasks_dir()).is_file()


def test_an_edited_folder_is_indexed_again(tmp_path: Path, cache: Path) -> None:
    mine = _mine(tmp_path)
    assert "newtask" not in task_manager([mine], include_defaults=False).all_tasks
    (mine / "newtask.yaml").write_text("task: newtask\n" + _TASK)
    (mine / "mytask.yaml").write_text("task: mytask\ntag: renamed\n" + _TASK)
    tm = task_manager([mine], include_defaults=False)
    assert "newtask" in tm.all_tasks and "renamed" in tm.all_tags and "mytag" not in tm.all_tags


def test_a_relative_folder_keeps_lm_evals_relative_paths(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mine(tmp_path)
    monkeypatch.chdir(tmp_path)
    with compat.cached_index_builds(lm_eval_entries):
        lm_eval_entries(tmp_path / "mine")  # the absolute folder cached first: a separate entry
        from lm_eval.tasks import TaskManager

        tm = TaskManager(include_path="mine", include_defaults=False)
    assert tm.task_index["mytask"].yaml_path == Path("mine/mytask.yaml")


def test_an_unchecked_lm_eval_build_runs_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from lm_eval.tasks._index import TaskIndex

    monkeypatch.setitem(compat.HOOKED, "lm_eval.tasks._index:TaskIndex.build", {"9.9.9": "0" * 16})
    original = TaskIndex.build
    with compat.cached_index_builds(lm_eval_entries) as used:
        assert not used and TaskIndex.build is original


def test_tracecollapse_eval_reads_lm_evals_index_from_the_cache(tmp_path: Path) -> None:
    """A run with the cache seeded parses none of lm-eval's own YAMLs to index them (each
    indexed YAML goes through ``lm_eval.tasks._index.load_yaml``, counted here)."""
    code = (
        "import sys\n"
        "import lm_eval.tasks._index as index\n"
        "parse, seen = index.load_yaml, []\n"
        "def counted(path, *args, **kw):\n"
        "    seen.append(str(path))\n"
        "    return parse(path, *args, **kw)\n"
        "index.load_yaml = counted\n"
        "from lm_eval_tracecollapse.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:-1])\n"
        "finally:\n"
        "    print('indexed', len(seen), sum(p.startswith(sys.argv[-1]) for p in seen), file=sys.stderr)\n"
    )
    cmd = [sys.executable, "-c", code, "eval", "--model", "dummy", "--limit", "1", "--tasks", "tc_demo_easy"]
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(tmp_path / "cache"), TQDM_DISABLE="1")
    run = subprocess.run([*cmd, str(lm_eval_tasks_dir())], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    (counts,) = [line.split()[1:] for line in run.stderr.splitlines() if line.startswith("indexed ")]
    assert int(counts[1]) == 0 and int(counts[0]) < 100, counts  # only our own task_yamls/
    assert "|valid_rate" in run.stdout.replace(" ", "")
