"""The benchmarks' CI smoke: small sizes, each figure a ratio to a baseline timed in the same run,
and floors far below the goals, so a 10x slowdown fails ``make test`` on any machine (well under
60 s on 2 cores).  ``make bench`` runs the full benchmarks; this guards them between runs.

Usage::

    .venv/bin/python benchmarks/smoke.py          # exit 1 when a ratio is past its floor

Measured, in one process, interleaved, best of ``--repeat``:

* **parse**: ``parse_trace(fmt="auto")`` one response at a time over ``bench_parse``'s mixed
  corpus, against the bare ``str.find(open)`` + ``str.find(close)`` scan of the same texts;
  and the worst adversarial input (10**6 chars) against a ``str.find`` scan of all of it;
* **analyze**: ``report.analyze`` of a generated samples file whose lines carry our rows (as a
  ``_tc`` run writes them) and of one without (every row recomputed), against a bare
  ``json.loads`` pass over the same lines.

Example:
    >>> verdict(3.0, "<=", 15.0), verdict(0.02, ">=", 0.002)
    ('ok', 'ok')
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_parse import adversarial_inputs, best_of, make_corpus
from bench_report import load_every_line, write_file

#: name -> (comparison, floor): about 10x beyond today's figure on the 2-core dev VM (in brackets)
FLOORS: dict[str, tuple[str, float]] = {
    "parse_auto_vs_find": ("<=", 15.0),  # ours / str.find bound, one call at a time (1.3)
    "parse_adversarial_vs_find": ("<=", 150.0),  # worst adversarial input / a str.find scan of it (10-15)
    "analyze_rows_vs_json": (">=", 0.03),  # analyze MB/s / json.loads MB/s, rows on the lines (0.2-0.3)
    "analyze_recompute_vs_json": (">=", 0.012),  # the same, every row recomputed (0.10-0.15)
}


def verdict(value: float, op: str, floor: float) -> str:
    """``ok`` when ``value`` is on the right side of ``floor``, else ``FAIL``."""
    good = value <= floor if op == "<=" else value >= floor
    return "ok" if good else "FAIL"


def _parse_ratios(repeat: int) -> dict[str, float]:
    from lm_eval_tracecollapse.core.parse import parse_trace

    corpus = make_corpus(5_000, seed=0)
    pairs = [(c[1], c[2], c[3]) for c in corpus]
    texts = [c[3] for c in corpus]
    find = best_of(lambda: [(t.find(o), t.find(c)) for o, c, t in pairs], repeat)
    ours = best_of(lambda: [parse_trace(t) for t in texts], repeat)
    worst, which = 0.0, ""
    for name, text in adversarial_inputs(10**6).items():
        # its str.find scan: both markers searched through the whole text (patterns it never holds)
        base = best_of(lambda text=text: (text.find("<think>\0"), text.find("</think>\0")), repeat)
        ratio = best_of(lambda text=text: parse_trace(text), repeat) / max(base, 1e-6)
        if ratio > worst:
            worst, which = ratio, name
    print(f"bench smoke: worst adversarial input: {which}")
    return {"parse_auto_vs_find": ours / find, "parse_adversarial_vs_find": worst}


def _analyze_ratios(repeat: int) -> dict[str, float]:
    from lm_eval_tracecollapse.report import analyze

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain"
        rows = Path(tmp) / "rows"
        plain.mkdir()
        rows.mkdir()
        name = "samples_gsm8k_tc_2026-01-01T00-00-00.jsonl"
        write_file(plain / name, 4, seed=0)
        write_file(rows / name, 4, seed=0, rows=True)
        for label, folder in (("analyze_recompute_vs_json", plain), ("analyze_rows_vs_json", rows)):
            path = folder / name

            def run(folder: Path = folder) -> None:
                analyze([folder], workers=1, progress=False)

            # (MB / analyze s) / (MB / json.loads s): the same file both ways
            out[label] = best_of(lambda path=path: load_every_line(path), repeat) / best_of(run, repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    repeat = 2
    started = time.perf_counter()
    jobs: list[Callable[[int], dict[str, float]]] = [_parse_ratios, _analyze_ratios]
    ratios: dict[str, float] = {}
    for job in jobs:
        ratios.update(job(repeat))
    failed = 0
    for name, (op, floor) in FLOORS.items():
        v = verdict(ratios[name], op, floor)
        failed += v != "ok"
        print(f"bench smoke: {name:28} {ratios[name]:10.4f}  (floor {op} {floor:g})  {v}")
    print(f"bench smoke: {time.perf_counter() - started:.0f} s, {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
