"""Kept path of :mod:`lm_eval_tracecollapse.harness.task`: the code lives there.

Generated task YAMLs name ``class: !function lm_eval_tracecollapse.tasks.TraceTask``.
"""

from .harness.task import *  # noqa: F403
from .harness.task import __all__ as __all__
