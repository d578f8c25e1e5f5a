"""Kept path of :mod:`lm_eval_tracecollapse.metrics.failure_kinds`: the code lives there.

docs/CONTRACT.md names ``lm_eval_tracecollapse.failure_kinds.REGISTERED``.
"""

from .metrics.failure_kinds import *  # noqa: F403
from .metrics.failure_kinds import __all__ as __all__
