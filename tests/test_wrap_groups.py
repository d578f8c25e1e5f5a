"""Any task, group or tag as NAME_tc: a user's own group wrapped on the fly through the
real CLI and through simple_evaluate, every row checked against hand-computed values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testenv import json_task_yaml, offline_env, replay_eval, seeded_cache

from lm_eval_tracecollapse.harness.wrap import write_wrappers

# ta: valid right, valid wrong, missing right  |  tb: empty right, truncated, missing wrong
REPLIES = {
    "ta": ["<think>2+2.\nIs 4.</think>#### 4", "<think>3+3.\nIs 5?</think>#### 5", "#### 6"],
    "tb": ["<think>\n</think>#### 1", "<think>Let me see.\nHmm", "#### 9"],
}
GOLD = {"ta": ["4", "6", "6"], "tb": ["1", "2", "3"]}


def _user_dir(root: Path, repeats: int = 1) -> Path:
    d = root / "mine"
    d.mkdir()
    for name in ("ta", "tb"):
        data = d / f"{name}.jsonl"
        data.write_text("".join(json.dumps({"q": f"{name} {i}", "a": g}) + "\n" for i, g in enumerate(GOLD[name])))
        extra = f"repeats: {repeats}\n" if repeats > 1 else ""
        # ta stops at newlines, as triviaqa-style tasks do: the trace must still run
        until = '["\\n"]' if name == "ta" else "[]"
        (d / f"{name}.yaml").write_text(
            json_task_yaml(name, data, generation=f"{{until: {until}, do_sample: false}}", extra=extra)
        )
    (d / "usub.yaml").write_text("group: usub\ntask: [tb]\n")  # no aggregate_metric_list
    (d / "ug.yaml").write_text(
        "group: ug\ntask: [ta, usub]\naggregate_metric_list:\n"
        "  - {metric: exact_match, aggregation: mean, weight_by_size: true, filter_list: strict-match}\n"
    )
    return d


def _replies(root: Path, repeats: int = 1) -> Path:
    path = root / "gens.jsonl"
    lines = [
        {"task": f"{name}_tc", "doc_id": i, "response": r}
        for name, rs in REPLIES.items()
        for i, r in enumerate(rs)
        for _ in range(repeats)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _results(out: Path) -> dict[str, Any]:
    [path] = list(out.rglob("results_*.json"))
    return json.loads(path.read_text())["results"]


def _check(res: dict[str, Any]) -> None:
    ta, tb, ug, usub = (res[n] for n in ("ta_tc", "tb_tc", "ug_tc", "usub_tc"))
    f = ",strict-match"
    assert ta["valid_rate" + f] == pytest.approx(2 / 3) and ta["missing_rate" + f] == pytest.approx(1 / 3)
    assert ta["pass@1" + f] == pytest.approx(2 / 3) and ta["exact_match" + f] == pytest.approx(2 / 3)
    assert ta["rpass@1" + f] == pytest.approx(0.5)
    assert tb["empty_rate" + f] == tb["truncated_rate" + f] == tb["missing_rate" + f] == pytest.approx(1 / 3)
    assert math.isnan(tb["rpass@1" + f])  # N/A: no valid trace, never 0
    # group rows: lm-eval's own exact_match untouched, ours pooled over responses
    assert ug["exact_match" + f] == pytest.approx(0.5)
    assert ug["valid_rate" + f] == pytest.approx(2 / 6) and ug["pass@1" + f] == pytest.approx(3 / 6)
    assert ug["rpass@1" + f] == pytest.approx(0.5)  # pooled over valid responses: tb has none
    assert ug["valid_rate_stderr" + f] != "N/A"
    # a group without aggregate_metric_list still gets our rows
    assert usub["valid_rate" + f] == 0.0 and math.isnan(usub["rpass@1" + f])


def test_cli_wraps_a_users_group_on_the_fly(tmp_path: Path) -> None:
    mine, gens = _user_dir(tmp_path), _replies(tmp_path)
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", "--model", "tc_replay"]
    cmd += ["--model_args", f"path={gens}", "--include_path", str(mine), "--tasks", "ug_tc"]
    cmd += ["--output_path", str(tmp_path / "out")]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    _check(_results(tmp_path / "out"))
    assert "ug_tc" in run.stdout and "rpass@1" in run.stdout


def test_simple_evaluate_with_written_wrappers(tmp_path: Path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    mine, gens = _user_dir(tmp_path), _replies(tmp_path)
    result = write_wrappers(["ug"], tmp_path / "wrapped", include_path=[mine])
    assert result.written == ["ug_tc"] and not result.refused
    tm = TaskManager(include_path=[str(mine), str(tmp_path / "wrapped")])
    assert "ug_tc" in tm.all_groups and "ta_tc" in tm.all_subtasks
    res = simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=["ug_tc"], task_manager=tm)
    _check(res["results"])


def test_repeats_rates_per_response(tmp_path: Path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    mine = _user_dir(tmp_path, repeats=2)
    path = tmp_path / "gens.jsonl"
    # ta doc 0: one valid right + one missing right; others: the same reply twice
    lines = []
    for name, rs in REPLIES.items():
        for i, r in enumerate(rs):
            second = "#### 4" if (name, i) == ("ta", 0) else r
            lines += [{"task": f"{name}_tc", "doc_id": i, "response": x} for x in (r, second)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    write_wrappers(["ug"], tmp_path / "wrapped", include_path=[mine])
    tm = TaskManager(include_path=[str(mine), str(tmp_path / "wrapped")])
    res = simple_evaluate(model="tc_replay", model_args=f"path={path}", tasks=["ta_tc"], task_manager=tm)
    ta = res["results"]["ta_tc"]
    f = ",strict-match"
    assert ta["valid_rate" + f] == pytest.approx(3 / 6) and ta["missing_rate" + f] == pytest.approx(3 / 6)
    assert ta["pass@1" + f] == pytest.approx(4 / 6)
    assert ta["rpass@1" + f] == pytest.approx(1 / 3)  # valid responses: right, wrong, wrong


def test_wrap_refuses_what_has_no_generation(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["wrap", "gsm8k", "hellaswag", "squadv2", "--out", str(tmp_path)])
    assert exc.value.code == 1
    assert (tmp_path / "gsm8k_tc.yaml").is_file() and not (tmp_path / "hellaswag_tc.yaml").exists()


def test_analyze_agrees_with_lm_eval_on_repeats_and_every_pipeline(tmp_path: Path) -> None:
    """`tracecollapse analyze` on the samples of a repeats run with two pipelines gives
    lm-eval's own table, row for row."""
    from lm_eval_tracecollapse.report import analyze

    mine = _user_dir(tmp_path, repeats=3)
    text = (mine / "ta.yaml").read_text()
    second = (
        '  - name: last-number\n    filter:\n      - {function: regex, regex_pattern: "(\\\\d+)", group_select: -1}\n'
    )
    (mine / "ta.yaml").write_text(text.replace("metric_list:", second + "      - {function: take_first}\nmetric_list:"))
    path = tmp_path / "gens.jsonl"
    mix = ["<think>a</think>#### 4", "#### 4", "<think>b"]  # valid right, missing right, truncated
    lines = [
        {"task": "ta_tc", "doc_id": i, "response": r if i == 0 else rs[i]}
        for i in range(3)
        for r, rs in zip(mix, [REPLIES["ta"]] * 3, strict=True)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    replay_eval(path, mine, "ta_tc", tmp_path)
    row = _results(tmp_path / "out")["ta_tc"]
    summaries, _ = analyze([tmp_path / "out"], progress=False)
    assert {s.pipeline for s in summaries} == {"strict-match", "last-number"}
    for s in summaries:
        f = "," + s.pipeline
        for rate in ("valid", "empty", "missing", "truncated"):
            assert s.rates[rate].value == pytest.approx(row[f"{rate}_rate{f}"]), (s.pipeline, rate)
        assert s.rates["answer"].value == pytest.approx(row["answer_rate" + f])
        assert s.pass_at_1 is not None and s.pass_at_1.value == pytest.approx(row["pass@1" + f])
        assert s.rpass_at_1 is not None and s.rpass_at_1.value == pytest.approx(row["rpass@1" + f])
    strict = next(s for s in summaries if s.pipeline == "strict-match")
    # doc 0: valid, missing, truncated; doc 1: valid x3; doc 2: missing x3
    assert strict.rates["valid"].value == pytest.approx(4 / 9)
    assert row["truncated_rate,strict-match"] == pytest.approx(1 / 9)


def test_a_tag_wraps_as_a_tag(tmp_path: Path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    mine, gens = _user_dir(tmp_path), _replies(tmp_path)
    for name in ("ta", "tb"):
        path = mine / f"{name}.yaml"
        path.write_text(path.read_text().replace("metadata:", "tag: utag\nmetadata:"))
    result = write_wrappers(["utag"], tmp_path / "wrapped", include_path=[mine])
    assert result.written == ["utag_tc"]
    tm = TaskManager(include_path=[str(mine), str(tmp_path / "wrapped")])
    assert "utag_tc" in tm.all_tags
    res = simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=["utag_tc"], task_manager=tm)
    assert res["results"]["ta_tc"]["valid_rate,strict-match"] == pytest.approx(2 / 3)
    assert res["results"]["tb_tc"]["valid_rate,strict-match"] == 0.0


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", "--model", "tc_replay", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_your_include_path_and_ours_work_together(tmp_path: Path) -> None:
    mine = _user_dir(tmp_path)
    gens = tmp_path / "gens.jsonl"
    lines = [{"task": "ta", "doc_id": 0, "response": "#### 4"}]
    lines.append({"task": "tc_gsm8k_256", "doc_id": 0, "response": "<think>x</think>The answer is 18."})
    gens.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out"
    run = _cli(
        tmp_path,
        *("--model_args", f"path={gens}", "--include_path", str(mine), "--tasks", "ta,tc_gsm8k_256"),
        *("--limit", "1", "--output_path", str(out)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    res = _results(out)
    assert res["ta"]["exact_match,strict-match"] == 1.0  # yours
    assert res["tc_gsm8k_256"]["valid_rate,answer"] == 1.0  # ours, on the same path


def test_a_missing_package_is_one_line(tmp_path: Path) -> None:
    mine = _user_dir(tmp_path)
    (mine / "utils.py").write_text("import nosuchpkg_tc_xyz\n\n\ndef results(doc, results):\n    return {}\n")
    path = mine / "ta.yaml"
    path.write_text(path.read_text().replace("metadata:", "process_results: !function utils.results\nmetadata:"))
    run = _cli(tmp_path, "--model_args", f"path={_replies(tmp_path)}", "--include_path", str(mine), "--tasks", "ta_tc")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-2]
    assert last.startswith("tracecollapse eval: task ta_tc needs the Python package nosuchpkg_tc_xyz"), last
    assert 'pip install "nosuchpkg_tc_xyz"' in last


def test_a_bad_option_is_one_line_before_any_request(tmp_path: Path) -> None:
    mine, gens = _user_dir(tmp_path), _replies(tmp_path)
    args = ("--model_args", f"path={gens}", "--include_path", str(mine), "--tasks", "ta_tc")
    run = _cli(tmp_path, *args, "--metadata", '{"tc_fmt": "nosuch"}')
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "unknown reasoning format 'nosuch'" in run.stderr
    assert "Requesting API" not in run.stderr and "it/s" not in run.stderr  # refused before generation
