"""Kept path of :mod:`lm_eval_tracecollapse.harness.filters`: the code lives there.

docs/CONTRACT.md names ``lm_eval_tracecollapse.filters``.
"""

from .harness.filters import *  # noqa: F403
from .harness.filters import __all__ as __all__
