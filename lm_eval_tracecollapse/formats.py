"""Kept path of :mod:`lm_eval_tracecollapse.core.formats`: the code lives there.

The family registry's old path.
"""

from .core.formats import *  # noqa: F403
from .core.formats import __all__ as __all__
