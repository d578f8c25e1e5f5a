"""Every place we touch lm-eval beyond its public API, in one module, each behind a capability check.

lm-eval 0.4.x gives an extension public registries (``register_metric``,
``register_aggregation``, the filter and model registries) and public task methods
(``aggregation()``, ``higher_is_better()``, ``instances``), which the rest of
:mod:`..harness` uses.  What it does not give, and what we therefore reach here:

=========================================  =============================================  =====================
lm-eval name (0.4.13)                      what for                                       used by
=========================================  =============================================  =====================
``api.group.Group.aggregate``              our rows pooled at every group level           :mod:`.groups`
``evaluator_utils.stderr_for_metric``      the stderr of our ``pooled_mean``              :mod:`.groups`
``Group._discover_filters_for_metric``     a group entry without ``filter_list``          :mod:`.groups`
``tasks._yaml_loader._import_func_in_yml`` a base task's ``!function`` hooks              :mod:`.task`
``tasks._index.TaskIndex``                 lm-eval's own task index (``wrap``, ``_tc``)    :mod:`.task_index`
``tasks._index.TaskIndex.build``           its folders' indexes read from our cache       :mod:`.run`, ``cli.py``
``_cli.HarnessCLI``                        ``tracecollapse eval`` is lm-eval's CLI        ``cli.py``
=========================================  =============================================  =====================

The two functions of the first rows are *extended* (wrapped: lm-eval's result kept, our
rows recomputed), by :func:`install_group_hooks`, only when a traced task or our
``trace_status`` filter is built — never on import.  ``HOOKED`` records the source hash
of every lm-eval function we wrap, or copied from (``TemplateAPI.model_call`` and
``amodel_call`` in :mod:`.models.api`), per lm-eval version we test; a test fails with
"re-check the hook" when an lm-eval release changes one.

``TaskIndex.build`` is *replaced* only inside :func:`cached_index_builds` (``tracecollapse
eval``, :func:`.run.task_manager`), and only when its source is one recorded in ``HOOKED``;
with any other lm-eval, lm-eval's own build runs there (slower, the same index).

A missing name raises :class:`LmEvalCompatError` where it is needed (the first traced
task build, group aggregation, ``wrap``), naming the installed lm-eval version and what
is missing; importing the package never fails on it.

Example:
    >>> require("api.group.Group.aggregate") is not None
    True
    >>> supported(), bool(version())
    ('lm_eval>=0.4.12,<0.5', True)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import inspect
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "HOOKED",
    "LmEvalCompatError",
    "argv",
    "build_task_index",
    "cached_index_builds",
    "check_all",
    "discover_filters",
    "harness_cli",
    "import_yaml_function",
    "install_group_hooks",
    "require",
    "setup_logging",
    "source_hash",
    "supported",
    "version",
]

_SUPPORTED = "lm_eval>=0.4.12,<0.5"

#: "module:qualname" -> {lm-eval version: sha256 of the function's source, first 16 hex}
HOOKED: dict[str, dict[str, str]] = {
    "lm_eval.api.group:Group.aggregate": {"0.4.12": "01be0b9123d6323e", "0.4.13": "7ec4808194270aaa"},
    "lm_eval.evaluator_utils:stderr_for_metric": {"0.4.12": "032ff2af80490485", "0.4.13": "410e80f7078e0da2"},
    "lm_eval.models.api_models:TemplateAPI.model_call": {"0.4.12": "cc8d19bbfe286542", "0.4.13": "22b3bab9ca2bbd71"},
    "lm_eval.models.api_models:TemplateAPI.amodel_call": {"0.4.12": "78f11f3ed7899e48", "0.4.13": "e2d2d09226fcd643"},
    "lm_eval.tasks._index:TaskIndex.build": {"0.4.12": "9ebd61be6daa4344", "0.4.13": "9ebd61be6daa4344"},
}

_lock = threading.Lock()


class LmEvalCompatError(RuntimeError):
    """The installed lm-eval lacks something lm-eval-tracecollapse needs (the message says what)."""


def supported() -> str:
    """The lm-eval versions this package is tested with, as a pip requirement."""
    return _SUPPORTED


def version() -> str:
    """The installed lm-eval's version (``"absent"`` when it is not installed)."""
    try:
        return importlib.metadata.version("lm_eval")
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _error(name: str, purpose: str) -> LmEvalCompatError:
    return LmEvalCompatError(
        f"lm-eval {version()} has no lm_eval.{name}, which lm-eval-tracecollapse needs {purpose}; "
        f"install a tested lm-eval: pip install '{_SUPPORTED}'"
    )


#: what each private name is needed for (the error's wording)
_PURPOSE = {
    "api.group.Group.aggregate": "to pool its rows at group level",
    "api.group.Group._discover_filters_for_metric": "to pool its rows at group level",
    "evaluator_utils.stderr_for_metric": "for the stderr of its pooled_mean rows",
    "tasks._yaml_loader._import_func_in_yml": "to build a traced task from its base task's YAML",
    "tasks._index.TaskIndex": "to find tasks and groups for _tc wrappers",
    "_cli.HarnessCLI": "for tracecollapse eval (lm-eval's own command line)",
}


def require(name: str) -> Any:
    """The lm-eval object at ``lm_eval.<name>`` ("module.attr.attr"), or
    :class:`LmEvalCompatError` naming the version and what it is needed for."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module("lm_eval." + ".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise _error(name, _PURPOSE.get(name, ""))


def check_all() -> None:
    """Every private name of :data:`_PURPOSE` present, or :class:`LmEvalCompatError` for the first
    missing one (``tracecollapse eval`` checks before it starts a run)."""
    for name in _PURPOSE:
        require(name)


def source_hash(target: str) -> str:
    """The first 16 hex digits of the sha256 of ``"module:qualname"``'s source (as installed)."""
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in qualname.split("."):
        obj = getattr(obj, attr)
    obj = getattr(obj, "__wrapped__", obj)  # ours wraps lm-eval's: hash lm-eval's
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


# ---- group aggregation and stderr ------------------------------------------------------------


def install_group_hooks(
    aggregate: Callable[[Callable[..., Any]], Callable[..., Any]],
    stderr_for_metric: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Wrap lm-eval's ``Group.aggregate`` and ``evaluator_utils.stderr_for_metric`` with
    ``aggregate(original)`` / ``stderr_for_metric(original)`` (idempotent: a wrapper
    carries ``__wrapped__``)."""
    group = require("api.group.Group")
    require("api.group.Group.aggregate")
    require("api.group.Group._discover_filters_for_metric")
    evaluator_utils: Any = importlib.import_module("lm_eval.evaluator_utils")
    require("evaluator_utils.stderr_for_metric")
    with _lock:
        if not hasattr(group.aggregate, "__wrapped__"):
            wrapped = aggregate(group.aggregate)
            wrapped.__wrapped__ = group.aggregate  # type: ignore[attr-defined]
            group.aggregate = wrapped
        if not hasattr(evaluator_utils.stderr_for_metric, "__wrapped__"):
            wrapped = stderr_for_metric(evaluator_utils.stderr_for_metric)
            wrapped.__wrapped__ = evaluator_utils.stderr_for_metric  # type: ignore[attr-defined]
            evaluator_utils.stderr_for_metric = wrapped


def discover_filters(group: Any, metric: str, task_metrics: Any) -> list[str]:
    """The filters lm-eval pools ``metric`` over when a group entry names none."""
    return list(group._discover_filters_for_metric(metric, task_metrics))


# ---- tasks -----------------------------------------------------------------------------------


def import_yaml_function(spec: str, base_dir: Path) -> Any:
    """A task YAML's ``!function module.attr``, resolved as lm-eval resolves it beside ``base_dir``."""
    return require("tasks._yaml_loader._import_func_in_yml")(spec, base_dir)


_BUILD = "lm_eval.tasks._index:TaskIndex.build"
_index_depth = 0


def _lm_eval_build() -> Callable[..., dict[str, Any]]:
    build = require("tasks._index.TaskIndex.build")
    return getattr(build, "__wrapped__", build)  # lm-eval's own, also inside cached_index_builds


def build_task_index(root: Path) -> dict[str, Any]:
    """lm-eval's own index of the task folder ``root`` (name -> entry with kind, cfg, yaml_path, tags)."""
    return dict(_lm_eval_build()([root]))


@contextlib.contextmanager
def cached_index_builds(root_entries: Callable[[Path], dict[str, Any]]) -> Iterator[bool]:
    """Inside the block, lm-eval's ``TaskIndex.build(paths)`` (what every ``TaskManager`` runs
    first: 14,000 YAMLs parsed, about 5 s) takes each folder's entries from
    ``root_entries(folder)`` and merges them as lm-eval does: folders in order, a later
    folder's name replacing an earlier one's with lm-eval's warning.  ``root_entries`` must
    return what ``build_task_index(folder)`` returns, as new objects (lm-eval may change them).

    Yields whether the cache is in use: False with an lm-eval whose ``TaskIndex.build`` is
    missing or not one recorded in :data:`HOOKED` (then lm-eval's own build runs, the same
    index).  Restored when the outermost block ends.
    """
    global _index_depth
    try:
        cls = require("tasks._index.TaskIndex")
        original = _lm_eval_build()
        checked = source_hash(_BUILD) in HOOKED[_BUILD].values()
    except (LmEvalCompatError, ImportError, AttributeError, OSError, TypeError):
        checked = False  # an lm-eval without this index (0.5's moved it): its TaskManager as it is
    if not checked:
        yield False
        return
    log = logging.getLogger(original.__module__)

    def build(paths: Any, *, resolve_includes: bool = True) -> dict[str, Any]:
        if not resolve_includes:
            return dict(original(paths, resolve_includes=False))
        index: dict[str, Any] = {}
        for root in paths:
            for name, entry in root_entries(Path(root)).items():
                if name in index:  # lm-eval's words (TaskIndex.build)
                    log.warning(
                        "Task '%s' from %s overrides existing task from %s",
                        name,
                        entry.yaml_path,
                        index[name].yaml_path,
                    )
                index[name] = entry
        return index

    build.__wrapped__ = original  # type: ignore[attr-defined]
    with _lock:
        if _index_depth == 0:
            cls.build = staticmethod(build)
        _index_depth += 1
    try:
        yield True
    finally:
        with _lock:
            _index_depth -= 1
            if _index_depth == 0:
                cls.build = staticmethod(original)


# ---- the command line ------------------------------------------------------------------------


def setup_logging() -> None:
    """lm-eval's own logging set-up (what its command line does first)."""
    importlib.import_module("lm_eval.utils").setup_logging()


def harness_cli() -> Any:
    """lm-eval's command line (an instance of its ``HarnessCLI``)."""
    return require("_cli.HarnessCLI")()


@contextlib.contextmanager
def argv(args: Sequence[str]) -> Iterator[None]:
    """``sys.argv`` as ``args`` inside the block (lm-eval's parser reads it), restored after."""
    saved = sys.argv
    sys.argv = list(args)
    try:
        yield
    finally:
        sys.argv = saved
