"""Reproduce the paper's study on any Hugging Face model from one YAML config.

``tracecollapse study CONFIG.yaml`` (:func:`run_study`): fine-tune each strategy ×
seed with our masking (LoRA or full), evaluate the base and every checkpoint through
lm-eval with samples logged, and write the paper's table, over-steps figures and the
final-vs-base comparison.  See ``docs/study.md`` and the configs in ``studies/``.

Example:
    >>> from lm_eval_tracecollapse.study import StrategyKind
    >>> [k.value for k in StrategyKind]
    ['default', 'empty', 'mask', 'respond', 'distillation', 'partial']
"""

from .config import ConfigError, StrategyKind, StrategySpec, StudyConfig, Traces, load_config, parse_config
from .run import STAGES, run_study

__all__ = [
    "STAGES",
    "ConfigError",
    "StrategyKind",
    "StrategySpec",
    "StudyConfig",
    "Traces",
    "load_config",
    "parse_config",
    "run_study",
]
