"""Kept path of :mod:`lm_eval_tracecollapse.core.detect`: the code lives there.

Format detection's old path.
"""

from .core.detect import *  # noqa: F403
from .core.detect import __all__ as __all__
