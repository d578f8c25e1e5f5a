"""Completion markers and the run log: written atomically, by the main process only.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> is_done(d)
    False
    >>> atomic_json(d / DONE, {"step": 2})
    >>> is_done(d), read_log(d / "run_log.jsonl")
    (True, [])
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["DONE", "atomic_json", "cpu_processes", "is_done", "log_event", "process_state", "read_log"]

DONE = ".done"  # the marker a finished checkpoint, training run or evaluation leaves


def atomic_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_done(folder: Path) -> bool:
    """Whether ``folder`` holds its completion marker."""
    return (folder / DONE).is_file()


def log_event(log: Path, event: str, **fields: Any) -> None:
    """Append one ``{"time", "event", ...}`` line to the run log (main process only)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": time.time(), "event": event, **fields}, default=str) + "\n")


def read_log(log: Path) -> list[dict[str, Any]]:
    """The run log's events, oldest first ([] before the first)."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def cpu_processes() -> bool:
    """Whether this is a multi-process launch (``torchrun``, ``accelerate launch``) on a machine
    without a GPU: accelerate and the Trainer must then be told to use their CPU backend (gloo),
    else each sees one process on every rank and every rank writes the markers, logs and outputs."""
    import torch

    several = int(os.environ.get("WORLD_SIZE", "1")) > 1 or int(os.environ.get("LOCAL_RANK", "-1")) != -1
    return several and not torch.cuda.is_available()


def process_state() -> Any:
    """accelerate's ``PartialState`` of this launch (one per process, shared; :func:`cpu_processes`)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu_processes())
