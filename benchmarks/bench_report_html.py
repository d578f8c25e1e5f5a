"""``tracecollapse report --html`` on 100,000 samples: page size and load time in Chromium.

Usage::

    .venv/bin/python benchmarks/bench_report_html.py [--n 100000] [--repeat 3]

Synthesises ``--n`` lm-eval sample lines (lines shaped like lm-eval 0.4.13's ``samples_*.jsonl``)
spread over four checkpoints (``checkpoint-500`` ... ``checkpoint-2000``) of one task,
with 150-char prompts, 0.3-6 kB traces of mixed statuses and short answers; builds the
page; then opens it from disk in headless Chromium (Debian's ``chromium``, driven by
Playwright) and times: load until the browser is ready (data parsed, first rows drawn),
a status filter, a text search, and a scroll to the end; counts the rows in the DOM.
Prints the figures; asserts nothing about timing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_args

from lm_eval_tracecollapse.report.html import write_report

WORDS = "so we add the carry and get the total then check it again because twelve plus nine".split()


def synthesise(root: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    runs = [f"checkpoint-{500 * (i + 1)}" for i in range(4)]
    per_run = n // len(runs)
    for r, run in enumerate(runs):
        folder = root / run
        folder.mkdir(parents=True)
        with (folder / "samples_bench_2026-01-01T00-00-00.000000.jsonl").open("w") as fh:
            for doc in range(per_run + (n % len(runs) if r == 0 else 0)):
                trace = " ".join(rng.choices(WORDS, k=rng.randint(50, 1000)))
                kind = rng.choices(["valid", "empty", "missing", "truncated"], [6 - r, 1 + r, 1 + r, 1])[0]
                answer = f"The answer is {doc % 97}."
                resp = {"valid": f"<think>{trace}</think>{answer}", "empty": f"<think></think>{answer}",
                        "missing": answer, "truncated": f"<think>{trace}"}[kind]  # fmt: skip
                prompt = f"Question {doc}: " + " ".join(rng.choices(WORDS, k=25)) + "?"
                rec = {"doc_id": doc, "doc": {"q": doc}, "target": str(doc % 97),
                       "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": []}}},
                       "resps": [[resp]], "filtered_resps": [answer], "filter": "none",
                       "metrics": ["exact_match"], "exact_match": float(rng.random() < 0.6),
                       "prompt_hash": f"h{doc}"}  # fmt: skip
                fh.write(json.dumps(rec) + "\n")


def browse(page_path: Path, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("no chromium: apt-get install -y chromium (see the Makefile's browser step)")
    best: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            figures = {"load_s": time.perf_counter() - start}
            figures["rows_in_dom"] = page.locator("#tc-rows .tc-row").count()
            timed = """([id, value, search]) => {
                document.getElementById('f-search').value = search;
                const s = document.getElementById(id), t = performance.now();
                s.value = value; s.dispatchEvent(new Event('change'));  // filters and draws synchronously
                return [performance.now() - t, Number(document.getElementById('tc-count').dataset.count)]; }"""
            figures["filter_s"], figures["missing_rows"] = page.evaluate(timed, ["f-status", "2", ""])
            figures["filter_s"] /= 1000
            figures["search_s"], figures["search_hits"] = page.evaluate(timed, ["f-status", "", "question 4242:"])
            figures["search_s"] /= 1000
            page.evaluate(timed, ["f-status", "", ""])
            start = time.perf_counter()
            page.evaluate("() => { const l = document.getElementById('tc-list'); l.scrollTop = l.scrollHeight; }")
            page.wait_for_timeout(50)
            figures["scroll_s"] = time.perf_counter() - start
            figures["rows_in_dom_after_scroll"] = page.locator("#tc-rows .tc-row").count()
            if errors:
                sys.exit(f"page errors: {errors}")
            page.close()
            for k, v in figures.items():
                best[k] = min(best.get(k, v), v)
        browser.close()
    return best


def main() -> None:
    args = bench_args(__doc__, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        start = time.perf_counter()
        synthesise(root, args.n, args.seed)
        print(f"synthesised {args.n:,} sample lines in {time.perf_counter() - start:.1f} s")
        mb = sum(f.stat().st_size for f in root.rglob("*.jsonl")) / 1e6
        for label, workers in (("one core", 1), (f"every core ({os.cpu_count()} processes)", None)):
            start = time.perf_counter()
            out, _ = write_report([root], Path(tmp) / "report.html", workers=workers)
            seconds = time.perf_counter() - start
            print(f"built the page on {label} in {seconds:.1f} s ({mb / seconds:.1f} MB/s of {mb:,.0f} MB; "
                  f"target <= 20 s): {out.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        for k, v in browse(out, args.repeat).items():
            print(f"  {k:<26} {v:.3f}" if k.endswith("_s") else f"  {k:<26} {int(v)}")


if __name__ == "__main__":
    main()
