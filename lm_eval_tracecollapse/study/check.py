"""``tracecollapse study CONFIG --check``: everything that can fail before training, checked first.

:func:`load_config` has already refused unknown keys and bad types; :func:`check_study` then
looks at what the config points to, without loading weights or training anything:

- ``monitor:``: every key one of the trace monitor's (a typo is named with its nearest key)
  and every value one it takes;
- the evaluation engine (``lm-eval``; ``vllm`` for ``backend: vllm``), ``peft`` for LoRA,
  each ``training.report_to`` integration (a known one, installed), and for
  ``training.hub_model_id`` the hub (not offline) and a token;
- ``model``: a local model folder or a hub name that resolves (offline: in the local cache),
  its config and tokenizer loading, the tokenizer with a chat template;
- ``lora.target_modules``: modules of that model, read off the model built from its config on
  the meta device (no weights);
- ``data.train``: the file, each line's fields, each strategy's needs (distillation's traces),
  ``data.fmt`` a known family, and a few examples per strategy tokenised with the model's own
  template as training will (a template that closes the trace, a bad ``chat_template_kwargs``);
- ``evaluation.tasks``: names lm-eval knows with the study's include paths (``NAME_tc``: a
  task it can wrap).

Each problem is one line; ``--check`` prints them all (exit status 2) or the study's plan.

Example:
    >>> from lm_eval_tracecollapse.study.config import parse_config
    >>> cfg = parse_config({"name": "t", "model": "builtin:tiny-arith@toy", "data": {"train": "builtin:tiny-arith"},
    ...                     "monitor": {"every_n_step": 5}, "evaluation": {"tasks": ["tc_demo_easy"]}})
    >>> monitor_problems(cfg)
    ['unknown key monitor.every_n_step (did you mean every_n_steps?); allowed: held_out, every_n_steps, ...']
"""

from __future__ import annotations

import difflib
import inspect
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .config import StudyConfig, arms, unknown_key

__all__ = ["check_study", "engine_problems", "lora_problems", "model_problems", "monitor_problems", "plan_line"]

#: what the study sets itself among the monitor's arguments
_SET_BY_STUDY = ("self", "prompts", "golds", "tokenizer", "output_dir", "chat_template_kwargs")
_TOKENISED = 8  # examples per strategy tokenised with the model's template


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def monitor_problems(cfg: StudyConfig) -> list[str]:
    """Unknown ``monitor:`` keys (with the nearest name) and values the callback refuses."""
    if cfg.monitor is None:
        return []
    from ..training.monitor import TraceMonitorCallback

    params = [p for p in inspect.signature(TraceMonitorCallback.__init__).parameters if p not in _SET_BY_STUDY]
    allowed = ["held_out", *params]
    unknown = [unknown_key(f"monitor.{k}", allowed) for k in cfg.monitor if k not in allowed]
    if unknown:
        return unknown
    kwargs = {k: v for k, v in cfg.monitor.items() if k != "held_out"}
    try:
        TraceMonitorCallback(["1+1"], ["2"], **kwargs)
    except (TypeError, ValueError) as exc:
        return [f"monitor: {_line(exc)}"]
    return []


def engine_problems(cfg: StudyConfig) -> list[str]:
    """The packages the config needs that are not installed, and unknown ``report_to`` names."""
    out = []
    if find_spec("lm_eval") is None:
        out.append("evaluation: lm-eval is not installed (pip install lm-eval)")
    if cfg.evaluation.backend == "vllm" and find_spec("vllm") is None:
        out.append("evaluation.backend: vllm is not installed (pip install vllm), or evaluate with backend: hf")
    if cfg.lora is not None and find_spec("peft") is None:
        out.append("lora: needs peft (pip install 'lm-eval-tracecollapse[peft]'), or set lora: null")
    if cfg.training.hub_model_id and _offline():
        out.append("training.hub_model_id: pushing needs the hub, and HF_HUB_OFFLINE is set; unset it or drop the key")
    elif cfg.training.hub_model_id:
        from huggingface_hub import get_token

        if get_token() is None:
            out.append("training.hub_model_id: pushing needs a Hugging Face token (hf auth login, or HF_TOKEN)")
    if cfg.training.integrations and cfg.training.integrations != ["all"]:
        from transformers.integrations import get_available_reporting_integrations
        from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

        known, installed = list(INTEGRATION_TO_CALLBACK), set(get_available_reporting_integrations())
        for name in cfg.training.integrations:
            if name not in known:
                near = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                out.append(f"training.report_to: {name!r} is not an integration{hint}; known: {', '.join(known)}")
            elif name not in installed:
                out.append(
                    f"training.report_to: {name} is not installed (pip install {name}), or drop it from report_to"
                )
    return out


def _offline() -> bool:
    return any(
        os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def model_problems(cfg: StudyConfig) -> tuple[list[str], Any, Any]:
    """(problems, tokenizer, model config) of ``model``: it resolves, its config and tokenizer
    load (not its weights), the tokenizer has a chat template; the built-in base is described
    by its recipe without training it."""
    if cfg.model.startswith("builtin:"):
        from ..builtin.recipe import SIZES, base_tokenizer, builtin_size
        from ..builtin.tiny import model_config

        size = SIZES[builtin_size(cfg.model)]
        tok = base_tokenizer(size)
        return [], tok, model_config(tok, hidden=size.hidden, layers=size.layers, heads=4)
    from transformers import AutoConfig, AutoTokenizer

    trust = bool(cfg.model_args.get("trust_remote_code", False))
    folder = Path(cfg.model).expanduser()
    if folder.is_dir() and not (folder / "config.json").is_file():
        return [f"model: {cfg.model} is a folder without config.json (not a saved model)"], None, None
    if not folder.exists() and (cfg.model.startswith(("/", ".", "~")) or cfg.model.count("/") > 1):
        return [f"model: {cfg.model} does not exist (a local model folder, by its path)"], None, None
    try:
        config = AutoConfig.from_pretrained(cfg.model, trust_remote_code=trust, local_files_only=_offline())
    except (OSError, ValueError) as exc:
        where = "in the local Hugging Face cache (offline)" if _offline() else f"on the Hugging Face hub ({_line(exc)})"
        return (
            [f"model: {cfg.model!r} does not resolve: no local folder of that name, and no model {where}"],
            None,
            None,
        )
    try:
        tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=trust, local_files_only=_offline())
    except (OSError, ValueError) as exc:
        return [f"model: {cfg.model}'s tokenizer does not load ({_line(exc)[:160]})"], None, config
    if not getattr(tok, "chat_template", None):
        return [f"model: {cfg.model}'s tokenizer has no chat template; the study renders its training texts "
                "with it (set tokenizer.chat_template and save it with the model)"], None, config  # fmt: skip
    return [], tok, config


def lora_problems(cfg: StudyConfig, config: Any) -> list[str]:
    """``lora.target_modules`` that name no module of the model ``config`` builds (on the meta
    device: no memory, no weights), each with the nearest linear layer's name."""
    if cfg.lora is None or config is None:
        return []
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    trust = bool(cfg.model_args.get("trust_remote_code", False))
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust)
    names = [n for n, _ in model.named_modules()]
    linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
    out = []
    for target in cfg.lora.target_modules:  # peft: a module whose name is the target or ends in ".target"
        if target == "all-linear" or any(n == target or n.endswith(f".{target}") for n in names):
            continue
        near = difflib.get_close_matches(target, linear, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        out.append(f"lora.target_modules: {target!r} is not a module of {type(model).__name__}{hint}; "
                   f"its linear layers: {', '.join(linear)}")  # fmt: skip
    return out


def data_problems(cfg: StudyConfig, tok: Any) -> list[str]:
    """The SFT data as each strategy trains on it: readable, the fields there, and (with the
    model's tokenizer) a few examples tokenised through its chat template."""
    from ..core.formats import get_format
    from ..training.masking import tokenize_with_masks
    from .data import for_strategy, load_examples

    try:
        get_format(cfg.data.fmt)
        examples = load_examples(cfg)
    except (FileNotFoundError, ValueError) as exc:
        return [_line(exc) if str(exc).startswith("data.") else f"data.fmt: {_line(exc)}"]
    out = []
    held = cfg.monitor.get("held_out", 16) if cfg.monitor is not None else 0
    if isinstance(held, int) and not isinstance(held, bool) and held >= len(examples):
        out.append(f"monitor.held_out: {held} held-out examples leave none of the {len(examples)} to train on")
    for i, spec in enumerate(cfg.strategies):
        try:
            shaped = for_strategy(examples, spec, cfg.data.fmt)
            if tok is not None:
                tokenize_with_masks(shaped[:_TOKENISED], tok, mode=spec.mode, weight=spec.weight or 0.5,
                                    fmt=cfg.data.fmt, max_length=cfg.training.max_length,
                                    insert_empty_trace=spec.insert_empty,
                                    chat_template_kwargs=cfg.chat_template_kwargs)  # fmt: skip
        except ValueError as exc:
            out.append(f"strategies[{i}] ({spec.name}): {_line(exc)}")
    return out


def task_problems(cfg: StudyConfig) -> list[str]:
    """``evaluation.tasks`` lm-eval does not know with the study's include paths."""
    from ..harness.task_index import task_index
    from ..locations import task_yamls_dir

    e = cfg.evaluation
    try:
        index = task_index([task_yamls_dir(), *e.include_path], e.include_defaults)
    except ValueError as exc:
        return [f"evaluation.include_path: {_line(exc)}"]
    out = []
    for task in e.tasks:
        if task in index or (task.endswith("_tc") and task[:-3] in index) or Path(task).is_file():
            continue
        near = difflib.get_close_matches(task, list(index), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        where = "" if e.include_defaults else " (include_defaults: false leaves lm-eval's own tasks out)"
        out.append(f"evaluation.tasks: {task!r} is not a task lm-eval knows here{hint}{where}")
    return out


def check_study(cfg: StudyConfig) -> list[str]:
    """Every problem found, one line each ([]: the study can start)."""
    problems = monitor_problems(cfg) + engine_problems(cfg)
    found, tok, config = model_problems(cfg)
    problems += found + lora_problems(cfg, config) + data_problems(cfg, tok)
    if find_spec("lm_eval") is not None:
        problems += task_problems(cfg)
    return problems


def plan_line(cfg: StudyConfig) -> str:
    """The study's plan in one line: arms, tuning, evaluation, folder and the jobs of a job array."""
    from .jobs import jobs

    names = ", ".join(a.name for a in arms(cfg))
    tune = f"LoRA r={cfg.lora.r}" if cfg.lora else "full fine-tuning"
    return (f"{len(arms(cfg))} arm(s) ({names}), {tune}, evaluation {cfg.evaluation.backend} on "
            f"{', '.join(cfg.evaluation.tasks)} -> {cfg.out}; jobs (--only): {' '.join(jobs(cfg))}")  # fmt: skip
