"""``tracecollapse study CONFIG.yaml``: train every strategy × seed, evaluate the base
and every checkpoint through lm-eval, write the paper's table, figures and comparisons.

The run folder (``output_dir``, default ``runs/<name>``)::

    config.yaml  config.json  versions.json   the config as given and as validated; package versions
    run_log.jsonl                             one line per event (train_start, checkpoint, evaluate, *_skip)
    builtin/                                  the built-in tiny base (builtin:tiny-arith only)
    train/<strategy>_seed<N>/checkpoint-<step>/   Trainer checkpoints (adapters with LoRA), each marked .done
    eval/base/, eval/<strategy>_seed<N>_step<step>/   lm-eval's results_*.json and samples_*.jsonl
    table.md table.tex table.csv table_all.md analyze.txt compare.txt figures/<task>.png
    figures/status.png report.html            status bars of the base and final checkpoints; the HTML report
    training_curves.json figures/training_curves.png   the trace monitor's curves (with monitor:)

A second run of the same config skips every marked checkpoint and evaluation; a
different config in the same folder is refused (name a new ``output_dir``).

Example:
    >>> STAGES
    ('all', 'train', 'evaluate', 'report')
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from ._io import log_event, process_state
from .config import ConfigError, StudyConfig, load_config

__all__ = ["STAGES", "Stage", "is_complete", "main", "run_study", "versions"]

Stage = Literal["all", "train", "evaluate", "report"]
STAGES: tuple[Stage, ...] = ("all", "train", "evaluate", "report")
_PACKAGES = ("lm-eval-tracecollapse", "lm_eval", "torch", "transformers", "accelerate", "peft", "datasets", "vllm")


def versions() -> dict[str, str | None]:
    """Python and the installed versions of the packages a study uses (None: absent).

    >>> versions()["python"] == platform.python_version()
    True
    """
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _changed(cfg: StudyConfig) -> list[str] | None:
    """The top-level keys where the config recorded in ``cfg``'s folder differs from ``cfg``
    (None: no config recorded there yet)."""
    recorded = cfg.out / "config.json"
    if not recorded.is_file():
        return None
    before, now = json.loads(recorded.read_text(encoding="utf-8")), cfg.to_dict()
    return [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]


def _record(cfg: StudyConfig, source: Path | None) -> None:
    """Write config and versions into the run folder; refuse a different config there."""
    out = cfg.out
    recorded = out / "config.json"
    now = cfg.to_dict()
    changed = _changed(cfg)
    if changed:
        raise ConfigError(
            f"output_dir: {out} holds a study with a different config ({', '.join(changed)} changed); "
            "name a new output_dir or delete the old one"
        )
    out.mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(now, indent=1) + "\n", encoding="utf-8")
    if source is not None:
        (out / "config.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    info = {"versions": versions(), "seeds": list(cfg.training.seeds), "argv": sys.argv}
    (out / "versions.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def _base(cfg: StudyConfig) -> str:
    if cfg.model.startswith("builtin:"):
        from .data import builtin_base

        return str(builtin_base(cfg.model, cfg.out / "builtin"))
    return cfg.model


def is_complete(cfg: StudyConfig) -> bool:
    """Whether ``cfg``'s folder holds this very study finished: its recorded config, every
    arm trained, every planned evaluation done and the outputs written (a rerun would only skip)."""
    from ._io import is_done
    from .config import arms
    from .evaluate import plan

    if _changed(cfg) != []:  # no config recorded, or a different one
        return False
    trained = all(is_done(cfg.out / "train" / arm.name) for arm in arms(cfg))
    evaluated = all(is_done(cfg.out / "eval" / ev.label) for ev in plan(cfg))
    return trained and evaluated and (cfg.out / "report.html").is_file()


def run_study(config: StudyConfig | str | os.PathLike[str], stage: Stage = "all") -> dict[str, Any]:
    """Run (or resume) a study; returns ``{"evaluations", "outputs"}`` (outputs on the
    main process, for the ``all`` and ``report`` stages)."""
    from .config import arms
    from .data import load_examples
    from .evaluate import evaluate_all, plan
    from .outputs import write_outputs
    from .train import train_arm

    if stage not in STAGES:
        raise ConfigError(f"stage: {stage!r} is not allowed; use one of {', '.join(STAGES)}")
    source = None if isinstance(config, StudyConfig) else Path(config)
    cfg = config if isinstance(config, StudyConfig) else load_config(Path(config))
    state = process_state()
    if cfg.model.startswith("builtin:"):  # nothing to fetch: as `make demo`, never reach for the hub
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if state.is_main_process:
        _record(cfg, source)
    state.wait_for_everyone()
    log = cfg.out / "run_log.jsonl"
    if state.is_main_process:
        log_event(log, "start", stage=stage, processes=state.num_processes)
    examples = load_examples(cfg) if stage in ("all", "train") else []  # a bad data file fails first
    base = _base(cfg)
    if stage in ("all", "train"):
        for arm in arms(cfg):
            train_arm(cfg, arm, base, examples, log)
    evaluations = plan(cfg)
    if stage in ("all", "evaluate"):
        evaluations = evaluate_all(cfg, base, log)
    outputs: dict[str, Any] = {}
    if stage in ("all", "report") and state.is_main_process:
        outputs = write_outputs(cfg, evaluations)
        print(f"\n{outputs['markdown']}\n")
        print(f"study {cfg.name}: outputs in {cfg.out} (table.md, table.tex, compare.txt, figures/)")
        log_event(log, "report", files=sorted(outputs["files"]))
    return {"evaluations": evaluations, "outputs": outputs}


def main(config: str, stage: Stage = "all", check: bool = False) -> None:
    """The ``tracecollapse study`` command: a bad config ends it with its one line and
    exit status 2, a bad input file or failed step with its line and status 1."""
    try:
        cfg = load_config(config)
        if check:
            from .config import arms

            names = ", ".join(a.name for a in arms(cfg))
            tune = f"LoRA r={cfg.lora.r}" if cfg.lora else "full fine-tuning"
            print(f"{config}: valid; {len(arms(cfg))} arm(s) ({names}), {tune}, "
                  f"evaluation {cfg.evaluation.backend} on {', '.join(cfg.evaluation.tasks)} -> {cfg.out}")  # fmt: skip
            return
        run_study(config, stage)
    except ConfigError as exc:
        print(f"tracecollapse study: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (FileNotFoundError, ValueError) as exc:
        if os.environ.get("TRACECOLLAPSE_TRACEBACK"):
            raise
        print(f"tracecollapse study: {' '.join(str(exc).split())}", file=sys.stderr)
        raise SystemExit(1) from None
