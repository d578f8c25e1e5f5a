"""The screenshots of the HTML report's top in docs/report.md, taken by this script (never by
hand): the report of the demo's evaluations (``demo_out/eval``, after ``make demo``; the test
fixture's two runs without it), opened from disk in headless Chromium (Debian's ``chromium``
through Playwright, as ``tests/test_html_report.py``) at 900 and 1,400 px wide.

Usage::

    .venv/bin/python docs/report_screenshots.py              # writes docs/report_top_900.png, docs/report_top_1400.png
    .venv/bin/python docs/report_screenshots.py --runs DIR   # another folder of runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
WIDTHS = (900, 1400)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    demo = REPO / "demo_out" / "eval"
    parser.add_argument("--runs", type=Path, default=demo if demo.is_dir() else REPO / "tests/fixtures/lm_eval_run")
    parser.add_argument("--height", type=int, default=900, help="the part of the page shown (px)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from lm_eval_tracecollapse.report.html import write_report

    chromium = os.environ.get("TRACECOLLAPSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no chromium: apt-get install -y chromium (or set TRACECOLLAPSE_CHROMIUM)")
    with tempfile.TemporaryDirectory() as tmp:
        page_path, _ = write_report([args.runs], Path(tmp) / "report.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": args.height})
                page.goto(page_path.resolve().as_uri())
                page.wait_for_selector("body[data-ready='1']")
                out = DOCS / f"report_top_{width}.png"
                page.screenshot(path=str(out))
                print(f"wrote {out.relative_to(REPO)} ({width} x {args.height} px, {args.runs})")
            browser.close()


if __name__ == "__main__":
    main()
