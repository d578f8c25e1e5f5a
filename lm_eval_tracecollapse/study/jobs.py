"""One study as separate jobs: ``--only ARM[:SEED]`` runs one arm (or the base), ``--collect``
writes the tables once every job is done.

A job array runs each arm × seed apart (``tracecollapse study CONFIG --only mask:42``: its
training and the evaluation of its checkpoints) and the base's evaluation (``--only base``),
all in the same ``output_dir``; then ``tracecollapse study CONFIG --collect`` checks that every
arm is trained and every planned evaluation done, and writes the tables, figures and reports.
:func:`jobs` lists the ``--only`` values of the whole study (``--check`` prints them).

Example:
    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "t", "model": "m", "data": {"train": "d.jsonl"},
    ...                     "strategies": ["default", "mask"], "training": {"seeds": [1, 2]}})
    >>> jobs(cfg)
    ['base', 'default:1', 'default:2', 'mask:1', 'mask:2']
    >>> s = select(cfg, "mask")
    >>> [a.name for a in s.arms], s.base, s.whole
    (['mask_seed1', 'mask_seed2'], False, False)
    >>> select(cfg, "maks:1")
    Traceback (most recent call last):
    ...
    lm_eval_tracecollapse.study.config.ConfigError: --only: 'maks' is not an arm of this study (did you mean mask?); ...
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._io import is_done
from .config import Arm, ConfigError, StudyConfig, arms

__all__ = ["Selection", "jobs", "missing", "select"]


@dataclass(frozen=True)
class Selection:
    """What one run of the study does: these arms, the base's evaluation or not; ``whole``:
    the study itself (no ``--only``), the one run that writes the tables."""

    arms: list[Arm]
    base: bool
    whole: bool

    def wants(self, arm: str | None) -> bool:
        """Whether the evaluation of ``arm``'s checkpoints (None: the base) is this run's."""
        return self.base if arm is None else any(a.name == arm for a in self.arms)


def jobs(cfg: StudyConfig) -> list[str]:
    """The ``--only`` value of every job of a job array: the base, then each strategy:seed."""
    return ["base", *(f"{a.strategy.name}:{a.seed}" for a in arms(cfg))]


def select(cfg: StudyConfig, only: str | None) -> Selection:
    """The arms ``--only ARM[:SEED]`` names (every seed without one; ``base``: the base's
    evaluation alone); None: the whole study."""
    every = arms(cfg)
    if only is None:
        return Selection(every, base=True, whole=True)
    name, _, seed = only.partition(":")
    if name == "base" and not seed:
        return Selection([], base=True, whole=False)
    names = list(dict.fromkeys(a.strategy.name for a in every))
    if name not in names:
        near = difflib.get_close_matches(name, [*names, "base"], n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise ConfigError(f"--only: {name!r} is not an arm of this study{hint}; use one of {', '.join(jobs(cfg))}")
    picked = [a for a in every if a.strategy.name == name and (not seed or str(a.seed) == seed)]
    if not picked:
        seeds = ", ".join(str(s) for s in cfg.training.seeds)
        raise ConfigError(f"--only: seed {seed!r} is not one of training.seeds ({seeds}); use {name}:SEED or {name}")
    return Selection(picked, base=False, whole=False)


def missing(cfg: StudyConfig, planned: Sequence[Any]) -> list[str]:
    """What ``--collect`` still lacks, each with the job that does it ([]: everything is done);
    ``planned``: the study's evaluations (:func:`.evaluate.plan`, which imports this module)."""
    out = [f"{a.name} is not trained (--only {a.strategy.name}:{a.seed})"
           for a in arms(cfg) if not is_done(cfg.out / "train" / a.name)]  # fmt: skip
    trained = {a.name: a for a in arms(cfg) if is_done(cfg.out / "train" / a.name)}
    for ev in planned:
        if is_done(cfg.out / "eval" / ev.label) or (ev.arm is not None and ev.arm not in trained):
            continue
        job = "base" if ev.arm is None else f"{trained[ev.arm].strategy.name}:{trained[ev.arm].seed}"
        out.append(f"{ev.label} is not evaluated (--only {job})")
    return out
