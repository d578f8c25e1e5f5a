"""``make test``'s own run time: the suite on a fresh clone of the last commit, phase by phase.

Usage::

    .venv/bin/python benchmarks/bench_suite.py [--keep]

Clones the repository's ``HEAD`` (committed work only) into a temporary folder, links this
checkout's venvs into it (``.venv``, the engine and lm-eval venvs: the installs are not what
is timed), gives it empty caches (``$XDG_CACHE_HOME``, ``$TRACECOLLAPSE_CACHE``: nothing
warm from earlier runs), and runs ``make suite`` there — the part of ``make test`` after the
installs, ruff and mypy: pytest on every CPU, the timed tests alone, the benchmarks' smoke,
``test-compat`` — less the one test that compares docs/performance.md with the committed
results, which this run is about to rewrite.  Prints each phase's wall time and test counts (from pytest's own summary
lines), the total against the 15-minute goal, and the slowest tests of the parallel phase
(pytest's ``--durations``).  Exits 1 when the suite fails.

Example:
    >>> summary_of("===== 12 passed, 3 skipped, 4 deselected in 61.20s (0:01:01) =====")
    ('12 passed, 3 skipped, 4 deselected', 61.2)
    >>> slowest("== slowest 2 durations ==\\n9.10s call     t.py::a\\n2.00s setup    t.py::b\\n\\n== x ==", 1)
    ['9.10s call     t.py::a']
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 15 * 60
_SUMMARY = re.compile(r"^=+ (?P<counts>\d+ (?:passed|failed).*?) in (?P<secs>[\d.]+)s\b.*=+$", re.M)
_QUIET_SUMMARY = re.compile(r"^(?P<counts>\d+ (?:passed|failed)[^\n]*?) in (?P<secs>[\d.]+)s\b", re.M)
#: what each pytest run of ``make suite`` is, in the order it runs them
PHASES = ["pytest on every CPU (-m 'not serial')", "timed tests alone (-m serial)",
          "test-compat: lm-eval 0.4.12 end to end", "test-compat: lm-eval 0.5.0.dev1 core"]  # fmt: skip


def summary_of(line: str) -> tuple[str, float] | None:
    """(counts, seconds) of a pytest summary line, or None."""
    m = _SUMMARY.match(line.strip()) or _QUIET_SUMMARY.match(line.strip())
    return None if m is None else (m["counts"], float(m["secs"]))


def _clone(dest: Path) -> str:
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    for venv in sorted(REPO.glob(".venv*")):
        (dest / venv.name).symlink_to(venv)
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=dest, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def slowest(out: str, top: int = 10) -> list[str]:
    """The first ``top`` lines of the first ``slowest N durations`` block in pytest's output."""
    lines = out.split("slowest", 1)[1].splitlines()[1:] if "slowest" in out else []
    return [x.strip() for x in lines[:top] if re.match(r"\s*[\d.]+s ", x)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    clone = root / "repo"
    commit = _clone(clone)
    # the docs' figures are what this run is about to rewrite: their check is left to make test
    skip = "--deselect tests/test_docs.py::test_performance_figures_are_the_last_bench_run"
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "TRACECOLLAPSE_CACHE": str(root / "tc_cache"),
           "PYTEST_ADDOPTS": skip}  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(["make", "--no-print-directory", "suite"], cwd=clone, env=env, capture_output=True, text=True)
    total = time.perf_counter() - started
    out = proc.stdout + proc.stderr
    found = [s for s in map(summary_of, out.splitlines()) if s is not None]
    print(f"make suite on a fresh clone of {commit}: {os.cpu_count()} CPUs, empty caches, venvs linked")
    for phase, (counts, secs) in zip(PHASES, found, strict=False):
        print(f"  {phase:<42} {secs:7.0f} s   {counts}")
    rest = total - sum(s for _, s in found)
    print(f"  {'smoke, start-up and the rest':<42} {rest:7.0f} s")
    print(f"  {'total':<42} {total:7.0f} s = {total / 60:.1f} min (goal <= {GOAL_S // 60} min)")
    print("slowest tests of the parallel phase:")
    for line in slowest(out):
        print(f"  {line}")
    if proc.returncode != 0 or len(found) < len(PHASES):
        print(out[-4000:], file=sys.stderr)
        print(f"bench_suite: make suite failed (exit {proc.returncode}); clone kept at {clone}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"clone kept at {clone}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
