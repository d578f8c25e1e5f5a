"""Assemble the one-file HTML report: tables, the figure as inline SVG, the comparisons,
the sample browser (data as JSON in ``<script type="application/json">``, script and
style inline from ``assets/``).  Nothing in the page loads anything from a network.

Example:
    >>> from pathlib import Path
    >>> fixture = Path("tests/fixtures/lm_eval_run")
    >>> if fixture.is_dir():
    ...     import tempfile
    ...     out, problems = write_report([fixture], Path(tempfile.mkdtemp()) / "r.html")
    ...     text = out.read_text()
    ...     print("<svg" in text, 'type="application/json"' in text, problems.skipped)
    ... else:
    ...     print(True, True, 0)
    True True 0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from ...atomic import write_text_atomic
from ...samples.records import DocRecord, Problems
from ...samples.runs import Run
from ..curves import Curves, find_curves
from ..render import analyze_text, compare_text, plot
from ..summary import Comparison, TaskSummary, compare_records, keyed_records, summarize
from .curves import curves_section
from .data import BrowserData, read_browser_data, to_json
from .gate import PageGate
from .headline import changes_by_run, headline_html
from .svg import inline_svg
from .tables import at_k_table, compare_tables, paper_html, summary_table, to_html

__all__ = ["build_page", "write_page", "write_report"]


def _asset(name: str) -> str:
    return (files("lm_eval_tracecollapse.report.html") / "assets" / name).read_text(encoding="utf-8")


def figure_svg(summaries: list[TaskSummary]) -> str:
    """:func:`..render.plot`'s figure (status bars; VR and pass@1 over steps for
    checkpoints) as an inline ``<svg>`` element (its XML prolog dropped)."""
    return inline_svg(lambda path: plot(summaries, path))


def _comparisons(data: BrowserData, bar: Any = None) -> list[tuple[str, str, list[Comparison]]]:
    """``compare`` of the base run with every other run, on the records already read (``bar``:
    a progress bar ticked once per run compared)."""
    if data.base is None:
        return []
    by_run: dict[str, list[DocRecord]] = defaultdict(list)
    for d in data.docs:
        by_run[d.run].append(d)
    base = data.runs[data.base]
    base_records = keyed_records(by_run[base])
    out = []
    for run in data.runs:
        if run != base:
            out.append((base, run, compare_records(base_records, keyed_records(by_run[run]))[0]))
            if bar is not None:
                bar.update()
    return out


def build_page(
    data: BrowserData,
    summaries: list[TaskSummary],
    comparisons: list[tuple[str, str, list[Comparison]]],
    texts: tuple[str, str] = ("", ""),
    title: str = "tracecollapse report",
    gate: str = "",  # report --gate: the verdict's banner (PageGate.apply), shown first
    curves: Curves | None = None,
    curve_sources: Sequence[str | Path] = (),
) -> str:
    """The page's HTML; ``texts`` are ``analyze``'s and ``compare``'s text output, kept
    verbatim in collapsed sections; ``curves``: the training curves of the runs (a study's,
    the trace monitor's: :mod:`..curves`), drawn after the status bars, and the files they
    come from."""
    if not summaries:
        raise ValueError("nothing to report: no usable sample line")
    figure = f'<figure id="tc-figure">{figure_svg(summaries)}</figure>'
    changes = changes_by_run(comparisons)
    parts = [
        headline_html(summaries, changes, data.runs[data.base] if data.base is not None else None),
        f"<section><h2>Summary</h2>{to_html(summary_table(summaries, changes))}</section>",
        f"<section><h2>Paper table</h2>{to_html(paper_html(summaries))}</section>",
        f"<section><h2>Status bars</h2>{figure}</section>",
        curves_section(curves or {}, curve_sources),
    ]
    if (several := at_k_table(summaries)) is not None:  # repeats: pass@k, rpass@k, maj@k, ...
        parts.insert(2, f"<section><h2>Several responses per document</h2>{to_html(several)}</section>")
    if gate:  # report --gate: the verdict before anything else
        parts.insert(0, gate)
    blocks = []
    index = 0
    for base, run, comps in comparisons:
        for c in comps:
            deltas, trans = compare_tables(base, run, c, index)
            blocks.append(f'<details class="tc-compare"{" open" if index == 0 else ""} data-base="{escape(base)}" '
                          f'data-run="{escape(run)}" data-task="{escape(c.task)}" data-pipeline="{escape(c.pipeline)}">'
                          f"<summary>{escape(deltas.caption)}</summary><div>{to_html(deltas)}{to_html(trans)}</div>"
                          "</details>")  # fmt: skip
            index += 1
    if blocks:
        parts.append(f"<section><h2>Comparisons</h2>{''.join(blocks)}</section>")
    parts.append(_asset("browser.html"))
    for name, text in zip(("analyze", "compare"), texts, strict=True):
        if text:
            parts.append(f"<details><summary>{name} output</summary><pre>{escape(text)}</pre></details>")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_asset('report.css')}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{len(data.runs)} run(s), {len(data.groups)} task pipeline(s), "
        f"{data.size:,} responses · written {stamp}</p></header><main>{''.join(parts)}</main>"
        f'<script type="application/json" id="tc-data">{to_json(data)}</script>'
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


def _target(out: str | Path) -> Path:
    """The report's path (``.html`` added when it has no suffix), its folder checked."""
    out = Path(out)
    if not out.suffix:
        out = out.with_name(out.name + ".html")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write the report {out}: folder {out.parent} does not exist")
    return out


def write_report(
    paths: list[str | Path],
    out: str | Path,
    fmt: str = "auto",
    strict: bool = False,
    base: str | None = None,
    budget_mb: float = 32.0,
    summaries: list[TaskSummary] | None = None,
    workers: int | None = 1,
    progress: bool = False,
    runs: list[Run] | None = None,
    gate: PageGate | None = None,
) -> tuple[Path, Problems]:
    """Read the samples under ``paths`` and write the report to ``out`` (``.html`` added
    when it has no suffix); returns the path written and the lines skipped.  ``summaries``: ``analyze``'s,
    when already computed (else they are computed from the same records).  Files are read
    in ``workers`` processes (None: the CPU count), with a progress bar with ``progress``;
    ``runs``: the runs under ``paths``, when already found; ``gate``: checked on the page's
    comparisons and shown first (its ``status`` set: ``report --gate``'s exit status).

    The page shows the training curves found beside the runs (:func:`..curves.find_curves`:
    a study's ``training_curves.json``, a Trainer's ``trainer_state.json`` with trace
    monitor rows, in a given folder or up to two above it).

    Raises:
        ValueError: ``out``'s folder does not exist, ``base`` is not a run, nothing usable,
            a curves file that is not one.
    """
    out = _target(out)
    curves, sources = find_curves(paths)
    data, problems = read_browser_data(paths, fmt, strict, base, budget_mb, workers, progress, runs)
    written, _ = write_page(data, out, summaries, progress=progress, curves=curves, curve_sources=sources, gate=gate)
    return written, problems


def write_page(
    data: BrowserData,
    out: str | Path,
    summaries: list[TaskSummary] | None = None,
    progress: bool = False,
    curves: Curves | None = None,
    curve_sources: Sequence[str | Path] = (),
    gate: PageGate | None = None,
) -> tuple[Path, list[tuple[str, str, list[Comparison]]]]:
    """:func:`write_report` on samples already read (:func:`read_browser_data`); returns the
    path written and the comparisons it shows (``(base run, run, compare's results)`` for
    every other run), so a caller needing them does not compute them again.  With
    ``progress``, a bar on stderr over the steps: summaries, each comparison, the page, writing it;
    ``curves``: as :func:`build_page`'s."""
    from tqdm.auto import tqdm

    out = _target(out)
    others = len(data.runs) - 1 if data.base is not None else 0
    with tqdm(total=3 + others, desc="building the page", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("summaries")
        summaries = summaries if summaries is not None else summarize(data.docs)
        order = {r: i for i, r in enumerate(data.runs)}  # checkpoints by step, as in the browser
        summaries = sorted(summaries, key=lambda s: order.get(s.run, len(order)))
        bar.update()
        bar.set_postfix_str("comparisons")
        comparisons = _comparisons(data, bar)
        cmp_text = "\n".join(f"{b} → {r}\n{compare_text(c)}" for b, r, c in comparisons if c)
        bar.set_postfix_str("figure, tables, data")
        texts = (analyze_text(summaries), cmp_text)
        banner = "" if gate is None else gate.apply(comparisons)
        page = build_page(data, summaries, comparisons, texts, curves=curves, curve_sources=curve_sources, gate=banner)
        bar.update()
        bar.set_postfix_str(f"writing {out.name} ({len(page) / 1e6:.1f} MB)")
        write_text_atomic(out, page)
        bar.update()
    return out, comparisons
