"""The demo pipeline at toy size: every stage leaves its artifact, the table's numbers
equal a recomputation from lm-eval's logged samples, the collapse curves have their
shape; and the committed tables (docs/demo.md, docs/demo_table.md, docs/demo_results.json)
agree with each other and with the code's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lm_eval_tracecollapse import parse_trace

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_toy_demo(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.demo.pipeline import ARMS, TASKS, run

    result = run(tmp_path, size="toy")
    assert (tmp_path / "table.md").read_text().startswith("| checkpoint | items |")
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    assert len(result["paths"]) == 1 + len(ARMS)
    for arm, path in result["paths"].items():
        assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
        for task in TASKS:
            (samples,) = (tmp_path / "lm_eval" / path.name).glob(f"*/samples_{task}_*.jsonl")
            lines = [json.loads(x) for x in samples.read_text().splitlines()]
            assert len(lines) == 4
            row = result["table"][arm][task]
            # recompute VR and pass@1 from the raw responses and the logged scores
            valid = [parse_trace(x["resps"][0][0]).is_valid for x in lines]
            assert row["valid_rate,answer"] == pytest.approx(sum(valid) / len(valid))
            assert row["pass@1,answer"] == pytest.approx(sum(x["exact_match"] for x in lines) / len(lines))
    _check_curves(tmp_path, result["curves"])
    results = json.loads((tmp_path / "results.json").read_text())
    from lm_eval_tracecollapse.demo.results import markdown

    # (rows hold NaN for undefined Rpass@1, so compare their rendering)
    assert markdown(results["table"]) == result["markdown"] and results["curves"] == result["curves"]
    # a second run reuses the cached checkpoints and their curves
    again = run(tmp_path, size="toy")
    assert again["paths"] == result["paths"]
    assert again["curves"] == result["curves"]
    _faithfulness_on_toy_checkpoints(tmp_path)


def _check_curves(out: Path, curves: dict) -> None:
    from lm_eval_tracecollapse.demo.pipeline import ARMS, SIZES

    size = SIZES["toy"]
    saved = json.loads((out / "training_curves.json").read_text())
    assert saved == curves and list(saved) == list(ARMS)
    expected_steps = [0, *range(size.every, size.sft_steps + 1, size.every)]
    for points in saved.values():
        assert [p["step"] for p in points] == expected_steps
        assert points[0] == saved["sft: answer only"][0]  # step 0 is the base, measured once
        for p in points:
            assert 0.0 <= p["valid_rate"] <= 1.0 and 0.0 <= p["pass@1"] <= 1.0 and p["n"] == size.monitor_items
            assert p["valid_rate"] + p["empty_rate"] + p["missing_rate"] + p["truncated_rate"] == pytest.approx(1.0)
    assert (out / "curves.png").stat().st_size > 10_000


def test_committed_tables_agree() -> None:
    """docs/demo.md's demo block == docs/demo_table.md == the rendering of docs/demo_results.json,
    whose settings are the code's: regenerate with `python -m lm_eval_tracecollapse.demo --write-docs`."""
    from dataclasses import asdict

    from lm_eval_tracecollapse.demo.pipeline import ARMS, BASE, SIZES
    from lm_eval_tracecollapse.demo.results import README_BEGIN, README_END, render

    results = json.loads((ROOT / "docs" / "demo_results.json").read_text(encoding="utf-8"))
    block = (ROOT / "docs" / "demo_table.md").read_text(encoding="utf-8")
    assert render(results) + "\n" == block, "docs/demo_table.md is not the rendering of docs/demo_results.json"
    readme = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")
    assert readme.count(README_BEGIN) == 1 and readme.count(README_END) == 1
    shown = readme.split(README_BEGIN)[1].split(README_END)[0]
    assert shown.strip() == block.strip(), "docs/demo.md's demo block differs from docs/demo_table.md"
    assert results["settings"] == asdict(SIZES[results["size"]]), "the demo's settings changed: regenerate the docs"
    assert list(results["table"]) == [BASE, *ARMS] and list(results["curves"]) == list(ARMS)


def _faithfulness_on_toy_checkpoints(out: Path) -> None:
    """The probe measurement's plumbing on the toy checkpoints (which write no valid
    trace themselves): two base answers with valid traces are added, then every
    checkpoint runs the base's probes through lm-eval's ``hf`` model."""
    from lm_eval_tracecollapse.demo.faithfulness import measure
    from lm_eval_tracecollapse.demo.pipeline import ARMS, BASE

    prompt = "<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"
    line = {"doc_id": 0, "resps": [["<think>\n3+4=7\n</think>\nThe answer is 7."]], "target": "7",
            "arguments": {"gen_args_0": {"arg_0": prompt}}}  # fmt: skip
    extra = out / "lm_eval" / "base" / "added" / "samples_tc_demo_easy_2026-01-01T00-00-00.000000.jsonl"
    extra.parent.mkdir()
    extra.write_text(json.dumps(line) + "\n" + json.dumps({**line, "doc_id": 1}) + "\n")
    results = measure(out, "toy")
    assert list(results) == [BASE, *ARMS]
    base = results[BASE]
    assert base.own is not None and base.own.sources == 2 and 0.0 <= base.own.aoc <= 1.0
    for arm in ARMS:
        r = results[arm]
        assert r.base_traces is not None and r.base_traces.sources == 2 and r.base_traces.reference == "full"
        assert r.vs_base is not None and r.vs_base.paired == 2
        assert set(r.base_traces.invariance) == {"early", "filler", "paraphrase"}


@pytest.mark.slow
def test_unknown_size(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.demo.pipeline import run

    with pytest.raises(ValueError, match="DEMO_SIZE must be one of"):
        run(tmp_path, size="huge")
