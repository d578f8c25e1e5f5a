"""``tracecollapse analyze`` and ``report --html``: throughput and memory on generated samples files.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--n 1000] [--repeat 1]

``--n`` is the size of the generated folder in MB (default 1000, i.e. 1 GB): four lm-eval
``samples_*.jsonl`` files (four tasks) with lines shaped like lm-eval 0.4.13's, two filter
pipelines per document, responses of 0.5-30 kB whose text mixes prose, arithmetic and code
(``<`` comparisons, HTML in answers), with mixed trace statuses and 5 % of the traces ending
in a repetition loop.  The folder is made twice: **with our rows on the lines** (as a ``_tc``
run writes them: the failure-kind rows are read, not recomputed) and **without** (every row
recomputed, as for a stock task's samples).  Each is analysed in a fresh child process (so
its peak RSS is the analysis alone) on one core (``--workers 1``) and on every core, and its
HTML report is built on one core.  Printed: MB/s and peak RSS of each, and the speed of a
bare ``json.loads`` pass over the same lines in this process (the floor of any JSONL
reader).  Targets: analyze >= 50 MB/s, report --html >= 20 MB/s, peak RSS < 500 MB.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_args

CHILD = """
import resource, sys, time
from lm_eval_tracecollapse.report import analyze
from lm_eval_tracecollapse.report.html import write_report
folder, mode, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None
start = time.perf_counter()
if mode == "analyze":
    summaries, problems = analyze([folder], workers=workers, progress=False)
else:
    _, problems = write_report([folder], folder + ".html", workers=workers)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(seconds, max(peak, children), problems.skipped)
"""
#: (label, mode, workers: 0 = every core)
RUNS = (("analyze, one core", "analyze", 1), ("analyze, every core", "analyze", 0),
        ("report --html, one core", "html", 1))  # fmt: skip
FILES = 4


_PROSE = (
    "so we add the carry and get the total then check it again because the sum must be even while each "
    "term of this series grows slower than its square root which means that our bound holds for every "
    "large enough value next consider why a remainder cannot exceed what was divided here since both "
    "sides count equal objects suppose instead they differ then some pair would appear twice hence "
    "contradiction let me verify small cases first note how parity changes after every swap alternatively "
    "compute directly using modular arithmetic recall that primes above three leave remainder one or five"
).split()
_MATH = ("{a} + {b} = {c}", "x < {a}", "{a} * {b} = {d}", "a <= b + {a}", "({a} + {b}) * 2 = {e}",
         "if n < {a} then n^2 < {f}")  # fmt: skip
_CODE = ("for i in range({a}):", "    if a[i] < a[i - {b}]:", "        return False", "<div>total {c}</div>",
         "x{a} = [k for k in d{b}]")  # fmt: skip
_LOOP = "Wait, let me recheck the sum. 12 + 30 = 42. "
_ROWS = ("valid_rate", "empty_rate", "missing_rate", "truncated_rate", "answer_rate", "loop_rate",
         "truncated_loop_rate", "truncated_progress_rate", "degenerate_rate", "trace_length_words",
         "answer_length_words")  # fmt: skip


def _trace(rng: random.Random) -> str:
    size = rng.randint(500, 30_000)
    if rng.random() < 0.05:
        return _LOOP * (size // len(_LOOP) + 1)
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        kind = rng.random()
        if kind < 0.6:
            parts.append(" ".join(rng.choice(_PROSE) for _ in range(rng.randint(3, 12))))
            continue
        pool = _MATH if kind < 0.8 else _CODE
        for _ in range(rng.randint(1, 4)):  # new numbers in every step, as reasoning that progresses
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            parts.append(rng.choice(pool).format(a=a, b=b, c=a + b, d=a * b, e=2 * (a + b), f=a * a))
    return "\n".join(parts)


def response(rng: random.Random) -> tuple[float, str, str, str]:
    """One generated response: (its kind draw, trace, answer, the whole text) — 60 % valid,
    10 % empty, 10 % truncated, 20 % missing a trace."""
    kind = rng.random()
    trace = _trace(rng) if kind < 0.9 else ""
    answer = rng.choice(["The answer is 7.", "<b>7</b>", "x < 7, so 6."])
    resp = (f"<think>{trace}</think>{answer}" if kind < 0.6 else
            f"<think></think>{answer}" if kind < 0.7 else
            f"<think>{trace}" if kind < 0.8 else answer)  # fmt: skip
    return kind, trace, answer, resp


def write_file(path: Path, megabytes: int, seed: int, rows: bool = False) -> int:
    """A samples file of about ``megabytes`` MB (see the module docstring); ``rows``: with our
    rows on each line, as a ``_tc`` run stores them (the values are the generator's, not
    measured: analyze reads them as they are)."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = doc = 0
    with path.open("w") as fh:
        while written < target:
            kind, trace, answer, resp = response(rng)
            for filt in ("strict-match", "flexible-extract"):
                rec: dict[str, object] = {
                    "doc_id": doc, "doc": {"question": f"q{doc}", "answer": "7"}, "target": "7",
                    "arguments": {"gen_args_0": {"arg_0": f"Question {doc}?", "arg_1": {"until": []}}},
                    "resps": [[resp]], "filtered_resps": ["7"], "filter": filt,
                    "metrics": ["exact_match"], "doc_hash": "d", "prompt_hash": f"p{doc}", "target_hash": "t",
                    "exact_match": float(kind < 0.5),
                }  # fmt: skip
                if rows:
                    rec.update(dict.fromkeys(_ROWS, 0.0))
                    rec["trace_length_words"] = float(len(trace.split()))
                    rec["answer_length_words"] = float(len(answer.split()))
                line = json.dumps(rec) + "\n"
                fh.write(line)
                written += len(line)
            doc += 1
    return written


def load_every_line(path: Path) -> None:
    """A bare ``json.loads`` of every line of ``path``: the floor of any JSONL reader."""
    with path.open("rb") as fh:
        for raw in fh:
            json.loads(raw)


def _child(folder: Path, mode: str, workers: int, repeat: int) -> tuple[float, float, int]:
    """Best (seconds, peak RSS MB, skipped lines) of ``repeat`` fresh processes."""
    best: tuple[float, float, int] | None = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode, str(workers)], capture_output=True,
                             text=True, check=True)  # fmt: skip
        seconds, peak, skipped = out.stdout.split()
        if best is None or float(seconds) < best[0]:
            best = (float(seconds), float(peak), int(skipped))
    assert best is not None
    return best


def main() -> None:
    args = bench_args(__doc__, 1000)
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        for label, rows in (
            ("with our rows on the lines (a _tc run)", True),
            ("rows recomputed (stock samples)", False),
        ):
            folder = Path(tmp) / ("rows" if rows else "plain")
            folder.mkdir()
            files = [folder / f"samples_bench{i}_2026-01-01T00-00-00.000000.jsonl" for i in range(FILES)]
            mb = sum(write_file(f, args.n // FILES, args.seed + i, rows=rows) for i, f in enumerate(files)) / 1e6
            start = time.perf_counter()
            for f in files:
                load_every_line(f)
            floor = mb / (time.perf_counter() - start)
            print(f"{mb:,.0f} MB in {FILES} samples files, {label}; bare json.loads of every line: "
                  f"{floor:,.0f} MB/s (the floor for any JSONL reader)")  # fmt: skip
            for what, mode, workers in RUNS:
                seconds, peak, skipped = _child(folder, mode, workers, args.repeat)
                target = 50 if mode == "analyze" else 20
                cores = f" ({cpus} processes)" if workers == 0 else ""
                print(f"  {what + cores:<34} {mb / seconds:7.1f} MB/s ({seconds:6.1f} s), peak RSS {peak:,.0f} MB, "
                      f"{(mb / seconds) / floor:.3f}x json.loads (targets: >= {target} MB/s, < 500 MB)"
                      + (f", {skipped} skipped lines" if skipped else ""))  # fmt: skip
            for f in files:
                f.unlink()


if __name__ == "__main__":
    main()
