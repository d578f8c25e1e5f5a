"""Wrap any lm-eval task, group or tag as ``NAME_tc``: generated wrapper YAMLs.

For a task ``S`` the wrapper is three lines that :class:`~lm_eval_tracecollapse.tasks.TraceTask`
expands at build time (the stock YAML is read unchanged, every filter pipeline is
traced, the task's own metrics stay).  A group ``G`` becomes a group ``G_tc`` with
``G``'s structure — members ``S_tc`` and sub-groups ``SG_tc`` recursively, ``G``'s
own keys kept through ``include:`` — and an ``aggregate_metric_list`` that is ``G``'s
own plus our metrics (pooled at every group level by :mod:`.groups`).  A tag ``T``
becomes the tag ``T_tc`` on its members' wrappers.

What cannot be wrapped is refused with a reason: a loglikelihood or multiple-choice
task has no generation to trace (the ``output_type`` lm-eval builds the task with: a
YAML that names none, after its ``include:`` files, has lm-eval's default,
``generate_until``), a Python-class task builds its own requests and scoring, a group
with such a member, an inline task defined inside a group.

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> result = write_wrappers(["gsm8k", "hellaswag"], out)
    >>> result.written, result.refused["hellaswag"][:40]
    (['gsm8k_tc'], 'hellaswag: a multiple_choice task has no')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..atomic import write_text_atomic
from ..metrics.failure_kinds import EXTRA_METRICS
from ..metrics.trace_rates import METRICS
from .task_index import IndexEntry, cache_dir, task_index

__all__ = ["SUFFIX", "WrapResult", "generated_dir", "resolve_wrapped", "write_wrappers"]

SUFFIX = "_tc"
_CLASS = "!function lm_eval_tracecollapse.tasks.TraceTask"


class _Refused(Exception):
    pass


@dataclass
class WrapResult:
    """What :func:`write_wrappers` did: names written (requested ones), and refusals."""

    out: Path
    written: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def _dump(data: dict[str, Any]) -> str:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return text.replace(f"'{_CLASS}'", _CLASS)


class _Writer:
    def __init__(self, index: Mapping[str, IndexEntry], out: Path, tags: set[str]) -> None:
        self.index, self.out, self.tags = index, out, tags
        self.done: dict[str, str | _Refused] = {}

    def known_wrapper(self, name: str) -> bool:
        """A wrapper of ``name`` that exists already (ours shipped, or the user's)."""
        entry = self.index.get(name + SUFFIX)
        return entry is not None and entry.kind != "tag"

    def wrap(self, name: str, member: bool = False) -> str:
        """The wrapped name of ``name`` (written on first use), or :class:`_Refused`."""
        if name in self.done:
            got = self.done[name]
            if isinstance(got, _Refused):
                raise got
            return got
        try:
            if member and self.known_wrapper(name):
                wrapped = name + SUFFIX
            else:
                wrapped = self._write(name)
        except _Refused as exc:
            self.done[name] = exc
            raise
        self.done[name] = wrapped
        return wrapped

    def _write(self, name: str) -> str:
        entry = self.index.get(name)
        if entry is None:
            raise _Refused(f"{name}: lm-eval knows no task, group or tag of that name")
        if entry.kind == "py_task":
            raise _Refused(
                f"{name}: a Python-class task (class: in its YAML) builds its own requests and scoring; "
                "score its samples post hoc with `tracecollapse analyze`"
            )
        if entry.kind == "task":
            return self._task(entry)
        if entry.kind == "tag":
            self.tags.add(name)
            for member in entry.members:
                self._retag(member)
            return name + SUFFIX
        return self._group(entry, name + SUFFIX, entry.members, entry.aggregate_metric_list)

    def _retag(self, member: str) -> None:
        entry = self.index.get(member)
        if entry is None or entry.kind != "task":
            raise _Refused(f"tag member {member}: only tasks can carry a tag, got {entry.kind if entry else 'nothing'}")
        self.done.pop(member, None)  # (re)written with the new tag
        self.wrap(member)

    def _task(self, entry: IndexEntry) -> str:
        if entry.output_type != "generate_until":  # lm-eval's effective type (task_index)
            kind = entry.output_type or "non-generative (output_type: null)"
            raise _Refused(
                f"{entry.name}: a {kind} task has no generation to trace "
                "(trace metrics need output_type: generate_until)"
            )
        wrapped = entry.name + SUFFIX
        cfg: dict[str, Any] = {
            "task": wrapped,
            "class": _CLASS,
            "base_task": entry.name,
            "tc_base_yaml": entry.yaml_path,
        }
        tags = sorted(t + SUFFIX for t in entry.tags if t in self.tags)
        if tags:
            cfg["tag"] = tags
        header = f"# generated by lm_eval_tracecollapse: lm-eval's `{entry.name}` with trace metrics\n"
        self._save(wrapped, header + _dump(cfg))
        return wrapped

    def _members(self, parent: str, members: Iterable[Any]) -> list[Any]:
        mapped: list[Any] = []
        for item in members:
            if isinstance(item, str):
                mapped.append(self._member(parent, item))
            elif isinstance(item, dict) and "group" in item and item["group"] not in self.index:
                inner = {k: v for k, v in item.items() if k not in ("group", "task", "aggregate_metric_list")}
                sub = self._inline_group(parent, item)
                mapped.append({**inner, **sub})
            elif isinstance(item, dict) and ("group" in item or "task" in item):
                key = "group" if "group" in item else "task"
                if item[key] not in self.index:
                    raise _Refused(
                        f"{parent}: member {item[key]!r} is an inline task defined inside the group; "
                        "move it to a YAML of its own to wrap it"
                    )
                mapped.append({**item, key: self._member(parent, item[key])})
            else:
                raise _Refused(f"{parent}: a member is an inline task without a name ({str(item)[:80]}…)")
        return mapped

    def _member(self, parent: str, name: str) -> str:
        try:
            return self.wrap(name, member=True)
        except _Refused as exc:
            raise _Refused(f"{parent}: member {exc}") from None

    def _inline_group(self, parent: str, item: dict[str, Any]) -> dict[str, Any]:
        task = item.get("task")
        if not isinstance(task, list):
            raise _Refused(f"{parent}: inline group {item['group']!r} has no task list")
        return {
            "group": item["group"],
            "task": self._members(parent, task),
            "aggregate_metric_list": _aggregates(item.get("aggregate_metric_list")),
        }

    def _group(self, entry: IndexEntry, wrapped: str, members: Sequence[Any], aggs: Any) -> str:
        if not members:
            raise _Refused(f"{entry.name}: a group without a task list has nothing to wrap")
        cfg: dict[str, Any] = {
            "include": entry.yaml_path,
            "group": wrapped,
            "task": self._members(entry.name, members),
            "aggregate_metric_list": _aggregates(aggs),
        }
        header = f"# generated by lm_eval_tracecollapse: lm-eval's group `{entry.name}` with trace metrics\n"
        self._save(wrapped, header + _dump(cfg))
        return wrapped

    def _save(self, name: str, text: str) -> None:
        path = self.out / f"{name}.yaml"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            # ranks of a data-parallel launch (or two runs sharing the cache) wrap the same task at once
            write_text_atomic(path, text)


def _aggregates(own: Any) -> list[dict[str, Any]]:
    """The group's own ``aggregate_metric_list`` unchanged, then ours (auto-discovered
    pipelines), weighted by size unless the group's own first entry is not."""
    entries = [dict(e) for e in (own if isinstance(own, (list, tuple)) else [own] if own else [])]
    weight = bool(entries[0].get("weight_by_size", True)) if entries else True
    named = {e.get("metric") for e in entries}
    ours = [
        {"metric": m, "aggregation": "mean", "weight_by_size": weight}
        for m in (*METRICS, *EXTRA_METRICS)
        if m not in named
    ]
    return entries + ours


def write_wrappers(
    names: Iterable[str], out: str | Path, include_path: Sequence[str | Path] = (), index: Any = None
) -> WrapResult:
    """Write ``NAME_tc`` wrapper YAMLs for every name (task, group or tag) into ``out``.

    ``names`` are base names (``minerva_math``); a trailing ``_tc`` is dropped when
    lm-eval does not know the name itself.  Members of a group whose wrapper already
    exists (shipped or on ``include_path``) are used as they are.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = task_index(include_path) if index is None else index
    names = [n if n in index or not n.endswith(SUFFIX) else n[: -len(SUFFIX)] for n in names]
    writer = _Writer(index, out, {n for n in names if index.get(n) is not None and index[n].kind == "tag"})
    result = WrapResult(out)
    for name in dict.fromkeys(names):
        try:
            result.written.append(writer.wrap(name))
        except _Refused as exc:
            result.refused[name] = str(exc)
    return result


def generated_dir(names: Sequence[str], include_path: Sequence[str | Path]) -> Path:
    """The cache folder for one set of on-the-fly wrappers (same request, same folder)."""
    key = "|".join([*sorted(names), *map(str, include_path)])
    return cache_dir() / "wrapped" / hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve_wrapped(tasks: Sequence[str], include_path: Sequence[str | Path]) -> tuple[Path | None, WrapResult | None]:
    """Wrap on the fly the ``*_tc`` names in ``tasks`` that lm-eval does not know.

    Returns the folder to add to ``include_path`` (``None`` when nothing needed
    wrapping).  Raises ``ValueError`` naming every name that cannot be wrapped.
    """
    wanted = [t for t in tasks if t.endswith(SUFFIX) and not Path(t).exists()]
    if not wanted:
        return None, None
    index = task_index(include_path)
    unknown = [t for t in wanted if t not in index]
    if not unknown:
        return None, None
    out = generated_dir(unknown, include_path)
    result = write_wrappers(unknown, out, include_path, index=index)
    if result.refused:
        raise ValueError("cannot wrap: " + "; ".join(result.refused.values()))
    return out, result
