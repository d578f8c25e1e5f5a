"""lm-eval-tracecollapse: detect reasoning-trace collapse in lm-eval runs.

Example:
    >>> from lm_eval_tracecollapse import parse_trace
    >>> print(parse_trace("<think>a</think>b").status)
    valid
"""

from __future__ import annotations

from typing import Any

from .core.detect import FormatDetection, detect_format
from .core.formats import ReasoningFormat, get_format, list_formats, register_format, unregister_format
from .core.parse import Trace, TraceStatus, parse_trace, parse_traces
from .harness.registry import register, register_at_import

__version__ = "0.1.0"

register_at_import()  # lm-eval's registries only: nothing of lm-eval is patched on import

# the trace monitor needs torch and transformers: imported on first use only
_MONITOR = ("TraceMeasurement", "TraceMonitorCallback", "measure_traces")

__all__ = [
    "FormatDetection",
    "ReasoningFormat",
    "Trace",
    "TraceMeasurement",  # lazy, see __getattr__
    "TraceMonitorCallback",  # lazy, see __getattr__
    "TraceStatus",
    "__version__",
    "detect_format",
    "get_format",
    "list_formats",
    "measure_traces",  # lazy, see __getattr__
    "parse_trace",
    "parse_traces",
    "register",
    "register_format",
    "unregister_format",
]


def __getattr__(name: str) -> Any:
    if name in _MONITOR:
        from .training import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
