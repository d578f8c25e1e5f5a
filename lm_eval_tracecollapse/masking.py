"""Kept path of :mod:`lm_eval_tracecollapse.training.masking`: the code lives there.

docs/CONTRACT.md names ``lm_eval_tracecollapse.masking``.
"""

from .training.masking import *  # noqa: F403
from .training.masking import __all__ as __all__
