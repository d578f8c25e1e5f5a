"""lm-eval's own task index, cached on disk so that wrapping adds seconds, not ten.

lm-eval builds its index by parsing every YAML under its ``tasks/`` folder and the
``--include_path`` folders (about 9 s for the 14,683 entries of lm-eval 0.4.13).
:func:`task_index` runs the very same ``TaskIndex.build`` per folder and keeps what
wrapping needs — kind, YAML path, tags, ``output_type``, and a group's member list
and ``aggregate_metric_list`` — in a JSON file keyed by the lm-eval version, the
folder and a fingerprint of its YAML files (count, newest mtime, total size), so an
edited folder is indexed again.  Beside it, :func:`lm_eval_entries` keeps lm-eval's own
entries of each folder (a pickle), which lm-eval's ``TaskManager`` reads instead of parsing
the YAMLs again inside ``tracecollapse eval`` (:func:`.compat.cached_index_builds`).  The
cache lives in ``$TRACECOLLAPSE_CACHE`` (default ``~/.cache/lm_eval_tracecollapse``).

A task's ``output_type`` is the one lm-eval itself builds it with: its YAML's, ``include:``
files merged by lm-eval's loader, else ``TaskConfig``'s default (:func:`default_output_type`;
``generate_until`` in lm-eval 0.4.x, so LongBench's YAMLs, which name none, are generative).

Example:
    >>> idx = task_index()
    >>> idx["gsm8k"].kind, idx["gsm8k"].output_type
    ('task', 'generate_until')
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..atomic import write_bytes_atomic, write_text_atomic
from . import compat

__all__ = [
    "IndexEntry",
    "Kind",
    "cache_dir",
    "default_output_type",
    "effective_output_type",
    "entries_file",
    "index_file",
    "lm_eval_entries",
    "lm_eval_tasks_dir",
    "task_index",
]

Kind = Literal["task", "py_task", "group", "tag"]
_KINDS: dict[str, Kind] = {"TASK": "task", "PY_TASK": "py_task", "GROUP": "group", "TAG": "tag"}
_FORMAT = 5  # bump when IndexEntry or a field's meaning changes (5: yaml_path is absolute)


@dataclass(frozen=True)
class IndexEntry:
    """One name lm-eval knows: a task, a Python-class task, a group or a tag."""

    name: str
    kind: Kind
    yaml_path: str | None
    tags: tuple[str, ...] = ()
    #: a task's output_type as lm-eval builds it (its YAML's, includes merged, else lm-eval's
    #: default; a Python-class task's class may override it: it is never wrapped)
    output_type: str | None = None
    #: a group's ``task:`` list (raw, ``!function`` values as strings), a tag's members
    members: tuple[Any, ...] = ()
    aggregate_metric_list: tuple[dict[str, Any], ...] | None = None


def cache_dir() -> Path:
    """Where the index cache and generated wrappers live (``$TRACECOLLAPSE_CACHE``)."""
    root = os.environ.get("TRACECOLLAPSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lm_eval_tracecollapse"
    )
    return Path(root)


def lm_eval_tasks_dir() -> Path:
    """lm-eval's own ``tasks/`` folder."""
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


@functools.cache
def default_output_type() -> str:
    """lm-eval's default ``output_type``: what a task whose YAML names none is built with.

    Read at run time from the ``output_type`` field of lm-eval's ``TaskConfig`` dataclass.

    Example:
        >>> default_output_type()
        'generate_until'
    """
    import dataclasses

    from lm_eval.api.task import TaskConfig

    for f in dataclasses.fields(TaskConfig):
        if f.name == "output_type" and isinstance(f.default, str):
            return f.default
    raise compat.LmEvalCompatError(
        f"lm-eval {compat.version()}: lm_eval.api.task.TaskConfig has no output_type field with a default, "
        f"which lm-eval-tracecollapse needs to tell generative tasks; install a tested lm-eval: "
        f"pip install '{compat.supported()}'"
    )


def effective_output_type(cfg: Mapping[str, Any]) -> str | None:
    """The ``output_type`` lm-eval builds the task config ``cfg`` (includes merged) with.

    Example:
        >>> effective_output_type({"task": "t"}), effective_output_type({"output_type": "multiple_choice"})
        ('generate_until', 'multiple_choice')
    """
    return cfg["output_type"] if "output_type" in cfg else default_output_type()


def _fingerprint(root: Path) -> str:
    count = size = newest = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in filenames:  # includes need not end in .yaml (_default_template_yaml)
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            count += 1
            size += st.st_size
            newest = max(newest, st.st_mtime_ns)
    return f"{count}-{size}-{newest}"


def _key(root: Path, *parts: str) -> str:
    """The cache key of ``root``: our entry format, lm-eval's version, the folder, its fingerprint."""
    import lm_eval

    version = getattr(lm_eval, "__version__", "?")
    return hashlib.sha256("|".join([str(_FORMAT), version, *parts, _fingerprint(root)]).encode()).hexdigest()[:24]


def entries_file(root: Path) -> Path:
    """The cache file of lm-eval's own entries for ``root`` (:func:`lm_eval_entries`).

    Example:
        >>> entries_file(lm_eval_tasks_dir()).name.endswith(".entries.pickle")
        True
    """
    return cache_dir() / "index" / f"{_key(root, str(root), os.path.abspath(root))}.entries.pickle"


def lm_eval_entries(root: Path) -> dict[str, Any]:
    """lm-eval's own ``TaskIndex.build([root])``, read from a pickle in the cache when the
    folder is unchanged (0.4 s for lm-eval's 14,683 entries instead of about 5 s): the
    entries lm-eval's ``TaskManager`` is given inside ``tracecollapse eval`` and
    :func:`.run.task_manager` (:func:`.compat.cached_index_builds`).

    The key holds ``root`` as given, so an entry's ``yaml_path`` (relative under a relative
    folder) is the one lm-eval's own build gives.  The file is ours, in the user's cache
    (``$TRACECOLLAPSE_CACHE``), as trusted as the package itself.
    """
    path = entries_file(root)
    try:
        with path.open("rb") as f:
            loaded = pickle.load(f)
        if isinstance(loaded, dict):
            return loaded
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, TypeError):
        pass  # none yet, or another lm-eval's: indexed again
    entries = compat.build_task_index(root)
    try:
        data = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass  # a read-only home, or a YAML value pickle cannot hold: only uncached
    return entries


def _entries(root: Path) -> dict[str, IndexEntry]:
    """lm-eval's index of ``root`` (each YAML loaded with its ``include:`` files merged)."""
    out: dict[str, IndexEntry] = {}
    for name, e in lm_eval_entries(root).items():
        cfg = e.cfg or {}
        kind = _KINDS.get(e.kind.name)
        if kind is None:
            continue
        members: tuple[Any, ...] = ()
        aggs = None
        if kind == "group":
            task = cfg.get("task")
            members = tuple(task) if isinstance(task, list) else ()
            raw = cfg.get("aggregate_metric_list")
            if raw is not None:
                aggs = tuple(raw if isinstance(raw, list) else [raw])
        elif kind == "tag":
            members = tuple(sorted(e.tags))
        out[name] = IndexEntry(
            name=name,
            kind=kind,
            yaml_path=str(e.yaml_path) if e.yaml_path else None,
            tags=tuple(sorted(e.tags)) if kind != "tag" else (),
            output_type=effective_output_type(cfg) if kind in ("task", "py_task") else None,
            members=members,
            aggregate_metric_list=aggs,
        )
    return out


def index_file(root: Path) -> Path:
    """The cache file of ``root``'s index, keyed by our entry format, lm-eval's version, the
    folder and its fingerprint (a new key: indexed again, never a stale entry served).

    Example:
        >>> index_file(lm_eval_tasks_dir()).parent == cache_dir() / "index"
        True
    """
    return cache_dir() / "index" / f"{_key(root, str(root.resolve()))}.json"


def _root_index(root: Path) -> dict[str, IndexEntry]:
    path = index_file(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            n: IndexEntry(**{**d, "tags": tuple(d["tags"]), "members": tuple(d["members"])}) for n, d in data.items()
        }
    except (OSError, ValueError, TypeError, KeyError):
        pass
    entries = _entries(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({n: asdict(e) for n, e in entries.items()}, default=str))
    except OSError:  # a read-only home: the index still works, only uncached
        pass
    return entries


def task_index(include_path: Sequence[str | Path] = (), include_defaults: bool = True) -> dict[str, IndexEntry]:
    """Every name lm-eval's ``TaskManager(include_path=…)`` knows, as lm-eval indexes it.

    Folders are indexed in lm-eval's order (its own tasks first, then
    ``include_path`` in order) and a later folder's name replaces an earlier one's.
    A relative folder is taken from the working directory and indexed as its absolute
    path, so every entry's ``yaml_path`` is absolute (a wrapper that names it works from
    anywhere) and ``mytasks`` and ``$PWD/mytasks`` share one cache file.
    """
    roots = ([lm_eval_tasks_dir()] if include_defaults else []) + [Path(os.path.abspath(p)) for p in include_path]
    index: dict[str, IndexEntry] = {}
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"include path {str(root)!r} is not a folder")
        index.update(_root_index(root))  # as lm-eval: a later folder's entry replaces, tags too
    return index
