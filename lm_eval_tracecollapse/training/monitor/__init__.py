"""Monitor reasoning traces during fine-tuning: a Trainer callback and a plain function.

* :func:`measure_traces` — generate on held-out prompts through the model's chat
  template and measure trace status, pass@1 and rpass@1 (no Trainer needed);
* :class:`TraceMonitorCallback` — a ``transformers.TrainerCallback`` that logs those
  numbers as ``trace/*`` during training, raises an alarm when the valid-trace rate
  falls, and saves the generations for ``tracecollapse analyze``.

See ``docs/monitor.md``.

Example:
    >>> from lm_eval_tracecollapse.training.monitor import TraceMonitorCallback, measure_traces
    >>> callable(measure_traces) and issubclass(TraceMonitorCallback, object)
    True
"""

from __future__ import annotations

from .callback import TraceMonitorCallback
from .measure import Grader, GraderName, TraceMeasurement, measure_traces, render_prompts, resolve_grader
from .writer import sample_records, write_samples

__all__ = [
    "Grader",
    "GraderName",
    "TraceMeasurement",
    "TraceMonitorCallback",
    "measure_traces",
    "render_prompts",
    "resolve_grader",
    "sample_records",
    "write_samples",
]
