"""Finding lm-eval ``--log_samples`` files and reading the fields of their lines (task
from the file name, prompt, raw responses): shared by the reports, ``tc_replay``, the
probes and the training monitor, so it sits below all of them.

Runs whose names carry numbers (the trace monitor's ``step-<N>``, the Trainer's
``checkpoint-<N>``) are listed in natural order, numbers compared as numbers, after the runs
whose names carry none (``base``), wherever runs are listed (:func:`natural_key`,
:func:`order_runs`).

Example:
    >>> sample_task(Path("out/m/samples_gsm8k_2026-01-01T00-00-00.jsonl"))
    'gsm8k'
    >>> order_runs(["base", "checkpoint-1000", "checkpoint-1500", "checkpoint-2000", "checkpoint-500"])
    ['base', 'checkpoint-500', 'checkpoint-1000', 'checkpoint-1500', 'checkpoint-2000']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "PROBE_TASK",
    "find_sample_files",
    "is_probe_file",
    "natural_key",
    "order_runs",
    "sample_date",
    "sample_fields",
    "sample_prompt",
    "sample_responses",
    "sample_task",
    "task_and_run",
]

PROBE_TASK = "tc_probe"  # its samples hold faithfulness probes, not trace statuses

_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.:]+)$")
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[str | int, ...], str]:
    """A sort key comparing runs of digits as numbers (``step-20`` before ``step-100``),
    the rest as text; names equal but for leading zeros are ordered by the text itself.

    >>> sorted(["step-100", "step-20", "step-0", "step-10"], key=natural_key)
    ['step-0', 'step-10', 'step-20', 'step-100']
    >>> sorted(["a1x2", "a1x", "a01x", "b", "a"], key=natural_key)
    ['a', 'a01x', 'a1x', 'a1x2', 'b']
    """
    # split() alternates text and digits, always text first: items of one index have one type
    parts = _DIGITS.split(text)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), text


def order_runs(runs: Iterable[str]) -> list[str]:
    """Run names, each once: those without a number first, in the order first seen (a
    ``base`` run stays where it was given), then those with one in natural order
    (:func:`natural_key`: ``step-0`` ... ``step-100``, ``checkpoint-500`` before
    ``checkpoint-1000``), whatever order the shell or the file system gave.  What
    ``analyze``, ``table``, ``plot`` and the HTML report list runs by.

    >>> order_runs(["checkpoint-1000", "checkpoint-200", "checkpoint-50", "checkpoint-200"])
    ['checkpoint-50', 'checkpoint-200', 'checkpoint-1000']
    >>> order_runs(["sft", "base"]), order_runs(["sft_step400", "base", "mask_step200", "sft_step200"])
    (['sft', 'base'], ['base', 'mask_step200', 'sft_step200', 'sft_step400'])
    """
    names = list(dict.fromkeys(runs))
    numbered = sorted((n for n in names if _DIGITS.search(n)), key=natural_key)
    return [n for n in names if not _DIGITS.search(n)] + numbered


def find_sample_files(paths: list[str | Path]) -> list[Path]:
    """Every ``samples_*.jsonl`` under the given folders (in natural order of their paths,
    :func:`natural_key`), plus files named directly (in the order given)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(
                sorted((q for q in p.rglob("samples_*.jsonl") if q.is_file()), key=lambda q: natural_key(str(q)))
            )
        elif p.is_file():
            found.append(p)
        elif p.exists():
            raise ValueError(
                f"{p} is not a regular file or folder (give lm-eval output folders or samples_*.jsonl files)"
            )
        else:
            raise FileNotFoundError(f"{p} does not exist (give lm-eval output folders or samples_*.jsonl files)")
    if not found:
        raise FileNotFoundError(
            f"no samples_*.jsonl under {', '.join(map(str, paths))} (run lm-eval with --log_samples)"
        )
    return found


def sample_task(path: Path) -> str | None:
    """The task in an lm-eval samples file name ``samples_<task>_<date>.jsonl``, else None.

    >>> sample_task(Path("out/m/samples_gsm8k_cot_2026-01-01T00-00-00.000000.jsonl")), sample_task(Path("x.jsonl"))
    ('gsm8k_cot', None)
    """
    m = _NAME.match(path.stem)
    return m.group("task") if m else None


def sample_date(path: Path) -> str:
    """The timestamp lm-eval puts in a samples file's name (``""`` without one): ISO-like,
    so newer sorts later.

    >>> sample_date(Path("samples_gsm8k_2026-01-02T09-00-00.123456.jsonl")), sample_date(Path("x.jsonl"))
    ('2026-01-02T09-00-00.123456', '')
    """
    m = _NAME.match(path.stem)
    return m.group("date") if m else ""


def task_and_run(path: Path) -> tuple[str, str]:
    """(task, run) from lm-eval's file layout: ``<run>/samples_<task>_<date>.jsonl``."""
    return sample_task(path) or path.stem, path.parent.name


def is_probe_file(path: Path) -> bool:
    """Whether ``path`` is the samples file of a ``tc_probe`` run (scored by
    :mod:`lm_eval_tracecollapse.probes`, left out of the trace-status reports)."""
    return task_and_run(path)[0] == PROBE_TASK


def sample_prompt(rec: dict[str, Any]) -> str | None:
    """The prompt of a replay line (``prompt``) or of an lm-eval sample line (the first
    argument of ``arguments.gen_args_0``, else of its first request); None if absent.

    >>> sample_prompt({"arguments": {"gen_args_0": {"arg_0": "Q?", "arg_1": {}}}})
    'Q?'
    """
    if isinstance(rec.get("prompt"), str):
        return str(rec["prompt"])
    args = rec.get("arguments")
    if isinstance(args, dict):
        first = args.get("gen_args_0") or next(iter(args.values()), None)
        if isinstance(first, dict) and isinstance(first.get("arg_0"), str):
            return str(first["arg_0"])
    return None


def sample_fields(rec: dict[str, Any]) -> tuple[str | None, Any]:
    """(prompt, first raw response) of an lm-eval sample line, or of a replay line
    (``prompt``/``response``); the prompt may be None, the response None or of the wrong type."""
    resps = rec.get("resps")
    if isinstance(resps, list) and resps:
        first = resps[0][0] if isinstance(resps[0], list) and resps[0] else resps[0]
    else:
        first = rec.get("response")
    return sample_prompt(rec), first


def sample_responses(rec: dict[str, Any]) -> list[Any]:
    """Every raw response of an lm-eval sample line (``resps[0]``: k of them with
    ``repeats: k``), or the ``response`` of a replay line; items may be of the wrong type.

    >>> sample_responses({"resps": [["a", "b"]]}), sample_responses({"response": "c"})
    (['a', 'b'], ['c'])
    """
    resps = rec.get("resps")
    if isinstance(resps, list) and resps:
        return list(resps[0]) if isinstance(resps[0], list) else [resps[0]]
    return [rec["response"]] if "response" in rec else []
