"""The demo pipeline at toy size: every stage leaves its artifact, and the table's
numbers equal a recomputation from lm-eval's logged samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lm_eval_tracecollapse import parse_trace

pytestmark = pytest.mark.slow


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
    # a second run reuses the cached checkpoints
    again = run(tmp_path, size="toy")
    assert again["paths"] == result["paths"]
    _faithfulness_on_toy_checkpoints(tmp_path)


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


def test_unknown_size(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.demo.pipeline import run

    with pytest.raises(ValueError, match="DEMO_SIZE must be one of"):
        run(tmp_path, size="huge")
