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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DONE", "atomic_json", "atomic_text", "check_launch", "cpu_processes", "is_done", "launched_processes",
           "log_event", "process_state", "read_log"]  # fmt: skip

DONE = ".done"  # the marker a finished checkpoint, training run or evaluation leaves


def atomic_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    atomic_text(path, json.dumps(data, indent=1, default=str))


def atomic_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``: a reader (another
    job of the same study) sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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


#: where a launcher puts the process count: torchrun and accelerate's torchrun-based launches,
#: then mpirun (Intel MPI / MPICH, Open MPI, MVAPICH), as accelerate reads them
_WORLD = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_LAUNCH = (
    "torchrun --nproc_per_node N -m lm_eval_tracecollapse study CONFIG or "
    "accelerate launch --multi_gpu --num_processes N -m lm_eval_tracecollapse study CONFIG "
    "(both also without GPUs: DDP over gloo)"
)


def launched_processes(environ: Mapping[str, str] = os.environ) -> int:
    """The number of processes the launcher started (1: not launched, or one process).

    >>> launched_processes({"WORLD_SIZE": "2"}), launched_processes({"OMPI_COMM_WORLD_SIZE": "4"})
    (2, 4)
    >>> launched_processes({})
    1
    """
    return next((int(environ[k]) for k in _WORLD if environ.get(k)), 1)


def check_launch(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a launch that asked for several processes and got one.

    ``accelerate launch --num_processes N`` with ``--cpu`` (or on a machine with fewer than two
    GPUs) uses accelerate's simple launcher: it starts **one** process, exports
    ``MASTER_ADDR``/``MASTER_PORT`` (only when N > 1) and ``ACCELERATE_USE_CPU``, and expects
    mpirun (``--mpirun_hostfile``) to start the others.  Without mpirun that one process would
    run the whole study alone while the user believes it runs in N, so it is refused, naming
    the launches that do start N processes.

    >>> check_launch({"ACCELERATE_USE_CPU": "True", "MASTER_PORT": "29500", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    >>> check_launch({"ACCELERATE_USE_CPU": "True", "MASTER_PORT": "29500"})
    Traceback (most recent call last):
    ...
    lm_eval_tracecollapse.study.config.ConfigError: accelerate launch started one process, not the several ...
    """
    from .config import ConfigError

    simple_launcher = "ACCELERATE_USE_CPU" in environ and "MASTER_PORT" in environ
    if simple_launcher and launched_processes(environ) == 1 and "LOCAL_RANK" not in environ:
        raise ConfigError(
            "accelerate launch started one process, not the several --num_processes asked for (its --cpu launch, "
            f"and any on fewer than two GPUs, starts one and leaves the others to mpirun); launch with {_LAUNCH}"
        )


def cpu_processes() -> bool:
    """Whether this is a multi-process launch (``torchrun``, ``accelerate launch``, mpirun) without
    GPUs (or with accelerate's ``--cpu``): accelerate and the Trainer must then be told to use their
    CPU backend (gloo), else each sees one process on every rank and every rank writes the markers,
    logs and outputs."""
    import torch

    several = launched_processes() > 1 or int(os.environ.get("LOCAL_RANK", "-1")) != -1
    forced = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return several and (forced or not torch.cuda.is_available())


def process_state() -> Any:
    """accelerate's ``PartialState`` of this launch (one per process, shared; :func:`cpu_processes`)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu_processes())
