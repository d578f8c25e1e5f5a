"""``make bench``: run every benchmark in ``benchmarks/`` and write its figures where the docs show them.

Each ``bench_*.py`` runs in its own process at its default size.  Its output goes, verbatim, to
``benchmarks/results/<name>.txt`` (committed: the last run's figures) and into the block
``<!-- bench:<name> begin -->`` … ``<!-- bench:<name> end -->`` of ``docs/performance.md``,
with the command and the machine.  ``bench_mask.py`` writes its own tables (``--write-docs``).
``tests/test_docs.py`` fails when a block and its results file disagree, or a benchmark has
none: a figure in the docs is always the last run's.

Usage::

    .venv/bin/python benchmarks/run_all.py            # every benchmark (about 30 min on 2 cores: half is the suite)
    .venv/bin/python benchmarks/run_all.py bench_parse  # one

Example:
    >>> fence("a\\nb")
    '```text\\na\\nb\\n```'
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parent / "docs" / "performance.md"
#: benchmarks that write their own blocks into the docs (their --write-docs)
OWN_DOCS = {"bench_mask": ["--write-docs"]}


def benchmarks() -> list[str]:
    """Every benchmark script's name (``bench_*.py``), sorted."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"


def fence(text: str) -> str:
    """``text`` as the fenced block the docs show."""
    return f"```text\n{text.rstrip()}\n```"


def block(page: str, name: str) -> str | None:
    """The text between ``name``'s markers in ``page`` (None: no block)."""
    begin, end = markers(name)
    if page.count(begin) != 1 or page.count(end) != 1:
        return None
    return page.split(begin)[1].split(end)[0].strip("\n")


def write_block(name: str, text: str) -> None:
    begin, end = markers(name)
    page = PAGE.read_text(encoding="utf-8")
    if block(page, name) is None:
        raise SystemExit(f"{PAGE}: needs exactly one {begin!r} and one {end!r}")
    head, rest = page.split(begin)
    PAGE.write_text(f"{head}{begin}\n{fence(text)}\n{end}{rest.split(end)[1]}", encoding="utf-8")


def run(name: str) -> str:
    """Run one benchmark; its figures (stdout) with a header naming the command and machine."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), *OWN_DOCS.get(name, [])]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    args = " ".join(["benchmarks/" + name + ".py", *OWN_DOCS.get(name, [])])
    head = f"[{args}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {time.perf_counter() - started:.0f} s]"
    return f"{head}\n{proc.stdout.rstrip()}\n"


def main(argv: list[str]) -> int:
    names = argv or benchmarks()
    unknown = sorted(set(names) - set(benchmarks()))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {benchmarks()}")
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        print(f"bench: {name} ...", flush=True)
        text = run(name)
        (RESULTS / f"{name}.txt").write_text(text, encoding="utf-8")
        if name not in OWN_DOCS:
            write_block(name, text)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
