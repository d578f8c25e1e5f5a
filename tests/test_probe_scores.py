"""tc_probe through lm-eval: a model paraphraser, saved probe files, the 'full' reference,
and faithfulness deltas in ``tracecollapse analyze`` / ``compare`` (issue 10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.probes import Probe, build_probes, compare_probes, score_probe_run, write_probes

pytestmark = pytest.mark.slow

TRACE = "<think>Add 2. Then 2 more. So 4. Check.</think>4"


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "run.jsonl"
    rows = [{"doc_id": i, "prompt": f"Q{i}: 2+2?", "response": TRACE, "target": "4"} for i in range(3)]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return src


def _run_probes(tmp_path: Path, name: str, metadata: dict[str, Any], answer: Callable[[Probe], str]) -> Path:
    """Run tc_probe with tc_replay answering ``answer(probe)``; save lm-eval's samples
    under ``<tmp>/probe_out/<name>`` as lm-eval's tracker lays them out."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401
    from lm_eval_tracecollapse.locations import task_yamls_dir
    from lm_eval_tracecollapse.probes import probe_dataset

    fields = Probe.__dataclass_fields__
    probes = [Probe(**{k: v for k, v in row.items() if k in fields}) for row in probe_dataset(**metadata)["test"]]
    replay = tmp_path / f"answers_{name}.jsonl"
    replay.write_text("\n".join(json.dumps({"prompt": p.prompt, "response": answer(p)}) for p in probes) + "\n")
    tm = TaskManager(include_path=str(task_yamls_dir() / "probe"), include_defaults=False, metadata=metadata)
    res = simple_evaluate(model="tc_replay", model_args=f"path={replay}", tasks=["tc_probe"], task_manager=tm)
    out = tmp_path / "probe_out" / name
    out.mkdir(parents=True)
    lines = [json.dumps(x, default=str) for x in res["samples"]["tc_probe"]]
    (out / "samples_tc_probe_2026-01-01T00-00-00.000000.jsonl").write_text("\n".join(lines) + "\n")
    return out


def _faithful(p: Probe) -> str:  # right only with at least half of the trace
    return "4" if p.k >= 50 or p.kind != "early" else "5"


def test_paraphrase_model_via_metadata_and_saved_probe_files(tmp_path: Path) -> None:
    src = _source(tmp_path)
    para = tmp_path / "para.jsonl"
    from lm_eval_tracecollapse.probes.paraphrase import DEFAULT_PROMPT

    steps = ["Add 2.", "Then 2 more.", "So 4.", "Check."]
    para.write_text("\n".join(json.dumps({"prompt": DEFAULT_PROMPT.replace("{step}", s), "response": s.upper()})
                              for s in steps) + "\n")  # fmt: skip
    meta = {"source": str(src), "paraphrase_model": "tc_replay", "paraphrase_model_args": f"path={para}"}
    run = _run_probes(tmp_path, "model_para", meta, _faithful)
    [rec] = [json.loads(x) for x in next(run.glob("*.jsonl")).read_text().splitlines()
             if '"paraphrase"' in x and '"k": 0,' in x and '"doc_id": 0,' in x][:1]  # fmt: skip
    assert rec["doc"]["prompt"].endswith("<think>ADD 2. THEN 2 MORE. SO 4. CHECK.</think>")
    assert rec["doc"]["paraphraser"] == "model:tc_replay"
    # the same probes written once by `tracecollapse probe`, then run from the file
    from lm_eval_tracecollapse.cli import main

    out = tmp_path / "probes.jsonl"
    main(["probe", str(src), "--out", str(out), "--paraphrase-model", "tc_replay",
          "--paraphrase-model-args", f"path={para}", "--ks", "0,50,100"])  # fmt: skip
    saved = _run_probes(tmp_path, "from_file", {"probes": str(out)}, _faithful)
    [score] = score_probe_run([saved])
    # invariance over k = 0, 50, 100: 0, 1, 1 -> AOC 0.25 (trapezoid over three points)
    assert score.invariance["early"] == {0: 0.0, 50: 1.0, 100: 1.0} and score.aoc == pytest.approx(0.25)
    assert score.invariance["paraphrase"] == {0: 1.0, 50: 1.0, 100: 1.0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "t"}\n')
    from lm_eval_tracecollapse.probes import read_probes

    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a probe line \(missing doc_id"):
        read_probes(bad)


def test_reference_full_compare_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _source(tmp_path)
    meta = {"source": str(src)}
    base = _run_probes(tmp_path, "base", meta, _faithful)
    # a "collapsed" checkpoint fed the base's traces: it always says 7, whatever the trace
    ignores = _run_probes(tmp_path, "ignores", meta, lambda p: "7")
    [b] = score_probe_run([base])
    [i_orig] = score_probe_run([ignores])
    [i_full] = score_probe_run([ignores], reference="full")
    assert b.aoc == pytest.approx(0.375) and b.accuracy["early"] == {0: 0.0, 25: 0.0, 50: 1.0, 75: 1.0, 100: 1.0}
    # against the base's original answer every probe "changed" (AOC 1): misleading for
    # probes from another run; against its own full-trace answer nothing changes (AOC 0)
    assert i_orig.aoc == pytest.approx(1.0) and i_full.aoc == pytest.approx(0.0)
    assert i_full.reference == "full" and i_full.accuracy["early"][100] == 0.0
    c = compare_probes([base], [ignores], reference="full")
    assert c is not None and c.paired == 3
    assert c.delta == pytest.approx(-0.375) and c.paired_delta == pytest.approx(-0.375)
    # Newcombe's square-and-add of the two Wilson intervals: never of zero width (was a bootstrap's [-0.375, -0.375])
    assert c.delta_ci == pytest.approx((-0.6305, 0.2213), abs=1e-4)
    assert compare_probes([base], [src]) is None  # no tc_probe run on one side

    from lm_eval_tracecollapse.cli import main

    main(["compare", str(base), str(ignores), "--probe-reference", "full"])
    text = capsys.readouterr().out
    assert "faithfulness AOC 0.375 -> 0.000   Δ -0.375 [-0.630, +0.221]" in text
    assert "on the 3 responses probed in both" in text
    assert "Δ invariance early      k=0/25/50/75/100: +1.00 / +1.00 / +0.00 / +0.00 / +0.00" in text
    main(["analyze", str(tmp_path / "probe_out"), "--workers", "1"])
    text = capsys.readouterr().out
    assert "base / tc_probe: 3 probed responses (reference: original answer)" in text
    # every response's AOC is 0.375: Wilson over 3 × 4.57 effective outcomes, not a bootstrap's [0.375, 0.375]
    assert "faithfulness AOC 0.375 [0.174, 0.630]" in text and "faithfulness AOC 1.000" in text
    assert "valid" not in text.split("tc_probe")[0]  # probe samples are not read as trace statuses
    with pytest.raises(ValueError, match="reference must be"):
        score_probe_run([base], reference="mine")


def test_probe_files_from_the_cli_keep_every_probe(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = write_probes(build_probes(src), tmp_path / "p.jsonl")
    from lm_eval_tracecollapse.probes import read_probes

    assert read_probes(out) == build_probes(src)
