"""tracecollapse analyze/compare with ``repeats: k`` and several filter pipelines: every
raw response of every line is counted, every pipeline is its own (named) summary, and
the numbers equal the per-response / pooled definitions lm-eval's table uses."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.report import analyze, analyze_text, compare, compare_text, paper_table, read_file
from lm_eval_tracecollapse.report.stats import wilson

V, E, M, T = "<think>w</think>4", "<think></think>4", "4", "<think>w"  # valid, empty, missing, truncated
RATES = ("valid", "empty", "missing", "truncated")

# k = 4 raw responses per document, statuses mixed within lines (the same raw responses
# under both pipelines, as lm-eval writes them); per pipeline the line's stored pass@1 and
# rpass@1 (None: lm-eval writes no rpass@1 — that document has no valid response)
DOCS = [[V, V, E, M], [V, T, T, M], [M, M, E, T], [V, V, V, V]]
STORED = {
    "strict-match": [(0.75, 1.0), (0.25, 0.0), (0.5, None), (0.5, 0.5)],
    "flexible-extract": [(1.0, 1.0), (0.5, 1.0), (0.25, None), (0.75, 0.75)],
}
# hand-counted over the 16 responses: valid 2+1+0+4, empty 1+0+1+0, missing 1+1+2+0,
# truncated 0+2+1+0; answered: all but the 3 truncated
EXPECTED_RATES = {"valid": 7 / 16, "empty": 2 / 16, "missing": 4 / 16, "truncated": 3 / 16, "answer": 13 / 16}
EXPECTED = {  # pass@1: mean over documents; rpass@1: Σ rpass × valid / Σ valid (valid = 2, 1, 0, 4)
    "strict-match": (0.5, (1.0 * 2 + 0.0 * 1 + 0.5 * 4) / 7),  # 4/7, not the per-document mean 0.5
    "flexible-extract": (0.625, (1.0 * 2 + 1.0 * 1 + 0.75 * 4) / 7),  # 6/7
}


def _line(doc_id: int, resps: list[str], pipeline: str, metrics: dict[str, float | None]) -> str:
    rec: dict[str, object] = {
        "doc_id": doc_id, "doc": {"q": doc_id}, "target": "4",
        "arguments": {"gen_args_0": {"arg_0": f"Q{doc_id}", "arg_1": {"do_sample": True}}},
        "resps": [resps], "filtered_resps": [[r[-1:] for r in resps]], "filter": pipeline,
        "metrics": list(metrics), "doc_hash": "d", "prompt_hash": f"p{doc_id}", "target_hash": "t",
    }  # fmt: skip
    rec.update({k: v for k, v in metrics.items() if v is not None})
    return json.dumps(rec)


def _ours(resps: list[str], pass1: float, rpass1: float | None) -> dict[str, float | None]:
    """The values our metrics store on a line (per-response shares of its k responses)."""
    traces = [parse_trace(r) for r in resps]
    out: dict[str, float | None] = {f"{s}_rate": sum(t.status.value == s for t in traces) / len(resps) for s in RATES}
    out["answer_rate"] = sum(t.has_answer for t in traces) / len(resps)
    return {**out, "pass@1": pass1, "rpass@1": rpass1}


def _write(folder: Path, task: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_2026-01-01T00-00-00.000000.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _repeats_run(folder: Path, task: str = "rep") -> Path:
    lines = [
        _line(i, resps, pipe, _ours(resps, *STORED[pipe][i]))
        for i, resps in enumerate(DOCS)
        for pipe in STORED  # lm-eval's order: the pipelines of a document next to each other
    ]
    return _write(folder, task, lines)


def test_every_response_and_every_pipeline_is_read(tmp_path: Path) -> None:
    path = _repeats_run(tmp_path / "run")
    docs, problems = read_file(path)
    assert problems.skipped == 0 and len(docs) == 8  # 4 documents × 2 pipelines
    assert [(d.doc_id, d.pipeline) for d in docs[:2]] == [(0, "strict-match"), (0, "flexible-extract")]
    assert docs[0].statuses == ("valid", "valid", "empty", "missing") and docs[0].k == 4 and docs[0].valid == 2
    assert docs[0].answered == 4 and docs[2].answered == 2
    assert docs[0].rpass_at_1 == 1.0 and docs[4].rpass_at_1 is None  # doc 2 has no valid response


def test_rates_pass_and_pooled_rpass_with_repeats(tmp_path: Path) -> None:
    _repeats_run(tmp_path / "run")
    summaries, problems = analyze([tmp_path], workers=1, progress=False)
    assert problems.skipped == 0
    assert [(s.run, s.task, s.pipeline) for s in summaries] == [
        ("run", "rep", "strict-match"), ("run", "rep", "flexible-extract"),
    ]  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "run").glob("*.jsonl").__next__().read_text().splitlines()]
    for s in summaries:
        assert (s.n, s.responses, s.repeats, s.correct_source) == (4, 16, 4.0, "pass@1")
        assert {k: e.value for k, e in s.rates.items()} == EXPECTED_RATES
        assert all(e.n == 16 for e in s.rates.values())
        # with constant k these are lm-eval's numbers: the mean over its lines of the stored shares
        mine = [x for x in lines if x["filter"] == s.pipeline]
        for k in (*RATES, "answer"):
            assert s.rates[k].value == pytest.approx(sum(x[f"{k}_rate"] for x in mine) / len(mine))
        pass1, rpass1 = EXPECTED[s.pipeline]
        assert s.pass_at_1 is not None and (s.pass_at_1.value, s.pass_at_1.n) == (pass1, 4)
        assert s.rpass_at_1 is not None and (s.rpass_at_1.value, s.rpass_at_1.n) == (rpass1, 7)
        for e in (*s.rates.values(), s.pass_at_1, s.rpass_at_1):
            assert e.lo <= e.value <= e.hi
        assert s.mean_trace_chars == 10 / 16  # "w" in the 7 valid + 3 truncated responses, over all 16
    strict = summaries[0]
    assert strict.rpass_at_1 is not None and strict.rpass_at_1.value == 4 / 7


def test_repeats_intervals_count_documents(tmp_path: Path) -> None:
    """All-or-nothing documents: 16 of 32 responses valid, but only 8 independent
    documents — the interval must be wider than Wilson's over 32 responses (it is Wilson's
    over the 8 documents: every response of a document alike); Rpass@1 1.0 from 4 documents
    of 4 valid right responses is Wilson's over 4, not [1.0, 1.0]."""
    lines = [
        _line(i, [V] * 4, "none", _ours([V] * 4, 1.0, 1.0))
        if i % 2
        else _line(i, [M] * 4, "none", _ours([M] * 4, 0.0, None))
        for i in range(8)
    ]
    _write(tmp_path / "run", "clustered", lines)
    [s], _ = analyze([tmp_path], workers=1, progress=False)
    lo, hi = wilson(16, 32)
    for e in (s.rates["valid"], s.rates["missing"], s.pass_at_1):
        assert e is not None and e.value == 0.5 and e.lo <= 0.5 <= e.hi
        assert e.hi - e.lo > (hi - lo) * 1.5
    assert s.rates["valid"].n == 32 and s.pass_at_1 is not None and s.pass_at_1.n == 8
    assert (s.rates["valid"].lo, s.rates["valid"].hi) == wilson(4, 8)
    assert s.rpass_at_1 is not None and (s.rpass_at_1.value, s.rpass_at_1.lo, s.rpass_at_1.hi) == (1.0, *wilson(4, 4))


def test_fallback_correctness_per_line(tmp_path: Path) -> None:
    """A run without our metrics: the task's own metric is each line's correctness, and
    rpass@1 weighs it by the line's valid responses."""
    scores = [1.0, 0.0, 1.0, 0.0]
    lines = [_line(i, r, "none", {"exact_match": c}) for i, (r, c) in enumerate(zip(DOCS, scores, strict=True))]
    _write(tmp_path / "run", "plain", lines)
    [s], _ = analyze([tmp_path], workers=1, progress=False)
    assert s.correct_source == "exact_match" and s.pipeline == "none"
    assert s.pass_at_1 is not None and s.pass_at_1.value == 0.5
    assert s.rpass_at_1 is not None and s.rpass_at_1.value == (1.0 * 2 + 0.0 * 1 + 0.0 * 4) / 7
    assert s.rates["valid"].value == 7 / 16


def test_nothing_valid_is_na_not_zero(tmp_path: Path) -> None:
    resps = [M, E, T, M]
    lines = [_line(i, resps, "none", {**_ours(resps, 0.25, None), "rpass@1": math.nan}) for i in range(3)]
    _write(tmp_path / "run", "collapsed", lines)  # NotAvailable is written as NaN
    [s], _ = analyze([tmp_path], workers=1, progress=False)
    assert s.rpass_at_1 is None and s.rates["valid"].value == 0.0
    assert "Rpass@1 N/A" in analyze_text([s])


def test_text_and_table_name_the_pipelines(tmp_path: Path) -> None:
    _repeats_run(tmp_path / "run")
    summaries, _ = analyze([tmp_path], workers=1, progress=False)
    text = analyze_text(summaries)
    assert "run / rep [strict-match]: n=4 × 4 responses" in text
    assert "run / rep [flexible-extract]: n=4 × 4 responses" in text
    md = paper_table(summaries).splitlines()
    assert md[0] == (
        "| run | rep [strict-match] pass@1 | rep [strict-match] Rpass@1 | rep [strict-match] VR"
        " | rep [flexible-extract] pass@1 | rep [flexible-extract] Rpass@1 | rep [flexible-extract] VR |"
    )
    assert md[2] == "| run | 0.500 | 0.571 | 0.438 | 0.625 | 0.857 | 0.438 |"


def test_compare_pairs_documents_per_pipeline(tmp_path: Path) -> None:
    _repeats_run(tmp_path / "base")
    collapsed = [[M, M, M, M], [V, M, M, M], [M, E, M, M], [V, V, M, M]]
    lines = [_line(i, r, p, _ours(r, *STORED[p][i])) for i, r in enumerate(collapsed) for p in STORED]
    _write(tmp_path / "ft", "rep", lines)
    comparisons, problems = compare([tmp_path / "base"], [tmp_path / "ft"])
    assert problems.skipped == 0
    assert [c.pipeline for c in comparisons] == ["strict-match", "flexible-extract"]
    c = comparisons[0]
    assert c.pairs == 4 and c.vr == (7 / 16, 3 / 16)
    assert c.pass_at_1 == (0.5, 0.5)
    assert c.vr_mcnemar_p is None and c.pass_mcnemar_p is None  # no single 0/1 outcome per document
    # expected documents per (base status, fine-tuned status), one response drawn from each
    total = sum(v for row in c.transitions.values() for v in row.values())
    assert total == pytest.approx(4)
    assert c.transitions["valid"]["valid"] == pytest.approx(2 / 4 * 0 + 1 / 4 * 1 / 4 + 0 + 4 / 4 * 2 / 4)
    out = compare_text(comparisons)
    assert "rep [strict-match]: 4 paired documents" in out
    # every row compare prints has its Δ, an interval and a paired test (the bootstrap's p with
    # repeats, where McNemar has no 0/1 outcome per document); or says why Δ is undefined
    rows = [line for line in out.splitlines() if "->" in line]
    assert len(rows) == 2 * (12 + 10) and all(  # + pass@k, rpass@k, its coverage, valid@k, all_valid@k, k = 2, 4
        re.search(r"Δ [+-]\d\.\d{3} \[[+-]\d[\d.]*, [+-]\d[\d.]*\]   (McNemar|bootstrap) p[=<]", line)
        or "Δ n/a (no " in line
        for line in rows
    ), out
    assert re.search(r"VR +0\.438 -> 0\.188   Δ -0\.250 \[.*\]   bootstrap p=", out)
    assert re.search(r"Rpass@1 +0\.571 -> \S+   Δ .*bootstrap p", out)


def test_intervals_keep_a_width_at_the_edges(tmp_path: Path) -> None:
    """Wilson's interval for Rpass@1 over its valid-trace responses (one response per
    document: as pass@1's, not a bootstrap's [1.000, 1.000]); with repeats Wilson's over the
    design-effect effective n, never of zero width at 0 or 1; 2 responses are not proof."""
    from lm_eval_tracecollapse.report.stats import design_wilson

    right = {"pass@1": 1.0, "rpass@1": 1.0, "valid_rate": 1.0, "empty_rate": 0.0, "missing_rate": 0.0,
             "truncated_rate": 0.0}  # fmt: skip
    _write(tmp_path / "one", "t", [_line(i, [V], "none", right) for i in range(100)])
    _write(tmp_path / "two", "t", [_line(i, [V], "none", right) for i in range(2)])
    _write(tmp_path / "rep", "t", [_line(i, [V] * 4, "none", right) for i in range(2)])
    [one, two, rep], _ = analyze([tmp_path / "one", tmp_path / "two", tmp_path / "rep"], workers=1, progress=False)
    assert one.rpass_at_1 is not None and one.pass_at_1 is not None
    assert (one.rpass_at_1.lo, one.rpass_at_1.hi) == (one.pass_at_1.lo, one.pass_at_1.hi) == wilson(100, 100)
    assert round(one.rpass_at_1.lo, 3) == 0.963
    assert two.rpass_at_1 is not None and (two.rpass_at_1.lo, two.rpass_at_1.hi) == wilson(2, 2)
    assert rep.rpass_at_1 is not None and rep.rates["valid"].lo < 1.0
    # 2 documents x 4 identical responses: as wide as 2 responses, not as 8 independent ones
    assert (rep.rpass_at_1.lo, rep.rpass_at_1.hi) == wilson(2, 2) == (rep.rates["valid"].lo, rep.rates["valid"].hi)
    # responses that disagree within documents and documents alike: up to every response
    lo, hi = design_wilson([2, 2, 2, 2], [4, 4, 4, 4])
    assert (lo, hi) == wilson(8, 16)
    # one response per document: exactly Wilson's, fractional scores too (a mean of 0/1 is a proportion)
    assert design_wilson([1, 0, 1], [1, 1, 1]) == wilson(2, 3)


def test_cli_analyze_prints_every_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _repeats_run(tmp_path / "run")
    _repeats_run(tmp_path / "run", "rep2")  # a second file, read by a second worker
    main(["analyze", str(tmp_path)])
    out = capsys.readouterr().out
    for task in ("rep", "rep2"):
        for pipe, (pass1, rpass1) in EXPECTED.items():
            head = f"run / {task} [{pipe}]: n=4 × 4 responses (correctness from the samples' 'pass@1')"
            assert head in out
            block = out.split(head, 1)[1].splitlines()
            assert block[1].startswith(f"  pass@1   {pass1:.3f} [") and f"Rpass@1 {rpass1:.3f} [" in block[1]
            assert block[2].startswith("  VR 0.438 [") and "ER 0.125 [" in block[2]
            assert "MR 0.250 [" in block[2] and "TR 0.188 [" in block[2]
            assert block[3].startswith("  answer rate 0.812 [")


def _two_pairs(tmp_path: Path) -> list[tuple[Path, Path]]:
    """(base, fine-tuned) runs: the repeats run against a collapsed one, and the real lm-eval
    fixture's two runs (one response per document)."""
    _repeats_run(tmp_path / "base")
    collapsed = [[M, M, M, M], [V, M, M, M], [M, E, M, M], [V, V, M, M]]
    _write(tmp_path / "ft", "rep", [_line(i, r, p, _ours(r, *STORED[p][i])) for i, r in enumerate(collapsed)
                                    for p in STORED])  # fmt: skip
    fixture = Path(__file__).parent / "fixtures" / "lm_eval_run"
    return [(tmp_path / "base", tmp_path / "ft"), (fixture / "base", fixture / "finetuned")]


def test_comparison_deltas_are_the_gates_paired_deltas(tmp_path: Path) -> None:
    """``Comparison.deltas`` comes from the same single resampling pass as every row compare
    prints, and equals :func:`paired_deltas` (what ``compare --gate`` was specified on), with
    repeats and with one response per document."""
    from lm_eval_tracecollapse.report.deltas import paired_deltas
    from lm_eval_tracecollapse.report.summary import compare_records, read_keyed

    for base, ft in _two_pairs(tmp_path):
        a, b = read_keyed([base]), read_keyed([ft])
        comparisons, _ = compare_records(a, b)
        for c in comparisons:
            key = next(k for k in a if k[1] == c.pipeline)
            pairs = [(a[key][i], b[key][i]) for i in sorted(set(a[key]) & set(b[key]))]
            assert c.deltas == paired_deltas(pairs) and c.deltas
            assert {m: (r.lo, r.hi) for m, r in c.changes.items() if m in c.deltas and r.delta is not None} == {
                m: (d.lo, d.hi) for m, d in c.deltas.items() if d.new == d.new
            }


def test_the_legacy_fields_are_the_deltas_rows(tmp_path: Path) -> None:
    """``Comparison.vr``, ``vr_delta_ci``, ``vr_mcnemar_p``, ``pass_at_1``, ``pass_delta_ci`` and
    ``pass_mcnemar_p`` are its ``deltas``' ``valid_rate`` and ``pass@1`` rows: one paired-delta path
    (they were a second bootstrap of per-document means, with McNemar's test wherever each
    document's responses agreed, as with greedy repeats)."""
    for name, docs in (("greedy_base", [[V, V], [V, V], [V, V], [M, M]]), ("greedy_ft", [[M, M]] * 4)):
        _write(tmp_path / name, "rep", [_line(i, r, "strict-match", _ours(r, 1.0, 1.0 if r[0] == V else None))
                                        for i, r in enumerate(docs)])  # fmt: skip
    for base, ft in [*_two_pairs(tmp_path), (tmp_path / "greedy_base", tmp_path / "greedy_ft")]:
        comparisons, _ = compare([base], [ft])
        assert comparisons
        for c in comparisons:
            vr, p1 = c.deltas["valid_rate"], c.deltas["pass@1"]
            assert (c.vr, c.vr_delta_ci, c.vr_mcnemar_p) == ((vr.base, vr.new), (vr.lo, vr.hi), vr.mcnemar_p)
            assert (c.pass_at_1, c.pass_delta_ci, c.pass_mcnemar_p) == ((p1.base, p1.new), (p1.lo, p1.hi),
                                                                        p1.mcnemar_p)  # fmt: skip
