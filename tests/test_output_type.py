"""A task's output_type is the one lm-eval builds it with (issue 33): a YAML that names
none is lm-eval's default (``TaskConfig.output_type``, ``generate_until``), one that
inherits it through ``include:`` has the included value, and the task-index cache never
serves an entry read the old way (a missing key as loglikelihood)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testenv import seeded_cache

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.harness import task_index as task_index_module
from lm_eval_tracecollapse.harness.task_index import (
    default_output_type,
    index_file,
    task_index,
)
from lm_eval_tracecollapse.harness.wrap import resolve_wrapped, write_wrappers

_TASK = "dataset_path: json\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"


def _folder(root: Path) -> Path:
    """tgen: no output_type; tmc: multiple_choice from its include; tover: includes it, sets its own."""
    d = root / "mine"
    d.mkdir()
    (d / "_mc_base.yaml").write_text("output_type: multiple_choice\ndoc_to_choice: [a, b]\n")  # no task: not indexed
    (d / "tgen.yaml").write_text("task: tgen\n" + _TASK)
    (d / "tmc.yaml").write_text("include: _mc_base.yaml\ntask: tmc\n" + _TASK)
    (d / "tover.yaml").write_text("include: _mc_base.yaml\ntask: tover\noutput_type: generate_until\n" + _TASK)
    return d


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$TRACECOLLAPSE_CACHE`` holding lm-eval's own index from the shared cache (the
    sweep's and the doctests'), so no test indexes lm-eval's 14,000 YAMLs again."""
    cache = seeded_cache(tmp_path / "cache")
    monkeypatch.setenv("TRACECOLLAPSE_CACHE", str(cache))
    return cache


def test_the_default_is_lm_evals_own() -> None:
    from lm_eval.api.task import TaskConfig

    assert default_output_type() == TaskConfig().output_type == "generate_until"


def test_index_reads_the_effective_output_type(tmp_path: Path, cache: Path) -> None:
    index = task_index([_folder(tmp_path)], include_defaults=False)
    got = {n: index[n].output_type for n in ("tgen", "tmc", "tover")}
    assert got == {"tgen": "generate_until", "tmc": "multiple_choice", "tover": "generate_until"}
    result = write_wrappers(["tgen", "tmc", "tover"], tmp_path / "out", index=index)
    assert result.written == ["tgen_tc", "tover_tc"]
    assert result.refused == {
        "tmc": "tmc: a multiple_choice task has no generation to trace (trace metrics need output_type: generate_until)"
    }


def test_an_entry_cached_the_old_way_is_not_served(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _folder(tmp_path)
    with monkeypatch.context() as m:  # the index as format 3 cached it: a missing key read as None
        m.setattr(task_index_module, "_FORMAT", 3)
        old = index_file(d)
        task_index([d], include_defaults=False)
    data = json.loads(old.read_text())
    data["tgen"]["output_type"] = None
    old.write_text(json.dumps(data))
    assert index_file(d) != old
    assert task_index([d], include_defaults=False)["tgen"].output_type == "generate_until"


def test_wrap_and_tc_names_wrap_a_task_without_output_type(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _folder(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["wrap", "tgen", "tmc", "longbench_2wikimqa", "--out", str(out), "--include_path", str(d)])
    assert exc.value.code == 1
    printed = capsys.readouterr()
    assert printed.out.startswith(f"wrapped 2 of 3 into {out}")
    assert "tmc: a multiple_choice task has no generation to trace" in printed.err
    assert sorted(p.name for p in out.iterdir()) == ["longbench_2wikimqa_tc.yaml", "tgen_tc.yaml"]
    folder, result = resolve_wrapped(["tgen_tc", "longbench_2wikimqa_tc", "tover_tc"], [str(d)])
    assert folder is not None and result is not None
    assert result.written == ["tgen_tc", "longbench_2wikimqa_tc", "tover_tc"]
    with pytest.raises(ValueError, match=r"^cannot wrap: tmc: a multiple_choice task has no generation to trace"):
        resolve_wrapped(["tmc_tc"], [str(d)])


def test_lm_evals_longbench_tasks_are_generative(cache: Path) -> None:
    """LongBench (v1, `longbench_*`) YAMLs name no output_type: every task of it wraps, and its group."""
    index = task_index()
    longbench = [n for n, e in index.items() if n.startswith("longbench_") and e.kind == "task"]
    assert len(longbench) >= 30 and "longbench_2wikimqa" in longbench
    assert {index[n].output_type for n in longbench} == {"generate_until"}
    result = write_wrappers([*longbench, "longbench"], cache / "lb", index=index)
    assert result.refused == {}
    assert "longbench_tc" in result.written
