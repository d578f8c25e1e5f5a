"""The whole task index of the installed lm-eval: every generative task (as lm-eval
builds it: a YAML without output_type is generate_until) and every all-generative
group wraps, lm-eval's own TaskManager indexes every NAME_tc (groups as groups),
nothing is refused that could be wrapped, and no wrapped task keeps a stop string on
generation that can occur inside a trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.harness.task import _read_yaml, split_until
from lm_eval_tracecollapse.harness.task_index import IndexEntry, task_index
from lm_eval_tracecollapse.harness.wrap import write_wrappers

#: stop strings seen in stock tasks that a reasoning trace contains all the time
INSIDE_A_TRACE = {"\n", "\n\n", ".", ",", "Q:", "Question:", "Answer:", "\n\n\n", "Problem:", "</s>\n"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, IndexEntry], Any, Path]:
    index = task_index()
    names = [n for n, e in index.items() if e.kind == "group" or e.output_type == "generate_until"]
    names += [n for n, e in index.items() if e.kind == "py_task"]
    out = tmp_path_factory.mktemp("all_tc")
    return index, write_wrappers(names, out, index=index), out


@pytest.fixture(scope="module")
def lm_eval_index(sweep: tuple[dict[str, IndexEntry], Any, Path]) -> Any:
    """lm-eval's own TaskManager over its tasks and every wrapper written (indexed once)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(sweep[2])])


def _generative_by_lm_eval(tm: Any, out: Path) -> dict[str, bool]:
    """Each stock YAML task lm-eval builds as generate_until -> whether its YAML (includes
    merged) names output_type: lm-eval's own index and TaskConfig's default decide, not ours."""
    from lm_eval.api.task import TaskConfig

    found = {}
    for name, entry in tm.task_index.items():
        if entry.kind.name != "TASK" or out in Path(entry.yaml_path).parents:
            continue
        cfg = entry.cfg or {}
        named = "output_type" in cfg
        if TaskConfig(**({"output_type": cfg["output_type"]} if named else {})).output_type == "generate_until":
            found[name] = named
    return found


def test_every_generative_task_and_group_wraps(
    sweep: tuple[dict[str, IndexEntry], Any, Path], lm_eval_index: Any
) -> None:
    index, result, out = sweep
    # generative as lm-eval builds it: a YAML naming no output_type (LongBench, slr_bench, fld,
    # lingoly, realtoxicityprompts) is TaskConfig's default, generate_until (issue 33)
    truth = _generative_by_lm_eval(lm_eval_index, out)
    tasks = [n for n, e in index.items() if e.kind == "task" and e.output_type == "generate_until"]
    assert sorted(tasks) == sorted(truth)
    defaulted = sorted(n for n, named in truth.items() if not named)
    groups = [n for n, e in index.items() if e.kind == "group"]
    refused_tasks = [n for n in tasks if n in result.refused]
    assert refused_tasks == []  # quoted keys (bbh_cot_zeroshot, mmlu CoT), includes: all read
    assert [n for n in truth if n + "_tc" not in result.written] == []
    wrapped_groups = [g for g in groups if g not in result.refused]
    print(
        f"\nwrapped {len(tasks)} generative tasks ({len(defaulted)} by lm-eval's default output_type) "
        f"and {len(wrapped_groups)} of {len(groups)} groups"
    )
    assert len(tasks) > 4600 and len(defaulted) >= 45 and len(wrapped_groups) > 225
    for must in ("minerva_math", "hendrycks_math", "bbh_cot_zeroshot", "bbh_cot_fewshot", "mmlu_pro", "longbench"):
        assert must in wrapped_groups
    for must in ("longbench_2wikimqa", "slr_bench_basic", "fld_default", "lingoly_context"):
        assert must in defaulted
    # a group is refused only for a member with nothing to trace, or an inline task
    for group in groups:
        if group in result.refused:
            reason = result.refused[group]
            assert "has no generation to trace" in reason or "inline task" in reason, reason
    # Python-class tasks are refused, never wrapped without their class
    for name, entry in index.items():
        if entry.kind == "py_task":
            assert "Python-class task" in result.refused[name]


def test_lm_eval_indexes_every_wrapper(sweep: tuple[dict[str, IndexEntry], Any, Path], lm_eval_index: Any) -> None:
    index, result, _ = sweep
    tm = lm_eval_index
    known = set(tm.all_tasks)
    assert [w for w in result.written if w not in known] == []
    groups = set(tm.all_groups)
    for name in result.written:
        assert (name in groups) == (index[name[: -len("_tc")]].kind == "group"), name


def test_no_wrapped_task_stops_generation_inside_a_trace(sweep: tuple[dict[str, IndexEntry], Any, Path]) -> None:
    index, result, _ = sweep
    moved = 0
    for name in result.written:
        entry = index[name[: -len("_tc")]]
        if entry.kind != "task" or not entry.yaml_path:
            continue
        until = (_read_yaml(Path(entry.yaml_path)).get("generation_kwargs") or {}).get("until")
        keep, answer = split_until(until)
        assert not set(keep) & INSIDE_A_TRACE, (name, keep)
        assert all(s.strip() and not s.strip().isalnum() for s in keep), (name, keep)
        moved += bool(answer)
    print(f"\n{moved} wrapped tasks had stop strings moved from generation to the answer part")
    assert moved > 1000
