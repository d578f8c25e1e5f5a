"""Runs: what the reports compare.  A run is one folder of lm-eval samples files (lm-eval
writes ``<output>/<model>/samples_<task>_<date>.jsonl``), never a folder of folders.

:func:`find_runs` splits the folders and files it is given into their runs: every folder
that directly holds samples files is one run, named by the folder (by as much of its path
as tells two folders of one name apart: ``a/model``, ``b/model``).  Within a run, a task has
one :class:`SampleSet`; when lm-eval was run again into the same ``--output_path``, the
task has several files, kept newest first (by the timestamp lm-eval puts in the name) and
read **by document**: each document's line comes from the newest file that has it
(:func:`~.records.iter_set`), and :func:`run_notes` says so.  ``tc_probe`` files are
left out (``analyze`` scores them apart).

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for run, stamp in [("base", "2026-01-01T10-00-00"), ("sft", "2026-01-01T11-00-00"),
    ...                    ("sft", "2026-01-02T09-00-00")]:
    ...     (root / run).mkdir(exist_ok=True)
    ...     _ = (root / run / f"samples_gsm8k_{stamp}.jsonl").write_text("")
    >>> runs = find_runs([root])
    >>> [(r.name, [s.task for s in r.sets], [f.name[-25:] for s in r.sets for f in s.files]) for r in runs]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('base', ['gsm8k'], ['2026-01-01T10-00-00.jsonl']),
     ('sft', ['gsm8k'], ['2026-01-02T09-00-00.jsonl', '2026-01-01T11-00-00.jsonl'])]
    >>> print(run_notes(runs)[0])  # doctest: +ELLIPSIS
    run sft, task gsm8k: 2 samples files (lm-eval run again into one folder); each document is read ...
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .files import find_sample_files, is_probe_file, order_runs, sample_date, task_and_run

__all__ = ["Run", "SampleSet", "describe_pair", "describe_runs", "find_runs", "one_run", "run_notes"]


@dataclass(frozen=True)
class SampleSet:
    """One task's samples in one run: its files, newest first (one unless lm-eval was run
    again into the same folder)."""

    run: str
    task: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class Run:
    """One folder of samples files: its name in the reports, the folder, a set per task."""

    name: str
    folder: Path
    sets: tuple[SampleSet, ...]

    @property
    def files(self) -> list[Path]:
        """Every samples file of the run (duplicates included)."""
        return [f for s in self.sets for f in s.files]


def _names(folders: Sequence[Path]) -> dict[Path, str]:
    """Each folder's run name: its own name, or as many trailing path parts as tell it
    apart from another folder of the same name.

    >>> _names([Path("/o/a/m"), Path("/o/b/m"), Path("/o/c")])
    {PosixPath('/o/a/m'): 'a/m', PosixPath('/o/b/m'): 'b/m', PosixPath('/o/c'): 'c'}
    """
    names: dict[Path, str] = {}
    by_name: dict[str, list[Path]] = defaultdict(list)
    for folder in folders:
        by_name[folder.name].append(folder)
    for group in by_name.values():
        depth = 1
        while len({"/".join(f.parts[-depth:]) for f in group}) < len(group):
            depth += 1
        for folder in group:
            names[folder] = "/".join(folder.parts[-depth:]) or str(folder)
    return names


def find_runs(paths: Sequence[str | Path]) -> list[Run]:
    """The runs under ``paths`` (folders or samples files), in
    :func:`~.files.order_runs` order, probe files left out; each file once, however often
    it was named.

    Raises:
        FileNotFoundError: a path does not exist, or there is no samples file.
    """
    files: dict[Path, Path] = {}  # resolved -> as found
    for f in find_sample_files(list(paths)):
        if not is_probe_file(f):
            files.setdefault(Path(os.path.realpath(f)), f)
    by_folder: dict[Path, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for real, f in files.items():
        by_folder[real.parent][task_and_run(f)[0]].append(f)
    names = _names(list(by_folder))
    runs = []
    for folder, tasks in by_folder.items():
        sets = tuple(
            SampleSet(names[folder], task, tuple(sorted(fs, key=lambda f: (sample_date(f), f.name), reverse=True)))
            for task, fs in tasks.items()
        )
        runs.append(Run(names[folder], folder, sets))
    rank = {name: i for i, name in enumerate(order_runs(r.name for r in runs))}
    return sorted(runs, key=lambda r: rank[r.name])


def _where(folder: Path) -> str:
    """``folder`` relative to the working directory when it is under it."""
    try:
        return str(folder.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def describe_runs(runs: Sequence[Run]) -> str:
    """What a report found: one line per run (name, folder, tasks), for stderr.

    >>> print(describe_runs([Run("base", Path("/o/base"), (SampleSet("base", "gsm8k", (Path("x"),)),))]))
    1 run:
      base  /o/base  1 task (gsm8k)
    """
    width = max((len(r.name) for r in runs), default=0)
    where = {r.name: _where(r.folder) for r in runs}
    room = max(map(len, where.values()), default=0)
    lines = [f"{len(runs)} run{'s' if len(runs) != 1 else ''}:"]
    for r in runs:
        lines.append(f"  {r.name:<{width}}  {where[r.name]:<{room}}  {_tasks(r)}")
    return "\n".join(lines)


def _tasks(run: Run) -> str:
    """``3 tasks (a, b, c)``, the first four named."""
    tasks = [s.task for s in run.sets]
    shown = ", ".join(tasks[:4]) + (f", … ({len(tasks) - 4} more)" if len(tasks) > 4 else "")
    return f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} ({shown})"


def describe_pair(base: Run, new: Run) -> str:
    """What ``compare`` compares, for stderr.

    >>> one = (SampleSet("a", "gsm8k", (Path("x"),)),)
    >>> print(describe_pair(Run("a", Path("/o/a"), one), Run("b", Path("/o/b"), one)))
    base run a (/o/a, 1 task (gsm8k)) -> fine-tuned run b (/o/b, 1 task (gsm8k))
    """
    return (f"base run {base.name} ({_where(base.folder)}, {_tasks(base)}) -> fine-tuned run {new.name} "
            f"({_where(new.folder)}, {_tasks(new)})")  # fmt: skip


def run_notes(runs: Sequence[Run]) -> list[str]:
    """One warning per task that has several samples files in one run (how it is read)."""
    return [
        f"run {s.run}, task {s.task}: {len(s.files)} samples files (lm-eval run again into one folder); each "
        f"document is read from the newest file that has it ({s.files[0].name}), older lines of it are ignored"
        for r in runs
        for s in r.sets
        if len(s.files) > 1
    ]


def one_run(paths: Sequence[str | Path], role: str) -> Run:
    """The one run under ``paths`` (``compare``'s base or new side); a run without trace
    samples (its ``tc_probe`` samples only: ``compare`` compares those apart) has no sets.

    Raises:
        ValueError: the paths hold several runs: it names them and says what to give instead.
    """
    runs = find_runs(paths)
    if len(runs) == 1:
        return runs[0]
    if not runs:
        folder = Path(paths[0])
        return Run(folder.name, folder, ())
    given = ", ".join(map(str, paths))
    names = ", ".join(r.name for r in runs[:12]) + (f", … ({len(runs) - 12} more)" if len(runs) > 12 else "")
    raise ValueError(
        f"the {role} run {given} holds {len(runs)} runs ({names}), not one: give one run's folder (the folder "
        f"holding its samples_*.jsonl files, e.g. {_where(runs[0].folder)}), or use `tracecollapse analyze` or "
        "`report` for all of them"
    )
