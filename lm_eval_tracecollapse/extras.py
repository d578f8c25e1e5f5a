"""Kept path of :mod:`lm_eval_tracecollapse.harness.extras`: the code lives there.

Docs name ``lm_eval_tracecollapse.extras.missing_package_message``.
"""

from .harness.extras import *  # noqa: F403
from .harness.extras import __all__ as __all__
