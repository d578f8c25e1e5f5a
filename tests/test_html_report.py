"""``tracecollapse report --html``: the one-file page, opened from disk in headless Chromium.

The browser is Debian's ``chromium`` (``make test`` installs it when missing), driven by
Playwright's Python API through ``executable_path`` — no browser download.  Inputs are
the real lm-eval ``--log_samples`` files in ``tests/fixtures/lm_eval_run`` (a base run
and a fine-tuned run of ``tc_gsm8k_256``), copied under checkpoint names for the
step curves; one synthetic line tests the text caps and a hostile ``</script>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.report import analyze, compare, read_file
from lm_eval_tracecollapse.report.html import TextCaps, read_browser_data, shorten
from lm_eval_tracecollapse.report.summary import STATUSES
from lm_eval_tracecollapse.samples.records import sample_prompt

RUNS = Path(__file__).parent / "fixtures" / "lm_eval_run"
BASE, FT = RUNS / "base", RUNS / "finetuned"
CHROMIUM = os.environ.get("TRACECOLLAPSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
EST = re.compile(r"N/A|\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]")


# ---------------------------------------------------------------- without a browser


def test_shorten_keeps_both_ends_and_says_how_much_is_cut() -> None:
    text = "A" * 5000 + "Z" * 5000
    short = shorten(text, 900)
    assert short.startswith("A" * 600) and short.endswith("Z" * 300) and "[9,100 characters cut]" in short
    assert shorten("short", 900) == "short"


def test_caps_follow_the_budget() -> None:
    assert TextCaps.for_budget(16, 32) == TextCaps()  # small studies keep the full caps
    small = TextCaps.for_budget(100_000, 32)
    assert (small.prompt, small.trace, small.answer) == (240, 240, 120)


def test_rows_match_the_readers_statuses() -> None:
    data, problems = read_browser_data([BASE, FT])
    assert problems.skipped == 0 and data.runs == ["base", "finetuned"] and data.base == 0
    for run, path in (("base", BASE), ("finetuned", FT)):
        [f] = path.glob("samples_*.jsonl")
        records, _ = read_file(f)
        ix = data.runs.index(run)
        got = [STATUSES[s] for r, s in zip(data.cols["r"], data.cols["s"], strict=True) if r == ix]
        assert got == [st for d in records for st in d.statuses]


def test_bad_inputs_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["report", str(tmp_path / "nothing")], "nothing does not exist"),
        (["report", str(BASE), str(FT), "--base", "nope"], "base run 'nope' is not one of the runs: base, finetuned"),
        (["report", str(BASE), "--html", str(tmp_path / "no" / "r.html")], "folder"),
        (["report", str(BASE), "--max-text-mb", "0"], "--max-text-mb"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 1
        err = capsys.readouterr().err  # less the progress bar (tqdm's \r updates)
        err = "\n".join(x for x in err.replace("\r", "\n").splitlines() if x.strip() and "reading samples" not in x)
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the [test] extra)")
    if not CHROMIUM:
        pytest.skip("no chromium: `make test` installs Debian's package (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A report opened from disk, with its console errors and uncaught exceptions."""

    def __init__(self, browser: Any, path: Path | str, width: int = 1400) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 1000}, accept_downloads=True)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        local = ("file:", "data:", "blob:")
        self.page.on("request", lambda r: None if r.url.startswith(local) else self.errors.append(r.url))
        self.page.goto(path if isinstance(path, str) else path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']")

    def cell(self, table: str, key: str, col: str) -> str:
        return str(self.page.locator(f'#{table} tr[data-key="{key}"] td[data-col="{col}"]').text_content()).strip()

    def count(self, **filters: str) -> int:
        for name in ("run", "group", "status", "trans", "verdict"):
            default = "all" if name in ("run", "group", "status") else "any"
            if name in filters or self.page.is_enabled(f"#f-{name}"):  # one run: no transition filter
                self.page.select_option(f"#f-{name}", label=filters.get(name, default))
        self.page.fill("#f-search", filters.get("search", ""))
        self.page.wait_for_timeout(300 if "search" in filters else 0)  # the search box waits 200 ms for typing
        n = int(str(self.page.get_attribute("#tc-count", "data-count")))
        rows = self.page.locator("#tc-rows .tc-row").count()
        assert rows <= min(n, 60) and (n == 0) == (rows == 0)  # only the rows in view are in the DOM
        return n


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    main(["report", str(BASE), str(FT), "--html", str(out)])
    return out


def test_tables_show_analyze_numbers(browser: Any, report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    main(["analyze", str(BASE), str(FT), "--workers", "1"])
    text = capsys.readouterr().out.splitlines()
    page = Page(browser, report)
    seen = 0
    for i, line in enumerate(text):
        m = re.match(r"(\S+) / (\S+) \[(\S+)\]: n=(\d+)", line)
        if not m:
            continue
        key = "|".join(m.groups()[:3])
        pass1, rpass = EST.findall(text[i + 1])
        rates = EST.findall(text[i + 2])
        assert page.cell("tc-summary", key, "n") == m.group(4)
        assert (page.cell("tc-summary", key, "pass@1"), page.cell("tc-summary", key, "Rpass@1")) == (pass1, rpass)
        assert [page.cell("tc-summary", key, c) for c in ("VR", "ER", "MR", "TR")] == rates
        seen += 1
    assert seen == 2
    main(["table", str(BASE), str(FT)])
    lines = capsys.readouterr().out.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert [page.cell("tc-paper", cells[0], h) for h in head] == cells
    assert page.page.locator("#tc-figure svg").count() == 1
    assert page.errors == []


def test_status_verdict_and_search_filters(browser: Any, report: Path, tmp_path: Path) -> None:
    page = Page(browser, report)
    summaries, _ = analyze([BASE, FT], workers=1, progress=False)
    assert page.count() == sum(s.responses for s in summaries) == 32
    for s in summaries:
        run = f"{s.run} (base)" if s.run == "base" else s.run
        for status in STATUSES:
            assert page.count(run=run, status=status) == round(s.rates[status].value * s.responses)
    [f] = BASE.glob("samples_*.jsonl")
    records, _ = read_file(f)
    assert page.count(run="base (base)", verdict="correct") == sum(d.correct == 1.0 for d in records)
    assert page.count(run="base (base)", verdict="wrong") == sum(d.correct == 0.0 for d in records)
    # text search over prompt, trace and answer, case-insensitive
    lines = [json.loads(raw) for path in (BASE, FT) for raw in next(path.glob("samples_*.jsonl")).open()]

    def hits(word: str) -> int:
        n = 0
        for rec in lines:
            t = parse_trace(rec["resps"][0][0], sample_prompt(rec))
            n += any(word in (x or "").lower() for x in (sample_prompt(rec), t.reasoning, t.answer))
        return n

    for word in ("carnival", "step by step", "answer is"):
        assert page.count(search=word.upper()) == hits(word) > 0
    page.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert page.errors == []


def test_transition_filter_matches_compare(browser: Any, report: Path) -> None:
    page = Page(browser, report)
    [c], _ = compare([BASE], [FT])
    total = 0
    for s in STATUSES:
        for t in STATUSES:
            n = page.count(run="finetuned", trans=f"{s} → {t}")
            assert n == c.transitions[s][t], (s, t)
            assert page.cell("tc-trans-0", s, t) == str(c.transitions[s][t])
            total += n
    assert total == c.pairs == 16
    vr = f"{c.vr[0]:.3f}"
    assert page.cell("tc-delta-0", "VR", "base") == vr
    assert page.errors == []


def test_a_sample_shows_prompt_trace_and_answer_apart(browser: Any, report: Path) -> None:
    page = Page(browser, report)
    page.count(run="base (base)", status="valid")
    page.page.locator("#tc-rows .tc-row").first.click()
    detail = page.page.locator("#tc-detail")
    assert detail.locator("h3").all_text_contents() == ["Prompt", "Gold answer", "Trace", "Answer",
                                                         "This document, side by side"]  # fmt: skip
    pre = detail.locator("pre").all_text_contents()
    first = json.loads(next(BASE.glob("samples_*.jsonl")).open().readline())
    trace = parse_trace(first["resps"][0][0], sample_prompt(first))
    assert pre[:4] == [sample_prompt(first), first["target"], trace.reasoning, trace.answer]
    assert "grader: correct (score 1)" in str(detail.text_content()) and "valid" in str(detail.text_content())
    assert page.errors == []


def test_checkpoints_are_ordered_by_step(browser: Any, tmp_path: Path) -> None:
    for name, src in (("checkpoint-1000", FT), ("checkpoint-50", BASE), ("checkpoint-200", FT)):
        shutil.copytree(src, tmp_path / "runs" / name)
    out = tmp_path / "steps.html"
    main(["report", str(tmp_path / "runs"), "--html", str(out)])
    page = Page(browser, out)
    options = page.page.locator("#f-run option").all_text_contents()
    assert options == ["all", "checkpoint-50 (base)", "checkpoint-200", "checkpoint-1000"]
    keys = page.page.locator("#tc-summary tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    assert [k.split("|")[0] for k in keys] == ["checkpoint-50", "checkpoint-200", "checkpoint-1000"]
    assert "training step" in str(page.page.locator("#tc-figure").inner_html())  # the curves panel
    assert page.page.locator(".tc-compare").count() == 2  # the base against each later checkpoint
    assert page.errors == []


def test_long_texts_and_hostile_markup(browser: Any, tmp_path: Path) -> None:
    run = tmp_path / "hostile"
    run.mkdir()
    trace = "step " * 2000 + "</script><script>window.hacked = 1</script>"
    rec = {
        "doc_id": 0,
        "arguments": {"gen_args_0": {"arg_0": "Q <b>bold</b>?", "arg_1": {}}},
        "filter": "none",
        "resps": [[f"<think>{trace}</think>The answer is 4."]],
        "metrics": ["exact_match"],
        "exact_match": 1.0,
    }
    (run / "samples_t_2026-01-01T00-00-00.jsonl").write_text(json.dumps(rec) + "\n")  # fmt: skip
    out = tmp_path / "h.html"
    main(["analyze", str(run), "--workers", "1", "--html", str(out)])
    page = Page(browser, out)
    assert page.count() == 1 and page.page.evaluate("window.hacked") is None
    page.page.locator("#tc-rows .tc-row").first.click()
    button = page.page.locator("#tc-detail button")
    assert button.count() == 1 and f"{len(shorten(trace, 4000)):,} characters kept" in str(button.text_content())
    button.click()
    kept = page.page.locator("#tc-detail pre").nth(2).text_content()  # prompt, gold answer, trace
    assert kept == shorten(trace, 4000) and "characters cut" in str(kept)
    assert page.page.locator("#tc-detail pre").first.text_content() == "Q <b>bold</b>?"
    assert page.errors == []


def test_the_page_leads_with_the_finding(browser: Any, report: Path) -> None:
    """The first section is the finding: per task each run's VR and pass@1 against the base,
    compare's Δ and interval, coloured by the change; the summary and comparison tables start
    with VR, pass@1, Rpass@1, in view at 900 px."""
    [c], _ = compare([BASE], [FT])
    vr, p1 = c.changes["valid_rate"], c.changes["pass@1"]
    page = Page(browser, report, width=900)
    assert page.page.locator("main > section").first.get_attribute("id") == "tc-headline"
    sentence = str(page.page.locator("#tc-headline .tc-sentence").first.text_content())
    assert sentence.startswith("tc_gsm8k_256 [answer], against base: VR fell in 1 of 1 run, rose in none; pass@1 fell")

    def cell(table: str, key: str, col: str) -> Any:
        return page.page.locator(f'#{table} tr[data-key="{key}"] td[data-col="{col}"]')

    delta = cell("tc-head-0", "finetuned", "Δ VR")
    assert delta.text_content() == f"{vr.delta:+.3f} [{vr.lo:+.3f}, {vr.hi:+.3f}]" and vr.hi < 0
    assert delta.get_attribute("class") == "tc-worse"  # VR fell beyond its interval
    assert cell("tc-head-0", "finetuned", "Δ pass@1").get_attribute("class") == "tc-same"  # holds 0
    assert p1.lo < 0 < p1.hi  # no document changed: the interval keeps a width
    heads = page.page.locator("#tc-summary thead th").all_text_contents()
    assert heads[:5] == ["run", "task", "VR", "pass@1", "Rpass@1"]
    assert cell("tc-summary", "finetuned|tc_gsm8k_256|answer", "VR").get_attribute("class") == "tc-worse"
    for table in ("tc-summary", "tc-head-0"):  # the finding's columns are on screen at 900 px
        for col in ("VR", "pass@1", "Rpass@1"):
            box = page.page.locator(f"#{table} thead th", has_text=col).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 900, (table, col)
    rows = page.page.locator("#tc-delta-0 tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    assert rows[:3] == ["VR", "pass@1", "Rpass@1"]
    assert cell("tc-delta-0", "VR", "Δ").get_attribute("class") == "tc-worse"
    assert page.errors == []


def test_the_gate_verdict_leads_the_page(browser: Any, tmp_path: Path) -> None:
    """``report --gate``: the gate's verdict is the page's first section, in view at 900 px, before
    the finding; one row per gate with compare --gate's base, new, Δ, interval, limit and result
    (FAIL red, PASS green); the command exits 1 (a gate fails), as compare --gate does."""
    from lm_eval_tracecollapse.report.gate import evaluate, gate_cells, load_gates

    out = tmp_path / "gated.html"
    spec = "valid_rate:-0.05, pass@1:-0.03"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(BASE), str(FT), "--html", str(out), "--gate", spec, "--workers", "1"])
    assert exit_info.value.code == 1
    page = Page(browser, out, width=900)
    sections = page.page.locator("main > section")
    assert sections.nth(0).get_attribute("id") == "tc-gate" and sections.nth(1).get_attribute("id") == "tc-headline"
    banner = page.page.locator("#tc-gate")
    assert banner.get_attribute("class") == "tc-fail"
    verdict = str(banner.locator(".tc-verdict").text_content())
    assert (
        verdict
        == "Gate FAILED: 1 of 2 gates pass, 1 fail, 0 missing; each run against the base run base (exit status 1)"
    )
    box = banner.bounding_box()
    assert box is not None and box["y"] < 300 and box["x"] + box["width"] <= 900  # at the top, in view
    [c], _ = compare([BASE], [FT])
    rows, _ = evaluate([c], load_gates(spec))
    for row in rows:  # each gate's cells are compare --gate's
        key = f"finetuned|tc_gsm8k_256|answer|{row.gate.metric}"
        cells = page.page.locator(f'#tc-gate-table tr[data-key="{key}"] td').all_text_contents()
        assert cells == ["finetuned", *gate_cells(row)]
        colour = page.page.locator(f'#tc-gate-table tr[data-key="{key}"] td[data-col="result"]').get_attribute("class")
        assert colour == {"FAIL": "tc-worse", "PASS": "tc-better"}[row.result]
    assert [r.result for r in rows] == ["FAIL", "PASS"]  # VR fell by 0.5; pass@1 held
    assert page.cell("tc-gate-table", "finetuned|tc_gsm8k_256|answer|valid_rate", "limit") == "valid_rate:-0.05"
    assert page.errors == []


def test_gold_side_by_side_keys_url_and_export(browser: Any, report: Path) -> None:
    """A fine-tuned row shows its gold answer and the base run's response to the same
    document beside its own; ↓ moves the selection; the filters and the selection are in the
    address (reopened from it, the page shows them again); export gives the filtered rows as JSONL."""
    page = Page(browser, report)
    n = page.count(run="finetuned", status="missing")
    page.page.locator("#tc-rows .tc-row").first.click()
    ft = [json.loads(x) for x in next(FT.glob("samples_*.jsonl")).open()]
    base = {r["doc_id"]: r for r in (json.loads(x) for x in next(BASE.glob("samples_*.jsonl")).open())}
    missing = [r for r in ft if parse_trace(r["resps"][0][0], sample_prompt(r)).status == "missing"]
    assert n == len(missing) > 1
    first = missing[0]
    detail = page.page.locator("#tc-detail")
    pre = detail.locator("pre").all_text_contents()
    assert pre[1] == first["target"]  # the gold answer
    mine = parse_trace(first["resps"][0][0], sample_prompt(first))
    theirs = parse_trace(base[first["doc_id"]]["resps"][0][0], sample_prompt(base[first["doc_id"]]))
    pair = detail.locator(".tc-pair > div")
    assert (
        pair.nth(0).locator("h4").text_content() == "base: base"
        and pair.nth(1).locator("h4").text_content() == "finetuned"
    )
    assert pair.nth(0).locator("pre").all_text_contents() == [theirs.reasoning or "(empty)", theirs.answer]
    assert pair.nth(1).locator("pre").all_text_contents() == ["(no trace: status missing)", mine.answer]
    page.page.keyboard.press("ArrowDown")  # the list has the focus after the click
    assert page.page.locator("#tc-rows .tc-row.sel .meta").text_content().endswith(f"#{missing[1]['doc_id']}")
    url = page.page.url
    assert "run=1" in url and "status=2" in url and "sel=" in url
    again = Page(browser, url)
    assert again.page.input_value("#f-run") == "1" and again.page.input_value("#f-status") == "2"
    assert int(str(again.page.get_attribute("#tc-count", "data-count"))) == n
    assert str(again.page.locator("#tc-detail p").first.text_content()).endswith(
        f"doc_id {missing[1]['doc_id']} · response 1 of 1 · base status "
        f"{parse_trace(base[missing[1]['doc_id']]['resps'][0][0]).status.value}"
    )
    with again.page.expect_download() as download:
        again.page.click("#tc-export")
    lines = [json.loads(x) for x in Path(download.value.path()).read_text().splitlines()]
    assert [(x["run"], x["status"], x["doc_id"], x["answer"], x["gold"]) for x in lines] == [
        ("finetuned", "missing", r["doc_id"], parse_trace(r["resps"][0][0]).answer, r["target"]) for r in missing
    ]
    assert page.errors == [] and again.errors == []


# ---------------------------------------------------------------- training curves

ARMS = {"sft: answer only": [(0, 1.0, 0.5), (40, 0.25, 0.3), (80, 0.0, 0.45)],
        "mask: real trace masked": [(0, 1.0, 0.5), (40, 1.0, 0.9), (80, 1.0, 1.0)]}  # fmt: skip


def _study(root: Path) -> Path:
    """A study's folder: its evaluations under eval/ (the fixture's runs) and the curves file
    the study writes beside them, its points out of order."""
    for name, src in (("base", BASE), ("sft_answer_only_seed0_step80", FT)):
        shutil.copytree(src, root / "eval" / name)
    curves = {arm: [{"step": s, "valid_rate": vr, "pass@1": p1, "seconds": 0.1} for s, vr, p1 in reversed(points)]
              for arm, points in ARMS.items()}  # fmt: skip
    (root / "training_curves.json").write_text(json.dumps(curves))
    return root / "eval"


def test_training_curves_are_found_beside_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A study's training_curves.json above its runs, a Trainer's trainer_state.json (its
    latest checkpoint's) above the trace monitor's runs; none beside the fixture's runs; a
    curves file that is not one is said in one line."""
    from lm_eval_tracecollapse.report.curves import find_curves

    runs = _study(tmp_path / "study")
    for given in ([runs], [runs / "base"], [runs / "base", runs / "sft_answer_only_seed0_step80"]):
        curves, files = find_curves(given)
        assert files == [(tmp_path / "study" / "training_curves.json").absolute()]
        got = {arm: [(p["step"], p["valid_rate"], p["pass@1"]) for p in points] for arm, points in curves.items()}
        assert got == ARMS  # points in step order
    out = tmp_path / "train"  # TraceMonitorCallback: <output_dir>/trace_monitor/step-N/, the log in each checkpoint
    for step in (0, 20):
        shutil.copytree(BASE, out / "trace_monitor" / f"step-{step}")
    log = [{"trace/valid_rate": 1.0, "trace/pass@1": 0.5, "trace/eval_seconds": 0.2, "step": 0},
           {"loss": 1.2, "step": 10}, {"trace/valid_rate": 0.25, "trace/eval_seconds": 0.2, "step": 20}]  # fmt: skip
    for step, upto in ((10, 2), (20, 3)):
        (out / f"checkpoint-{step}").mkdir(parents=True)
        (out / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"log_history": log[:upto]}))
    curves, files = find_curves([out / "trace_monitor"])
    assert files == [(out / "checkpoint-20" / "trainer_state.json").absolute()]
    assert [(p["step"], p["valid_rate"], p["pass@1"] == p["pass@1"]) for p in curves["train"]] == [
        (0, 1.0, True), (20, 0.25, False)]  # no gold answer at step 20: pass@1 NaN  # fmt: skip
    assert find_curves([BASE, FT]) == ({}, [])
    (tmp_path / "study" / "training_curves.json").write_text("[1, 2]")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(runs), "--html", str(tmp_path / "r.html")])
    err = [x for x in capsys.readouterr().err.replace("\r", "\n").splitlines() if "training_curves.json" in x]
    assert exc.value.code == 1 and len(err) == 1 and "training curves are an object" in err[0]


def test_the_page_shows_the_training_curves(browser: Any, report: Path, tmp_path: Path) -> None:
    """Runs of a study: a section after the status bars with valid-trace rate and pass@1 over
    the steps, one line per arm in each panel, and the points in a table; none without curves."""
    out = tmp_path / "study.html"
    main(["report", str(_study(tmp_path / "study")), "--html", str(out)])
    page = Page(browser, out, width=900)
    section = page.page.locator("#tc-curves")
    assert section.is_visible() and "training_curves.json" in str(section.locator("p").first.text_content())
    for panel in (0, 1):  # valid-trace rate, pass@1: one line per arm, drawn
        lines = section.locator(f'svg g[id^="series-{panel}-"]')
        assert lines.count() == len(ARMS)
        boxes = [lines.nth(i).locator("path").first.bounding_box() for i in range(len(ARMS))]
        assert all(box is not None and box["width"] > 100 for box in boxes)  # a line across the steps (maybe flat)
    heads = section.locator("thead th").all_text_contents()
    assert heads == ["arm", "metric", "step 0", "step 40", "step 80"]
    for arm, points in ARMS.items():
        for label, j in (("VR", 1), ("pass@1", 2)):
            cells = section.locator(f'tr[data-key="{arm}|{label}"] td').all_text_contents()
            assert cells == [arm, label, *(f"{p[j]:.3f}" for p in points)]
    titles = page.page.locator("main > section > h2").all_text_contents()
    assert titles.index("Training curves") == titles.index("Status bars") + 1
    assert page.errors == []
    assert Page(browser, report).page.locator("#tc-curves").count() == 0  # runs without curves: no section
