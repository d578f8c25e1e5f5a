"""tracecollapse analyze / compare / table / plot on fixture runs (one real lm-eval
--log_samples file, synthetic ones in the same format, a corrupt one)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.report import analyze, compare, paper_table, plot, read_file, summarize
from lm_eval_tracecollapse.report.stats import bootstrap_ci, mcnemar_exact, wilson

REAL = Path(__file__).parent / "fixtures" / "lm_eval_run" / "base"


def _line(doc_id: int, response: str, correct: float | None, filt: str = "strict-match", prompt: str = "") -> str:
    rec = {
        "doc_id": doc_id, "doc": {"q": doc_id}, "target": "1",
        "arguments": {"gen_args_0": {"arg_0": prompt or f"Q{doc_id}", "arg_1": {}}},
        "resps": [[response]], "filtered_resps": ["x"], "filter": filt, "metrics": ["exact_match"],
        "doc_hash": "d", "prompt_hash": f"p{doc_id}", "target_hash": "t",
    }  # fmt: skip
    if correct is not None:
        rec["exact_match"] = correct
    return json.dumps(rec)


def _run(folder: Path, rows: list[tuple[str, float]], task: str = "mytask") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (resp, ok) in enumerate(rows):
        lines += [_line(i, resp, ok), _line(i, resp, ok, "flexible-extract")]  # two pipelines per doc
    path = folder / f"samples_{task}_2026-01-01T00-00-00.000000.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


BASE_ROWS = [("<think>a</think>1", 1.0)] * 6 + [("<think>a</think>2", 0.0)] * 2
FT_ROWS = [("1", 1.0)] * 5 + [("<think></think>1", 1.0)] + [("2", 0.0)] * 2


def test_analyze_a_real_lm_eval_run() -> None:
    [s], problems = analyze([REAL], workers=1, progress=False)
    assert (s.task, s.n, problems.skipped) == ("tc_gsm8k_256", 16, 0)
    assert s.correct_source == "pass@1"  # the run used our metrics
    assert {k: s.rates[k].value for k in ("valid", "empty", "missing", "truncated")} == {
        "valid": 0.5, "empty": 0.125, "missing": 0.25, "truncated": 0.125,
    }  # fmt: skip
    assert s.pass_at_1 is not None and s.pass_at_1.value == 0.625
    assert s.rpass_at_1 is not None and s.rpass_at_1.value == 0.75
    assert s.rpass_at_1.lo <= 0.75 <= s.rpass_at_1.hi
    assert (s.rates["valid"].lo, s.rates["valid"].hi) == pytest.approx(wilson(8, 16))


def test_runs_without_our_metrics_and_parallel_reading(tmp_path: Path) -> None:
    _run(tmp_path / "base", BASE_ROWS)
    _run(tmp_path / "ft", FT_ROWS)
    summaries, _ = analyze([tmp_path], workers=2, progress=False)
    # every filter pipeline is its own summary (they used to be deduplicated to the first)
    assert sorted((s.run, s.pipeline) for s in summaries) == [
        ("base", "flexible-extract"), ("base", "strict-match"), ("ft", "flexible-extract"), ("ft", "strict-match"),
    ]  # fmt: skip
    by_run = {s.run: s for s in summaries if s.pipeline == "strict-match"}
    assert by_run["base"].n == 8 and by_run["base"].correct_source == "exact_match"
    assert by_run["base"].rates["valid"].value == 1.0 and by_run["ft"].rates["missing"].value == 7 / 8
    assert by_run["ft"].rpass_at_1 is None  # nothing valid: N/A, not 0


def test_compare(tmp_path: Path) -> None:
    _run(tmp_path / "base", BASE_ROWS)
    _run(tmp_path / "ft", FT_ROWS)
    comparisons, _ = compare([tmp_path / "base"], [tmp_path / "ft"])
    assert [c.pipeline for c in comparisons] == ["strict-match", "flexible-extract"]  # paired per pipeline
    c = comparisons[0]
    assert c.pairs == 8 and c.vr == (1.0, 0.0)
    assert c.transitions["valid"] == {"valid": 0, "empty": 1, "missing": 7, "truncated": 0}
    assert c.vr_mcnemar_p == pytest.approx(mcnemar_exact(8, 0)) and c.vr_mcnemar_p < 0.01
    assert c.pass_at_1 == (0.75, 0.75) and c.pass_mcnemar_p == 1.0


def test_corrupt_lines_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _run(tmp_path / "run", BASE_ROWS)
    with path.open("a") as fh:
        fh.write('{"doc_id": 99, "resps": [["<think>x</thi\n')  # truncated line
        fh.write('{"doc_id": 100}\n')  # no responses
        fh.write("[1, 2]\n")
    docs, problems = read_file(path)
    assert len(docs) == 16 and problems.skipped == 3  # 8 documents × 2 pipelines
    assert f"{path}:17" in problems.examples[0]
    with pytest.raises(ValueError, match=rf"{path}:17"):
        read_file(path, strict=True)
    main(["analyze", str(tmp_path), "--workers", "1"])
    err = capsys.readouterr().err
    assert "skipped 3 unreadable line(s)" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(tmp_path), "--strict", "--workers", "1"])
    assert exit_info.value.code == 1 and f"{path}:17" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", str(tmp_path / "nothing-here")])
    assert "does not exist" in capsys.readouterr().err


def test_tables_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for step, rows in ((100, BASE_ROWS), (200, FT_ROWS)):
        _run(tmp_path / f"checkpoint-{step}", rows, "gsm8k")
        _run(tmp_path / f"checkpoint-{step}", rows, "chemistry")
    summaries, _ = analyze([tmp_path], workers=1, progress=False)
    one_pipeline = [s for s in summaries if s.pipeline == "strict-match"]
    md = paper_table(one_pipeline, "markdown").splitlines()
    # tasks in the order their files are found (sorted names)
    assert (
        md[0]
        == "| run | chemistry pass@1 | chemistry Rpass@1 | chemistry VR | gsm8k pass@1 | gsm8k Rpass@1 | gsm8k VR |"
    )
    assert md[2] == "| checkpoint-100 | 0.750 | 0.750 | 1.000 | 0.750 | 0.750 | 1.000 |"
    assert md[3] == "| checkpoint-200 | 0.750 | N/A | 0.000 | 0.750 | N/A | 0.000 |"
    assert paper_table(one_pipeline, "csv").splitlines()[1].startswith("checkpoint-100,0.750,0.750,1.000")
    # both pipelines: one named column group each
    head = paper_table(summaries, "markdown").splitlines()[0]
    assert head.startswith("| run | chemistry [strict-match] pass@1 | chemistry [strict-match] Rpass@1 |")
    assert "| chemistry [flexible-extract] VR |" in head and "| gsm8k [flexible-extract] VR |" in head
    latex = paper_table(summaries, "latex")
    assert r"\begin{tabular}" in latex and r"\multicolumn{3}{c}{gsm8k [strict-match]}" in latex
    with pytest.raises(ValueError, match="markdown, latex or csv"):
        paper_table(summaries, "html")
    for suffix in ("png", "svg"):
        out = plot(summaries, tmp_path / f"fig.{suffix}")
        assert out.stat().st_size > 5_000
    main(["table", str(tmp_path)])
    assert "| checkpoint-100 |" in capsys.readouterr().out


def test_runs_named_by_step_are_in_numeric_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trace monitor's ``step-<N>`` runs: ``analyze``, ``table``, ``plot`` and the HTML
    report list step-20 before step-100 (natural order), from their folder or named one by
    one in string order (as a shell glob ``out/step-*`` gives them)."""
    from lm_eval_tracecollapse.report.html import read_browser_data
    from lm_eval_tracecollapse.report.summary import in_run_order

    for step in (0, 10, 100, 20, 5):
        _run(tmp_path / f"step-{step}", BASE_ROWS)
    want = ["step-0", "step-5", "step-10", "step-20", "step-100"]
    globbed: list[str | Path] = sorted(str(p) for p in tmp_path.iterdir())
    assert [Path(p).name for p in globbed] == ["step-0", "step-10", "step-100", "step-20", "step-5"]

    def runs(summaries: list) -> list[str]:
        return list(dict.fromkeys(s.run for s in summaries))

    for paths in ([tmp_path], globbed):
        summaries, _ = analyze(paths, workers=1, progress=False)
        assert runs(summaries) == want
        assert [(s.run, s.pipeline) for s in summaries[:2]] == [
            ("step-0", "strict-match"),
            ("step-0", "flexible-extract"),
        ]
        assert read_browser_data(paths)[0].runs == want
    assert runs(in_run_order(summaries[::-1])) == want  # what plot() draws its rows by
    main(["analyze", *map(str, globbed), "--workers", "1"])
    blocks = [line.split(" / ")[0] for line in capsys.readouterr().out.splitlines() if "[strict-match]:" in line]
    assert blocks == want
    main(["table", str(tmp_path)])
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("| step-")]
    assert rows == want
    # a run without a number (the base) comes before the numbered ones, whatever order they were given in
    _run(tmp_path / "base", FT_ROWS)
    assert runs(analyze([tmp_path / "step-20", tmp_path / "base"], workers=1, progress=False)[0]) == ["base", "step-20"]


def test_stats() -> None:
    assert all(math.isnan(x) for x in wilson(0, 0))  # no data: NaN, not 0
    lo, hi = wilson(5, 10)
    assert lo < 0.5 < hi
    assert bootstrap_ci([0.0, 1.0] * 50)[0] < 0.5 < bootstrap_ci([0.0, 1.0] * 50)[1]
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0


def test_trace_length_in_tokens(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.builtin.tiny import build_tokenizer

    tok = build_tokenizer(["a b c"], vocab_size=270)
    tok.save_pretrained(tmp_path / "tok")
    _run(tmp_path / "run", [("<think>abc</think>1", 1.0), ("1", 1.0)])
    summaries, _ = analyze([tmp_path / "run"], workers=1, progress=False, tokenizer=str(tmp_path / "tok"))
    s = summaries[0]  # the first of the fixture's two (identical) pipelines
    expected = len(tok.encode("abc", add_special_tokens=False)) / 2
    assert s.mean_trace_tokens == pytest.approx(expected) and s.mean_trace_chars == 1.5


def test_compare_two_real_lm_eval_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's example: a fine-tune that keeps every answer but loses every trace."""
    runs = REAL.parent
    [c], problems = compare([runs / "base"], [runs / "finetuned"])
    assert (c.pairs, c.vr, problems.skipped) == (16, (0.5, 0.0), 0)
    assert c.pass_at_1 == (0.625, 0.625)  # accuracy hides the collapse
    assert c.vr_mcnemar_p == pytest.approx(2 / 2**8)  # 8 valid -> not valid, 0 back
    assert c.transitions["valid"] == {"valid": 0, "empty": 3, "missing": 5, "truncated": 0}
    main(["compare", str(runs / "base"), str(runs / "finetuned")])
    out = capsys.readouterr().out
    assert re.search(r"VR +0.500 -> 0.000   Δ -0.500 \[-0.720, -0.207\]   McNemar p=0.00781", out)
    # pass@1 changed on no document (McNemar p = 1): its interval keeps a width and holds 0
    assert re.search(r"pass@1 +0.625 -> 0.625   Δ \+0.000 \[-0.\d{3}, \+0.\d{3}\]   McNemar p=1\n", out)
    assert "[+0.000, +0.000]" not in out.split("loop_rate")[0]


def test_paired_binary_interval_keeps_a_width_when_nothing_changed() -> None:
    """One 0/1 outcome per document: Δ's interval is Newcombe's paired score interval (method
    10), not the paired bootstrap, which gives [0, 0] when no document changed."""
    from lm_eval_tracecollapse.report.deltas import paired_deltas
    from lm_eval_tracecollapse.report.stats import newcombe_paired
    from lm_eval_tracecollapse.samples.records import DocRecord

    def doc(i: int, status: str, correct: float) -> DocRecord:
        return DocRecord("r", "t", i, None, (status,), 1, 0, correct, "exact_match")

    same = [(doc(i, "valid", 1.0), doc(i, "valid", 1.0)) for i in range(100)]  # 100 concordant pairs
    for row in paired_deltas(same).values():
        assert row.delta == 0.0 and row.lo < 0 < row.hi and row.hi - row.lo > 0.05, row
    assert (lambda d: (round(d.lo, 4), round(d.hi, 4)))(paired_deltas(same)["pass@1"]) == (-0.037, 0.037)
    # the textbook example: Fagerland, Lydersen & Laake (Statistical Analysis of Contingency
    # Tables, 2017, ch. 8), Cavo et al. (2012): 59 / 6 / 16 / 80, Newcombe -0.1186 to -0.0046
    lo, hi = newcombe_paired(59, 16, 6, 80)  # (both, base only, new only, neither); Δ = new - base
    assert (round(lo, 4), round(hi, 4)) == (-0.1186, -0.0046)
    cells = [(1.0, 1.0)] * 59 + [(1.0, 0.0)] * 16 + [(0.0, 1.0)] * 6 + [(0.0, 0.0)] * 80  # (base, new)
    pairs = [(doc(i, "valid", a), doc(i, "valid", b)) for i, (a, b) in enumerate(cells)]
    p1 = paired_deltas(pairs)["pass@1"]  # the same table through compare's rows
    assert (round(p1.delta, 4), round(p1.lo, 4), round(p1.hi, 4)) == (-0.0621, -0.1186, -0.0046)


def test_mcnemar_is_the_exact_binomial_tail_and_linear() -> None:
    """The p-value equals the sum of binomial coefficients written plainly (and 23,000
    discordant pairs, a 100k-sample page's comparison, are computed: 33 s when quadratic)."""
    import math

    from lm_eval_tracecollapse.report.stats import mcnemar_exact

    for b, c in [(0, 1), (3, 9), (9, 3), (50, 70), (400, 380), (1, 1)]:
        n = b + c
        assert mcnemar_exact(b, c) == min(1.0, 2 * (sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n))
    assert mcnemar_exact(12_000, 11_000) < 1e-9


def test_mean_length_intervals_at_the_edges() -> None:
    """Mean lengths get Student's t over documents, not a percentile bootstrap (which gave
    [x, x] from one document): zero width only with no spread, and the report says so."""
    from lm_eval_tracecollapse.metrics.failure_kinds import KindCounts
    from lm_eval_tracecollapse.report.render import analyze_text
    from lm_eval_tracecollapse.samples.records import DocRecord

    def run(lengths: list[list[int]]) -> tuple[Any, str]:
        docs = [DocRecord("r", "t", i, None, ("valid",) * len(ls), len(ls), 0, 1.0, "exact_match",
                          kinds=KindCounts(trace_len=sum(ls), traced=len(ls), answer_len=len(ls), answered=len(ls)))
                for i, ls in enumerate(lengths)]  # fmt: skip
        [s] = summarize(docs)
        return s.kinds["trace_length_words"], analyze_text([s])

    est, _ = run([[4], [5], [6]])  # 5 ± t(0.975, 2 df) · s/√n = 4.3027 · 1/√3
    assert (est.value, round(est.lo, 3), round(est.hi, 3)) == (5.0, 2.516, 7.484)
    est, text = run([[5]] * 40)  # every length equal: truly no spread, and said
    assert (est.lo, est.hi) == (5.0, 5.0) and "trace length 5.0 words [5.0, 5.0] (no spread between documents)" in text
    est, text = run([[7]])  # one document: no spread can be estimated, no interval
    assert est.value == 7.0 and est.lo != est.lo and "trace length 7.0 words (one document: no interval)" in text
    est, _ = run([[2, 8], [3, 9], [1, 1]])  # repeats: each document a cluster (means 5, 6, 1; 2 responses each)
    # R = 24/6, v = 3/2 · (2² + 4² + 6²)/6² = 7/3 over 3 documents: 4 ± 4.3027 · √(7/3), its lower end 0
    assert (est.value, est.lo, round(est.hi, 3)) == (4.0, 0.0, round(4 + 4.302653 * math.sqrt(7 / 3), 3))
