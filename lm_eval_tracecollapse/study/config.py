"""The study's YAML config as validated, frozen dataclasses.

:func:`load_config` reads a YAML file (or :func:`parse_config` a mapping) into a
:class:`StudyConfig`.  Unknown keys are refused and every value's type is checked
against the dataclass annotations; the first problem raises :class:`ConfigError`,
one line naming the key and what it allows.  YAML's ``1e-5`` (a string for
PyYAML's YAML 1.1 resolver) is read as the number it looks like.

Example:
    >>> cfg = parse_config({"name": "toy", "model": "builtin:tiny-arith@toy", "data": {"train": "builtin:tiny-arith"},
    ...                     "strategies": ["default", {"kind": "partial", "weight": 0.1}], "lora": None})
    >>> [s.name for s in cfg.strategies], cfg.strategies[1].mode, cfg.training.lr
    (['default', 'partial_w0.1'], 'partial', 1e-05)
    >>> parse_config({"name": "x", "model": "m", "data": {"train": "d.jsonl"}, "strategies": ["maskk"]})
    Traceback (most recent call last):
    ...
    lm_eval_tracecollapse.study.config.ConfigError: strategies[0].kind: 'maskk' is not allowed; use one of default, ...
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

from ..builtin.recipe import SIZES

if TYPE_CHECKING:
    from ..training.masking import MaskMode

__all__ = [
    "BUILTIN_DATA",
    "BUILTIN_MODELS",
    "Arm",
    "ConfigError",
    "DataConfig",
    "EvaluationConfig",
    "LoraConfig",
    "StrategyKind",
    "StrategySpec",
    "StudyConfig",
    "Traces",
    "TrainingConfig",
    "arms",
    "config_path",
    "load_config",
    "parse_config",
    "unknown_key",
]

#: ``model: builtin:tiny-arith[@toy|small|full]``: the demo's tiny base, built and trained locally
BUILTIN_MODELS = ("builtin:tiny-arith",)
#: ``data.train: builtin:tiny-arith``: the demo's trace-carrying arithmetic SFT items
BUILTIN_DATA = ("builtin:tiny-arith",)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


class ConfigError(ValueError):
    """A bad study config: one line naming the key and what it allows."""


class StrategyKind(str, Enum):
    """The fine-tuning strategies (the paper's five and our partial masking)."""

    DEFAULT = "default"  # the model's own chat template, trace-free targets, all trained
    EMPTY = "empty"  # an empty <think></think> injected and trained
    MASK = "mask"  # the think block (tags included) masked from the loss
    RESPOND = "respond"  # think block and prompt masked: the answer alone is trained
    DISTILLATION = "distillation"  # teacher traces (the data's ``reasoning``) trained
    PARTIAL = "partial"  # the trace's tokens weighted by ``weight`` in (0, 1)


class Traces(str, Enum):
    """What a strategy does with traces in the SFT data."""

    DROP = "drop"  # removed: the paper's trace-free SFT setting
    KEEP = "keep"  # kept (an example without one gets the empty block)


#: kind -> (masking mode of tokenize_with_masks, insert an empty block, default traces)
_KINDS: dict[StrategyKind, tuple[MaskMode, bool, Traces]] = {
    StrategyKind.DEFAULT: ("none", False, Traces.DROP),
    StrategyKind.EMPTY: ("none", True, Traces.DROP),
    StrategyKind.MASK: ("think", True, Traces.DROP),
    StrategyKind.RESPOND: ("prompt+think", True, Traces.DROP),
    StrategyKind.DISTILLATION: ("none", True, Traces.KEEP),
    StrategyKind.PARTIAL: ("partial", True, Traces.KEEP),
}


@dataclass(frozen=True)
class StrategySpec:
    """One fine-tuning arm: a strategy kind, its partial weight, trace handling, label."""

    kind: StrategyKind
    weight: float | None = None
    traces: Traces | None = None  # default per kind: keep for distillation/partial, else drop
    label: str | None = None  # run-folder and table name; default from the kind
    #: the prompt's tokens: trained (the default, as the paper's strategies except respond) or
    #: masked (completion-only SFT; respond always masks it)
    prompt: Literal["train", "mask"] | None = None
    #: the arm's name in curves and summaries (free text, e.g. ``"sft: answer only"``); default: its name
    title: str | None = None

    @property
    def name(self) -> str:
        """The arm's name: ``label``, else the kind (``partial_w0.1`` with its weight)."""
        if self.label:
            return self.label
        return f"partial_w{self.weight:g}" if self.kind is StrategyKind.PARTIAL else self.kind.value

    @property
    def display(self) -> str:
        """``title``, else :attr:`name`."""
        return self.title or self.name

    @property
    def mode(self) -> MaskMode:
        """The :func:`~lm_eval_tracecollapse.training.masking.tokenize_with_masks` mode."""
        mode = _KINDS[self.kind][0]
        if self.prompt == "mask":
            return {"none": "prompt", "think": "prompt+think", "partial": "prompt+partial"}.get(mode, mode)  # type: ignore[return-value]
        return mode

    @property
    def insert_empty(self) -> bool:
        return _KINDS[self.kind][1]

    @property
    def keeps_traces(self) -> bool:
        return (self.traces or _KINDS[self.kind][2]) is Traces.KEEP


@dataclass(frozen=True)
class LoraConfig:
    """LoRA via peft (``pip install 'lm-eval-tracecollapse[peft]'``); ``lora: null`` is full fine-tuning."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))


@dataclass(frozen=True)
class DataConfig:
    """SFT data: a JSONL of ``{prompt, response[, reasoning]}`` or ``{messages}`` lines."""

    train: str
    fmt: str = "think"  # reasoning format family of the traces (masking.tokenize_with_masks)
    limit: int | None = None  # the first N examples only


@dataclass(frozen=True)
class TrainingConfig:
    """Trainer hyper-parameters; ``max_steps`` (when set) overrides ``epochs``."""

    seeds: list[int] = field(default_factory=lambda: [42])
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 2
    grad_accum: int = 2
    lr: float = 1e-5
    lr_scheduler: Literal["linear", "constant", "constant_with_warmup", "cosine"] = "linear"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # gradient clipping (the Trainer's default); 0 turns it off
    max_length: int | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "bf16"
    save_steps: int = 200
    logging_steps: int = 10
    gradient_checkpointing: bool = False
    #: experiment tracking: the Trainer's ``report_to`` (``none``, ``all``, or integrations such as
    #: ``wandb``, ``tensorboard``, ``mlflow``, ``trackio``), the run name (default ``<name>/<arm>``)
    #: and project (W&B's and MLflow's project / experiment, Trackio's project)
    report_to: str | list[str] = "none"
    run_name: str | None = None
    project: str | None = None
    #: push each arm's checkpoints (its LoRA adapter, or the model) to the private hub repository
    #: ``<hub_model_id>-<arm>`` as they are saved (None: no push)
    hub_model_id: str | None = None

    @property
    def integrations(self) -> list[str]:
        """``report_to`` as a list (``[]``: none)."""
        names = [self.report_to] if isinstance(self.report_to, str) else list(self.report_to)
        return [] if names == ["none"] else names


@dataclass(frozen=True)
class EvaluationConfig:
    """lm-eval settings for the base and every saved checkpoint (samples always logged)."""

    tasks: list[str] = field(default_factory=lambda: ["tc_paper"])
    backend: Literal["hf", "vllm"] = "hf"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. dtype, tensor_parallel_size
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    limit: int | float | None = None
    apply_chat_template: bool = True
    batch_size: int | str = "auto"
    device: str | None = None
    include_path: list[str] = field(default_factory=list)
    include_defaults: bool = True  # index lm-eval's own tasks too (slower start-up)
    metadata: dict[str, Any] = field(default_factory=dict)
    merge_lora: bool = False  # merge adapters into full checkpoints before evaluating
    checkpoints: Literal["all", "final"] = "all"
    seed: int = 0
    confirm_run_unsafe_code: bool = False  # tasks that execute generated code (tc_evalplus)


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: base model, data, strategies × seeds, training, evaluation."""

    name: str
    model: str  # hub id, local path, or builtin:tiny-arith[@toy|small|full]
    data: DataConfig
    strategies: list[StrategySpec] = field(default_factory=lambda: [StrategySpec(StrategyKind.DEFAULT)])
    lora: LoraConfig | None = field(default_factory=LoraConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    model_args: dict[str, Any] = field(default_factory=dict)  # from_pretrained kwargs (dtype, ...)
    output_dir: str | None = None  # default runs/<name>; relative paths: the working directory
    monitor: dict[str, Any] | None = None  # TraceMonitorCallback kwargs (lm_eval_tracecollapse.training.monitor)
    #: chat-template variables (e.g. enable_thinking) wherever the template is rendered: the
    #: training texts (masking), the monitor's prompts and lm-eval's (its chat_template_args)
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (enums as their values), as recorded in the run folder."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in get_args(tp))
    if origin is list:
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "one of " + ", ".join(e.value for e in tp)
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # X | None: X's own error (a nested key's) is the useful one
            return _convert(real[0], value, where)
        for arg in real:
            try:
                return _convert(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not allowed; use {_describe(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
        return [_convert(get_args(tp)[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: expected a mapping with string keys, got {value!r}")
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        allowed = [e.value for e in tp]
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not allowed; use one of {', '.join(allowed)}")
        return tp(value)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)  # type: ignore[arg-type]
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:  # typing.Any
        ok = True
    if not ok:
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
    return value


def _build(cls: type, raw: Any, where: str) -> Any:  # an instance of cls
    prefix = f"{where}." if where else ""
    if cls is StrategySpec and isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where or 'the config'}: expected a mapping, got {raw!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        raise ConfigError(unknown_key(f"{prefix}{unknown[0]}", list(fields)))
    missing = [
        n for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in raw
    ]  # fmt: skip
    if missing:
        raise ConfigError(f"{prefix}{missing[0]}: required ({_describe(hints[missing[0]])})")
    return cls(**{k: _convert(hints[k], v, f"{prefix}{k}") for k, v in raw.items()})


def unknown_key(where: str, allowed: list[str]) -> str:
    """The one line refusing an unknown key, with the nearest allowed name when one is close.

    >>> unknown_key("monitor.every_n_step", ["held_out", "every_n_steps", "max_new_tokens"])
    'unknown key monitor.every_n_step (did you mean every_n_steps?); allowed: held_out, every_n_steps, max_new_tokens'
    """
    near = difflib.get_close_matches(where.rsplit(".", 1)[-1], allowed, n=1, cutoff=0.7)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown key {where}{hint}; allowed: {', '.join(allowed)}"


def _check(cfg: StudyConfig) -> None:
    """Cross-field rules, each a one-line ConfigError."""

    def positive(where: str, value: float | None, zero_ok: bool = False) -> None:
        if value is not None and (value < 0 if zero_ok else value <= 0):
            raise ConfigError(f"{where}: must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")

    if not _LABEL.fullmatch(cfg.name):
        raise ConfigError(f"name: {cfg.name!r} must be letters, digits and _.+- (it names the run folder)")
    if cfg.model.startswith("builtin:") and cfg.model.split("@")[0] not in BUILTIN_MODELS:
        raise ConfigError(f"model: unknown built-in {cfg.model!r}; built-in models: {', '.join(BUILTIN_MODELS)}")
    if cfg.model.startswith("builtin:") and "@" in cfg.model:
        if cfg.model.split("@", 1)[1] not in SIZES:
            raise ConfigError(f"model: size after @ must be one of {', '.join(SIZES)}, got {cfg.model!r}")
    if cfg.data.train.startswith("builtin:") and cfg.data.train not in BUILTIN_DATA:
        raise ConfigError(f"data.train: unknown built-in {cfg.data.train!r}; built-in data: {', '.join(BUILTIN_DATA)}")
    positive("data.limit", cfg.data.limit)
    if not cfg.strategies:
        raise ConfigError("strategies: name at least one of " + ", ".join(k.value for k in StrategyKind))
    for i, s in enumerate(cfg.strategies):
        where = f"strategies[{i}]"
        if s.kind is StrategyKind.PARTIAL and (s.weight is None or not 0.0 < s.weight < 1.0):
            raise ConfigError(f"{where}.weight: partial masking needs 0 < weight < 1, got {s.weight!r}")
        if s.kind is not StrategyKind.PARTIAL and s.weight is not None:
            raise ConfigError(f"{where}.weight: only the partial strategy takes a weight (kind is {s.kind.value})")
        if s.kind is StrategyKind.DISTILLATION and s.traces is Traces.DROP:
            raise ConfigError(f"{where}.traces: distillation trains on the data's traces; it cannot be drop")
        if s.label is not None and not _LABEL.fullmatch(s.label):
            raise ConfigError(f"{where}.label: {s.label!r} must be letters, digits and _.+- (it names a folder)")
    names = [s.name for s in cfg.strategies]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup or "base" in names:
        raise ConfigError(f"strategies: arm name {dup or 'base'!r} is taken; give the arms distinct labels")
    if cfg.lora is not None:
        positive("lora.r", cfg.lora.r)
        positive("lora.alpha", cfg.lora.alpha)
        if not 0.0 <= cfg.lora.dropout < 1.0:
            raise ConfigError(f"lora.dropout: must be in [0, 1), got {cfg.lora.dropout!r}")
        if not cfg.lora.target_modules:
            raise ConfigError("lora.target_modules: name at least one module (e.g. q_proj)")
    t = cfg.training
    if not t.seeds or len(set(t.seeds)) != len(t.seeds):
        raise ConfigError(f"training.seeds: a non-empty list of distinct integers, got {t.seeds!r}")
    for key in ("epochs", "max_steps", "batch_size", "grad_accum", "lr", "max_length", "save_steps", "logging_steps"):
        positive(f"training.{key}", getattr(t, key))
    if not t.report_to or ("none" in t.integrations):
        raise ConfigError(f"training.report_to: none, or integrations (wandb, tensorboard, ...), got {t.report_to!r}")
    positive("training.weight_decay", t.weight_decay, zero_ok=True)
    positive("training.max_grad_norm", t.max_grad_norm, zero_ok=True)
    if not 0.0 <= t.warmup_ratio < 1.0:
        raise ConfigError(f"training.warmup_ratio: must be in [0, 1), got {t.warmup_ratio!r}")
    e = cfg.evaluation
    if not e.tasks:
        raise ConfigError("evaluation.tasks: name at least one lm-eval task or group (e.g. tc_paper)")
    positive("evaluation.limit", e.limit)
    if isinstance(e.batch_size, str) and not re.fullmatch(r"auto(:\d+)?", e.batch_size):
        raise ConfigError(f"evaluation.batch_size: an integer or 'auto', got {e.batch_size!r}")
    if "pretrained" in e.model_args or "peft" in e.model_args or "lora_local_path" in e.model_args:
        raise ConfigError("evaluation.model_args: pretrained/peft/lora_local_path are set by the study per checkpoint")
    for key in ("chat_template_args", "enable_thinking"):
        if key in e.model_args:
            raise ConfigError(f"evaluation.model_args.{key}: set chat_template_kwargs at the top level instead "
                              "(one setting for training, the monitor and evaluation)")  # fmt: skip
    if cfg.monitor is not None and "chat_template_kwargs" in cfg.monitor:
        raise ConfigError("monitor.chat_template_kwargs: set chat_template_kwargs at the top level instead")
    for key in ("add_generation_prompt", "tokenize"):
        if key in cfg.chat_template_kwargs:
            raise ConfigError(f"chat_template_kwargs.{key}: set by the study itself")
    if e.backend == "vllm" and cfg.chat_template_kwargs.get("enable_thinking") is True:
        raise ConfigError(
            "chat_template_kwargs.enable_thinking: lm-eval's vllm backend switches thinking on only together with "
            "think_end_token, which cuts the trace out of the responses this study measures; use backend hf, or "
            "leave enable_thinking unset where the template thinks by default (Qwen3)"
        )


def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads ``1e-5`` (no dot) as a float."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return Loader


def parse_config(raw: Any) -> StudyConfig:
    """A validated :class:`StudyConfig` from plain data (a parsed YAML document)."""
    cfg: StudyConfig = _build(StudyConfig, raw, "")
    _check(cfg)
    return cfg


def config_path(path: str | Path) -> Path:
    """``path`` itself, or a shipped config named by its stem (``tiny_cpu``, ``qwen3_8b``: ``studies/``).

    >>> config_path("tiny_cpu").name
    'tiny_cpu.yaml'
    """
    from ..locations import studies_dir

    given = Path(path)
    if given.exists() or given.suffix or len(given.parts) > 1:
        return given
    shipped = studies_dir() / f"{given}.yaml"
    return shipped if shipped.is_file() else given


def _merge(raw: Any, overrides: Mapping[str, Any]) -> Any:
    """``raw`` with ``overrides`` merged in, mapping by mapping (other values replaced)."""
    if not isinstance(raw, Mapping):
        return raw
    out = dict(raw)
    for key, value in overrides.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
        )
    return out


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Read and validate a study YAML (a path, or the name of a shipped config: :func:`config_path`),
    with ``overrides`` (nested mappings, e.g. ``{"training": {"max_steps": 2}}``) merged in first;
    errors are :class:`ConfigError` prefixed with the file."""
    import yaml

    path = config_path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())  # a SafeLoader subclass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', None) or exc})") from None
    try:
        return parse_config(_merge(raw, overrides or {}))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Arm:
    """One training run: a strategy with one seed, in ``<out>/train/<name>``."""

    strategy: StrategySpec
    seed: int

    @property
    def name(self) -> str:
        return f"{self.strategy.name}_seed{self.seed}"


def arms(cfg: StudyConfig) -> list[Arm]:
    """Every strategy × seed of the config, strategies first."""
    return [Arm(s, seed) for s in cfg.strategies for seed in cfg.training.seeds]
