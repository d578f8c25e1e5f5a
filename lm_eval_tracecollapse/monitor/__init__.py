"""Kept path of :mod:`lm_eval_tracecollapse.training.monitor` (docs/CONTRACT.md names
``lm_eval_tracecollapse.monitor``); the code lives there."""

from ..training.monitor import *  # noqa: F403
from ..training.monitor import __all__ as __all__
