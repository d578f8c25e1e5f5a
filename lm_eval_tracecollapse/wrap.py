"""Kept path of :mod:`lm_eval_tracecollapse.harness.wrap`: the code lives there.

docs/CONTRACT.md names ``lm_eval_tracecollapse.wrap.write_wrappers``.
"""

from .harness.wrap import *  # noqa: F403
from .harness.wrap import __all__ as __all__
