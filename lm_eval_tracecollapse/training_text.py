"""Kept path of :mod:`lm_eval_tracecollapse.training.text`: the code lives there.

docs/CONTRACT.md names ``lm_eval_tracecollapse.training_text``.
"""

from .training.text import *  # noqa: F403
from .training.text import __all__ as __all__
