"""Read several samples files at once: one process per file, results in file order.

``tracecollapse analyze`` and ``report`` read every file with a function of one argument
(a picklable job: the path and the reading options) that returns what the file holds;
:func:`map_files` runs it over the jobs in ``workers`` processes (``spawn``: no state
shared with the parent but a byte counter), or in this process when one worker suffices,
with a progress bar on stderr: by bytes read when the files' sizes are given (the readers
report each block they read, :func:`report_bytes`), else by files.

Example:
    >>> map_files(len, ["ab", "abc"], workers=1, progress=False)
    [2, 3]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["map_files", "report_bytes", "worker_count"]

J = TypeVar("J")
R = TypeVar("R")

#: where a reader's :func:`report_bytes` goes while :func:`map_files` runs: the progress bar
#: in this process, a counter shared with the parent in a worker (set by its initializer);
#: module state because a worker process can be handed nothing else
_sink: Callable[[int], Any] | None = None


def report_bytes(n: int) -> None:
    """Count ``n`` more bytes read (a reader calls it per block of lines) on the running
    :func:`map_files` bar; nothing outside one."""
    if _sink is not None:
        _sink(n)


def _init_worker(counter: Any) -> None:
    global _sink

    def add(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    _sink = add


def worker_count(jobs: int, workers: int | None) -> int:
    """Processes to use for ``jobs`` files: ``workers`` (default: the CPU count), at most one per file.

    >>> worker_count(3, 8), worker_count(0, None)
    (3, 1)
    """
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"--workers must be a positive number of processes, got {workers!r}")
    return max(1, min(jobs, workers or os.cpu_count() or 1))


def map_files(
    read: Callable[[J], R],
    jobs: Sequence[J],
    workers: int | None,
    progress: bool,
    desc: str = "reading samples",
    total_bytes: int | None = None,
) -> list[R]:
    """``[read(job) for job in jobs]``, in ``workers`` processes when more than one (``read``
    must be a module-level function); the bar is closed also when a file fails, so that
    the error starts its own line.  With ``total_bytes`` (the files' sizes) the bar counts
    the bytes the readers report (:func:`report_bytes`), updated twice a second, so a few
    large files show progress inside each; else it counts jobs."""
    global _sink
    from multiprocessing import TimeoutError as Pending
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    n_workers = worker_count(len(jobs), workers)
    results: list[R] = []
    by_bytes = total_bytes is not None
    bar_args: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024} if by_bytes else {}
    with tqdm(total=total_bytes if by_bytes else len(jobs), desc=desc, disable=not progress, **bar_args) as bar:
        if n_workers > 1:
            ctx = get_context("spawn")
            counter = ctx.Value("q", 0)
            with ctx.Pool(n_workers, initializer=_init_worker, initargs=(counter,)) as pool:
                pending = pool.imap(read, jobs)
                while len(results) < len(jobs):
                    try:
                        results.append(pending.next(timeout=0.5))
                        bar.update(0 if by_bytes else 1)
                    except Pending:
                        pass
                    if by_bytes:
                        bar.update(counter.value - bar.n)
        else:
            before, _sink = _sink, (bar.update if by_bytes else None)
            try:
                for job in jobs:
                    results.append(read(job))
                    if not by_bytes:
                        bar.update()
            finally:
                _sink = before
        if by_bytes and bar.n < bar.total:  # blank lines at a file's end are not reported: top up
            bar.update(bar.total - bar.n)
    return results
