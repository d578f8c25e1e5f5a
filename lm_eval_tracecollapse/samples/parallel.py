"""Read several samples files at once: one process per file, results in file order.

``tracecollapse analyze`` and ``report`` read every file with a function of one argument
(a picklable job: the path and the reading options) that returns what the file holds;
:func:`map_files` runs it over the jobs in ``workers`` processes (``spawn``: no state
shared with the parent), or in this process when one worker suffices, with a progress
bar on stderr.

Example:
    >>> map_files(len, ["ab", "abc"], workers=1, progress=False)
    [2, 3]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["map_files", "worker_count"]

J = TypeVar("J")
R = TypeVar("R")


def worker_count(jobs: int, workers: int | None) -> int:
    """Processes to use for ``jobs`` files: ``workers`` (default: the CPU count), at most one per file.

    >>> worker_count(3, 8), worker_count(0, None)
    (3, 1)
    """
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"--workers must be a positive number of processes, got {workers!r}")
    return max(1, min(jobs, workers or os.cpu_count() or 1))


def map_files(
    read: Callable[[J], R], jobs: Sequence[J], workers: int | None, progress: bool, desc: str = "reading samples"
) -> list[R]:
    """``[read(job) for job in jobs]``, in ``workers`` processes when more than one (``read``
    must be a module-level function); the bar is closed also when a file fails, so that
    the error starts its own line."""
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    n_workers = worker_count(len(jobs), workers)
    results: list[R] = []
    with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
        if n_workers > 1:
            with get_context("spawn").Pool(n_workers) as pool:
                for result in pool.imap(read, jobs):
                    results.append(result)
                    bar.update()
        else:
            for job in jobs:
                results.append(read(job))
                bar.update()
    return results
