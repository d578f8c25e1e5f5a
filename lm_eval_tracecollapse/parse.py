"""Kept path of :mod:`lm_eval_tracecollapse.core.parse`: the code lives there.

The parser's old path.
"""

from .core.parse import *  # noqa: F403
from .core.parse import __all__ as __all__
