"""Start-up: lm-eval's task index, which its ``TaskManager`` builds on every run, against
the same index read from our cache; then a whole small run, ``tracecollapse eval`` against
the bare ``lm_eval``.

Usage::

    .venv/bin/python benchmarks/bench_startup.py [--repeat 3]

In this process: ``TaskManager()`` as lm-eval builds it (parsing every YAML under its
``tasks/`` folder) and the same inside ``harness.compat.cached_index_builds`` (each folder's
entries from the cache, warmed first), best of ``--repeat`` each, interleaved; both must
give the same names.  Then the wall time of a one-document run of ``tc_demo_easy`` with
lm-eval's ``dummy`` model, as a subprocess: ``tracecollapse eval`` and ``lm_eval run
--include_path task_yamls``, best of ``--repeat`` each, interleaved, caches warm.

Example:
    >>> round(best_of(lambda: None, 2), 3)
    0.0
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import bench_args

REPO = Path(__file__).resolve().parent.parent
RUN = ["--model", "dummy", "--limit", "1", "--tasks", "tc_demo_easy"]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _run(cmd: list[str]) -> None:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or "valid_rate" not in proc.stdout:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def main() -> None:
    args = bench_args(__doc__, 0)
    from lm_eval.tasks import TaskManager

    from lm_eval_tracecollapse.harness import compat
    from lm_eval_tracecollapse.harness.task_index import lm_eval_entries

    def cached() -> TaskManager:
        with compat.cached_index_builds(lm_eval_entries) as used:
            if not used:
                raise SystemExit(f"lm-eval {compat.version()}: its TaskIndex.build is not one we checked")
            return TaskManager()

    names = len(cached().all_tasks)  # warms the cache
    if cached().all_tasks != TaskManager().all_tasks:
        raise SystemExit("the cached index differs from lm-eval's own")
    own = fast = float("inf")
    for _ in range(args.repeat):
        own = min(own, best_of(TaskManager, 1))
        fast = min(fast, best_of(cached, 1))
    print(f"lm-eval's task index ({names:,} names), best of {args.repeat}:")
    print(f"  TaskManager(), lm-eval's own build          {own:6.2f} s")
    print(f"  TaskManager(), entries from our cache        {fast:6.2f} s  ({own / fast:.1f}x faster)")

    bindir = Path(sys.executable).parent
    ours_cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", *RUN]
    theirs_cmd = [str(bindir / "lm_eval"), "run", "--include_path", "task_yamls", *RUN]
    _run(ours_cmd)  # warm: the wrapper and index caches, the OS's file cache
    _run(theirs_cmd)
    ours = theirs = float("inf")
    for _ in range(args.repeat):
        ours = min(ours, best_of(lambda: _run(ours_cmd), 1))
        theirs = min(theirs, best_of(lambda: _run(theirs_cmd), 1))
    print(f"a one-document run of tc_demo_easy (lm-eval's dummy model), wall time, best of {args.repeat}:")
    print(f"  lm_eval run --include_path task_yamls        {theirs:6.2f} s")
    print(f"  tracecollapse eval                           {ours:6.2f} s  ({theirs - ours:.2f} s less)")


if __name__ == "__main__":
    main()
