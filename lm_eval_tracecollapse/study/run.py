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

from ._io import atomic_json, atomic_text, check_launch, log_event, process_state
from .config import ConfigError, StudyConfig, load_config, parse_config

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


def _filled(value: Any, default: Any) -> Any:
    """A recorded config value with the keys added since it was recorded at their defaults."""
    if isinstance(value, dict) and isinstance(default, dict):
        return {**default, **{k: _filled(v, default.get(k)) for k, v in value.items()}}
    return value


def _changed(cfg: StudyConfig) -> list[str] | None:
    """The top-level keys where the config recorded in ``cfg``'s folder differs from ``cfg``
    (None: no config recorded there yet); a key a later version added counts as its default."""
    recorded = cfg.out / "config.json"
    if not recorded.is_file():
        return None
    before, now = json.loads(recorded.read_text(encoding="utf-8")), cfg.to_dict()
    default = parse_config({"name": "x", "model": "m", "data": {"train": "d"}}).to_dict()
    return [
        k
        for k in sorted(set(before) | set(now))
        if _filled(before.get(k, default.get(k)), default.get(k)) != now.get(k)
    ]


def _check_data(cfg: StudyConfig) -> None:
    """Record the SFT data file's hash (``inputs.json``) or refuse one that changed since."""
    from .data import data_fingerprint

    now = data_fingerprint(cfg)
    recorded = cfg.out / "inputs.json"
    before = json.loads(recorded.read_text(encoding="utf-8")).get("data.train") if recorded.is_file() else None
    if now is None:
        return
    if before is not None and before["sha256"] != now["sha256"]:
        raise ConfigError(
            f"data.train: {cfg.data.train} changed since this study started in {cfg.out} (sha256 "
            f"{before['sha256'][:12]} then, {now['sha256'][:12]} now; {before['bytes']} -> {now['bytes']} bytes); "
            "restore the file, or name a new output_dir for the new data"
        )
    if before is None:
        atomic_json(recorded, {"data.train": now})


def _record(cfg: StudyConfig, source: Path | None, trains: bool) -> None:
    """Write config and versions into the run folder; refuse a different config there, and
    (``trains``) a data file that changed since the study started."""
    out = cfg.out
    changed = _changed(cfg)
    if changed:
        raise ConfigError(
            f"output_dir: {out} holds a study with a different config ({', '.join(changed)} changed); "
            "name a new output_dir or delete the old one"
        )
    out.mkdir(parents=True, exist_ok=True)
    if trains:
        _check_data(cfg)
    atomic_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1) + "\n")
    if source is not None:
        atomic_text(out / "config.yaml", source.read_text(encoding="utf-8"))
    info = {"versions": versions(), "seeds": list(cfg.training.seeds), "argv": sys.argv}
    atomic_text(out / "versions.json", json.dumps(info, indent=1) + "\n")


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


def run_study(
    config: StudyConfig | str | os.PathLike[str], stage: Stage = "all", *, only: str | None = None,
    collect: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) a study; returns ``{"evaluations", "outputs"}`` (outputs on the
    main process, for the ``all`` and ``report`` stages).  ``only``: one arm (``ARM[:SEED]``)
    or ``base``, trained and evaluated alone (a job of a job array; :mod:`.jobs`);
    ``collect``: write the tables of a study whose jobs are all done."""
    from .data import load_examples
    from .evaluate import evaluate_all, plan
    from .jobs import missing, select
    from .outputs import write_outputs
    from .train import train_arm

    check_launch()
    if stage not in STAGES:
        raise ConfigError(f"stage: {stage!r} is not allowed; use one of {', '.join(STAGES)}")
    source = None if isinstance(config, StudyConfig) else Path(config)
    cfg = config if isinstance(config, StudyConfig) else load_config(Path(config))
    chosen = select(cfg, only)
    if collect and (only is not None or stage != "all"):
        raise ConfigError("--collect: writes the tables of the whole study; run it without --only and --stage")
    if only is not None and stage == "report":
        raise ConfigError("--only: runs one job (training, evaluation); write the tables with --collect")
    if collect:
        stage = "report"
    state = process_state()
    if cfg.model.startswith("builtin:"):  # nothing to fetch: as `make demo`, never reach for the hub
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    trains = stage in ("all", "train") and bool(chosen.arms)
    if state.is_main_process:
        _record(cfg, source, trains)
    state.wait_for_everyone()
    lacking = missing(cfg, plan(cfg)) if collect else []
    if lacking:
        raise ValueError(f"--collect: not every job is done: {'; '.join(lacking)}")
    log = cfg.out / "run_log.jsonl"
    if state.is_main_process:
        log_event(log, "start", stage=stage, processes=state.num_processes,
                  **({"only": only} if only else {}), **({"collect": True} if collect else {}))  # fmt: skip
    examples = load_examples(cfg) if trains else []  # a bad data file fails first
    base = _base(cfg) if trains or stage in ("all", "evaluate") else cfg.model
    if trains:
        for arm in chosen.arms:
            train_arm(cfg, arm, base, examples, log)
    evaluations = plan(cfg)
    if stage in ("all", "evaluate"):
        evaluations = evaluate_all(cfg, base, log, chosen)
    outputs: dict[str, Any] = {}
    if stage in ("all", "report") and chosen.whole and state.is_main_process:
        outputs = write_outputs(cfg, evaluations)
        print(f"\n{outputs['markdown']}\n")
        print(f"study {cfg.name}: outputs in {cfg.out} (table.md, table.tex, compare.txt, figures/)")
        cpu = sum(os.times()[:4])  # user + system seconds of this process and its children, for the run time
        log_event(log, "report", files=sorted(outputs["files"]), cpu=round(cpu, 1))
    return {"evaluations": evaluations, "outputs": outputs}


def main(config: str, stage: Stage = "all", check: bool = False, only: str | None = None,
         collect: bool = False) -> None:  # fmt: skip
    """The ``tracecollapse study`` command: a bad config ends it with its one line and
    exit status 2 (``--check``: one line per problem), a bad input file or failed step with
    its line and status 1."""
    try:
        check_launch()
        cfg = load_config(config)
        if check:
            from .check import check_study, plan_line

            problems = check_study(cfg)
            for problem in problems:
                print(f"tracecollapse study: {config}: {problem}", file=sys.stderr)
            if problems:
                raise SystemExit(2)
            print(f"{config}: valid; {plan_line(cfg)}")
            return
        run_study(config, stage, only=only, collect=collect)
    except ConfigError as exc:
        print(f"tracecollapse study: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (FileNotFoundError, ValueError) as exc:
        if os.environ.get("TRACECOLLAPSE_TRACEBACK"):
            raise
        print(f"tracecollapse study: {' '.join(str(exc).split())}", file=sys.stderr)
        raise SystemExit(1) from None
