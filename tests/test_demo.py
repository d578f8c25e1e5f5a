"""The demo (the study of studies/tiny_cpu.yaml) at toy size: every stage leaves its artifact,
the table's numbers equal a recomputation from lm-eval's logged samples, the collapse curves
have their shape, a second run does no work; and the committed tables (docs/demo.md,
docs/demo_table.md, docs/demo_results.json) agree with each other and with the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lm_eval_tracecollapse import parse_trace

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_toy_demo(tmp_path: Path) -> None:
    """The demo at toy size: the study of the shipped config (with ``TOY``'s changes) and its summary."""
    from lm_eval_tracecollapse.demo.pipeline import BASE, demo_config, final_runs
    from lm_eval_tracecollapse.demo.results import run

    result = run(tmp_path, size="toy")
    cfg = demo_config(tmp_path, "toy")
    titles = [s.display for s in cfg.strategies]
    tasks = list(cfg.evaluation.tasks)
    assert list(result["table"]) == [BASE, *titles] and (tmp_path / "summary.md").read_text().startswith("`tracecol")
    assert (tmp_path / "figures" / "status.png").stat().st_size > 10_000 and (tmp_path / "report.html").is_file()
    runs = final_runs(cfg)
    assert list(runs) == [BASE, *titles]
    for arm, (checkpoint, folder) in runs.items():
        assert (checkpoint / "config.json").is_file() and (checkpoint / "tokenizer.json").is_file()
        for task in tasks:
            (samples,) = folder.glob(f"samples_{task}_*.jsonl")
            lines = [json.loads(x) for x in samples.read_text().splitlines()]
            assert len(lines) == 4
            row = result["table"][arm][task]
            # recompute VR and pass@1 from the raw responses and the logged scores
            valid = [parse_trace(x["resps"][0][0]).is_valid for x in lines]
            assert row["valid_rate,answer"] == pytest.approx(sum(valid) / len(valid))
            assert row["pass@1,answer"] == pytest.approx(sum(x["exact_match"] for x in lines) / len(lines))
    _check_curves(tmp_path, result["curves"], titles, cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    from lm_eval_tracecollapse.demo.results import markdown

    # (rows hold NaN for undefined Rpass@1, so compare their rendering)
    assert markdown(results["table"]) == result["markdown"] and results["curves"] == result["curves"]
    timing = results["timing"]  # the run time the docs show, from the study's own log (and its CPU seconds)
    assert timing["wall"] > 0 and len(timing["arms"]) == len(titles) and timing["cpu"] > 0
    assert (tmp_path / "summary.md").read_text().rstrip().split("\n")[-1].startswith("Run time of this study")
    assert 'id="tc-curves"' in (tmp_path / "report.html").read_text()  # the page shows the monitor's curves
    # a second run finds the study finished and only summarises it again
    log = (tmp_path / "run_log.jsonl").read_text()
    again = run(tmp_path, size="toy")
    assert (tmp_path / "run_log.jsonl").read_text() == log
    assert again["curves"] == result["curves"] and markdown(again["table"]) == result["markdown"]
    _faithfulness_on_toy_checkpoints(tmp_path)


def _check_curves(out: Path, curves: dict, titles: list[str], cfg: object) -> None:
    saved = json.loads((out / "training_curves.json").read_text())
    assert saved == curves and list(saved) == titles
    steps = cfg.training.max_steps  # type: ignore[attr-defined]
    every = cfg.monitor["every_n_steps"]  # type: ignore[attr-defined]
    held_out = cfg.monitor["held_out"]  # type: ignore[attr-defined]
    for points in saved.values():
        assert [p["step"] for p in points] == list(range(0, steps + 1, every))
        assert points[0] == {**saved[titles[0]][0], "seconds": points[0]["seconds"]}  # step 0: the base each time
        for p in points:
            assert 0.0 <= p["valid_rate"] <= 1.0 and 0.0 <= p["pass@1"] <= 1.0
            assert p["valid_rate"] + p["empty_rate"] + p["missing_rate"] + p["truncated_rate"] == pytest.approx(1.0)
    assert held_out == 4 and (out / "figures" / "training_curves.png").stat().st_size > 10_000


def test_committed_tables_agree() -> None:
    """docs/demo.md's demo block == docs/demo_table.md == the rendering of docs/demo_results.json,
    whose settings are studies/tiny_cpu.yaml's: regenerate with `make demo DEMO_ARGS=--write-docs`."""
    from lm_eval_tracecollapse.demo.pipeline import BASE, demo_config
    from lm_eval_tracecollapse.demo.results import README_BEGIN, README_END, render

    results = json.loads((ROOT / "docs" / "demo_results.json").read_text(encoding="utf-8"))
    block = (ROOT / "docs" / "demo_table.md").read_text(encoding="utf-8")
    assert render(results) + "\n" == block, "docs/demo_table.md is not the rendering of docs/demo_results.json"
    readme = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")
    assert readme.count(README_BEGIN) == 1 and readme.count(README_END) == 1
    shown = readme.split(README_BEGIN)[1].split(README_END)[0]
    assert shown.strip() == block.strip(), "docs/demo.md's demo block differs from docs/demo_table.md"
    cfg = demo_config()
    settings = {k: v for k, v in cfg.to_dict().items() if k != "output_dir"}
    assert results["settings"] == settings, "studies/tiny_cpu.yaml changed: regenerate the docs"
    titles = [s.display for s in cfg.strategies]
    assert list(results["table"]) == [BASE, *titles] and list(results["curves"]) == titles


def _faithfulness_on_toy_checkpoints(out: Path) -> None:
    """The probe measurement's plumbing on the toy checkpoints (which write no valid
    trace themselves): two base answers with valid traces are added, then every
    checkpoint runs the base's probes through lm-eval's ``hf`` model."""
    from lm_eval_tracecollapse.demo.faithfulness import measure
    from lm_eval_tracecollapse.demo.pipeline import BASE

    prompt = "<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"
    line = {"doc_id": 0, "resps": [["<think>\n3+4=7\n</think>\nThe answer is 7."]], "target": "7",
            "arguments": {"gen_args_0": {"arg_0": prompt}}}  # fmt: skip
    extra = out / "eval" / "base" / "added" / "samples_tc_demo_easy_2026-01-01T00-00-00.000000.jsonl"
    extra.parent.mkdir()
    extra.write_text(json.dumps(line) + "\n" + json.dumps({**line, "doc_id": 1}) + "\n")
    results = measure(out, "toy")
    arms = [a for a in results if a != BASE]
    assert list(results) == [BASE, *arms] and len(arms) == 5
    base = results[BASE]
    assert base.own is not None and base.own.sources == 2 and 0.0 <= base.own.aoc <= 1.0
    for arm in arms:
        r = results[arm]
        assert r.base_traces is not None and r.base_traces.sources == 2 and r.base_traces.reference == "full"
        assert r.vs_base is not None and r.vs_base.paired == 2
        assert set(r.base_traces.invariance) == {"early", "filler", "paraphrase"}


def test_unknown_size() -> None:
    from lm_eval_tracecollapse.demo.pipeline import demo_config

    with pytest.raises(ValueError, match="the demo's size is 'small'"):
        demo_config("demo_out", size="huge")
