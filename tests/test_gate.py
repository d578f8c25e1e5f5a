"""``tracecollapse compare BASE NEW --gate SPEC``: the table, the exit status, the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.report.gate import parse_gates

V, M = "<think>step</think>4", "4"  # a valid trace, no trace


def _run(folder: Path, docs: list[tuple[str, float]], task: str = "t") -> Path:
    folder.mkdir(parents=True)
    lines = []
    for i, (resp, correct) in enumerate(docs):
        rec = {"doc_id": i, "doc": {"q": i}, "target": "4", "resps": [[resp]], "filtered_resps": ["4"],
               "filter": "none", "metrics": ["exact_match"], "exact_match": correct, "prompt_hash": f"p{i}",
               "arguments": {"gen_args_0": {"arg_0": f"Q{i}", "arg_1": {}}}}  # fmt: skip
        lines.append(json.dumps(rec))
    (folder / f"samples_{task}_2026-01-01T00-00-00.000000.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _gate(tmp: Path, base: Path, new: Path, spec: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    out = tmp / "gate.json"
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(base), str(new), "--gate", spec, "--json", str(out)])
    code = exc.value.code
    assert isinstance(code, int)
    return code, capsys.readouterr().out, json.loads(out.read_text()) if out.exists() else {}


BASE = [(V, 1.0)] * 16 + [(V, 0.0)] * 4  # 20 documents, all reasoned, 16 right
COLLAPSED = [(M, 1.0)] * 16 + [(M, 0.0)] * 4  # the same answers, no trace at all
KEPT = [(V, 1.0)] * 16 + [(V, 0.0)] * 3 + [(M, 0.0)]  # one trace lost


def test_a_collapsed_run_fails_and_a_kept_one_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _run(tmp_path / "base", BASE)
    spec = "valid_rate:-0.10, rpass@1:-0.05@ci, pass@1:-0.10"
    code, out, data = _gate(tmp_path, base, _run(tmp_path / "collapsed", COLLAPSED), spec, capsys)
    assert code == 1 and data["status"] == 1 and not data["passed"]
    rows = {g["metric"]: g for g in data["gates"]}
    assert rows["valid_rate"]["result"] == "FAIL" and rows["valid_rate"]["delta"] == -1.0
    assert rows["rpass@1"]["result"] == "FAIL" and rows["rpass@1"]["new"] is None  # no valid trace left
    assert rows["pass@1"]["result"] == "PASS" and rows["pass@1"]["delta"] == 0.0  # answer-only metrics hide it
    # every trace lost: Newcombe's interval (not a bootstrap's [-1.000, -1.000]): 20 documents leave room
    assert "| t [none] | valid_rate | 1.000 | 0.000 | -1.000 [-1.000, -0.772] |" in out
    code, out, data = _gate(tmp_path, base, _run(tmp_path / "kept", KEPT), spec, capsys)
    assert code == 0 and data["passed"]
    rows = {g["metric"]: g for g in data["gates"]}
    assert rows["valid_rate"]["delta"] == pytest.approx(-0.05)
    assert rows["rpass@1"]["new"] == pytest.approx(16 / 19) and rows["pass@1"]["delta"] == 0.0


def test_relative_limits_and_the_interval_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _run(tmp_path / "base", BASE)
    kept = _run(tmp_path / "kept", KEPT)
    assert _gate(tmp_path, base, kept, "valid_rate:-6%", capsys)[0] == 0  # -0.05 of 1.0: within 6 %
    assert _gate(tmp_path, base, kept, "valid_rate:-4%", capsys)[0] == 1
    # the estimate passes, the interval's lower end (one lost trace in 20: down to -0.15) does not
    assert _gate(tmp_path, base, kept, "valid_rate:-0.10", capsys)[0] == 0
    code, _, data = _gate(tmp_path, base, kept, "valid_rate:-0.10@ci", capsys)
    lo = data["gates"][0]["ci"][0]
    assert (code == 1) == (lo < -0.10)
    assert _gate(tmp_path, base, kept, "missing_rate:+0.10", capsys)[0] == 0  # a rise of at most 0.10
    assert _gate(tmp_path, base, kept, "missing_rate:+0.01", capsys)[0] == 1


def test_bad_specs_and_missing_data_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, kept = _run(tmp_path / "base", BASE), _run(tmp_path / "kept", KEPT)
    for spec, why in [("valid_rate-0.05", "is not METRIC:"), ("vr:-0.05", "gated rows are"),
                      (str(tmp_path / "nope.yaml"), "does not exist")]:  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["compare", str(base), str(kept), "--gate", spec])
        assert exc.value.code == 2 and why in capsys.readouterr().err
    gates = tmp_path / "gates.yaml"
    gates.write_text("t: 'valid_rate:-0.10'\nother_task: 'pass@1:-0.01'\n")
    code, _, data = _gate(tmp_path, base, kept, str(gates), capsys)
    assert code == 2 and data["status"] == 2  # other_task was compared in neither run: never a pass
    other = _run(tmp_path / "other", KEPT, task="u")
    assert _gate(tmp_path, base, other, "valid_rate:-0.5", capsys)[0] == 2  # no task in both runs


def test_spec_round_trip() -> None:
    assert [str(g) for g in parse_gates(" valid_rate : -0.05 ,rpass@1:-2%@ci,empty_rate:+0.1")] == [
        "valid_rate:-0.05", "rpass@1:-2%@ci", "empty_rate:+0.1"]  # fmt: skip


def _exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert isinstance(exc.value.code, int)
    return exc.value.code


def test_report_gate_exits_as_compare_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``report --html OUT --gate SPEC`` exits as ``compare --gate SPEC`` does on the same runs
    (0 pass, 1 fail, 2 bad SPEC or missing data), prints the same gate table, and the page's
    banner says the same status; with several runs the worst one counts."""
    base = _run(tmp_path / "base", BASE)
    runs = {"collapsed": _run(tmp_path / "collapsed", COLLAPSED), "kept": _run(tmp_path / "kept", KEPT),
            "other": _run(tmp_path / "other", KEPT, task="u")}  # fmt: skip
    gates = tmp_path / "gates.yaml"
    gates.write_text("t: 'valid_rate:-0.10'\nother_task: 'pass@1:-0.01'\n")
    spec = "valid_rate:-0.10, rpass@1:-0.05@ci, pass@1:-0.10"
    cases = [("collapsed", spec, 1), ("kept", spec, 0), ("kept", "vr:-0.05", 2), ("kept", str(gates), 2),
             ("other", spec, 2)]  # fmt: skip
    for i, (run, gate, expected) in enumerate(cases):
        assert _exit(["compare", str(base), str(runs[run]), "--gate", gate]) == expected, (run, gate)
        table = capsys.readouterr().out
        page = tmp_path / f"{i}-{run}.html"
        code = _exit(["report", str(base), str(runs[run]), "--html", str(page), "--gate", gate, "--workers", "1"])
        out = capsys.readouterr().out
        assert code == expected, (run, gate)
        if gate == "vr:-0.05":  # a bad SPEC: said before anything is read, no page
            assert not page.exists()
            continue
        assert f'<section id="tc-gate" class="{["tc-pass", "tc-fail", "tc-missing"][code]}" data-status="{code}">' in (
            page.read_text()
        )
        if "|" in table:  # compare's gate table, under "base → run"
            assert f"base → {run}\n{table[table.index('| task') : table.rindex('|') + 1]}" in out
    # several runs: the base against each; one failing run fails the page
    code = _exit(["report", str(base), str(runs["kept"]), str(runs["collapsed"]), "--html", str(tmp_path / "all.html"),
                  "--gate", spec, "--workers", "1"])  # fmt: skip
    assert code == 1 and "base → kept\n" in capsys.readouterr().out
