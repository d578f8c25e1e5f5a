"""The collapse curves: what the trace monitor measured while the demo's arms trained.

The demo's study (``studies/tiny_cpu.yaml``, ``monitor:``) measures every fine-tuning arm
with :class:`~lm_eval_tracecollapse.training.monitor.TraceMonitorCallback` at step 0 (the base) and
every few steps on held-out *easy* SFT items, greedy, batched, with a small
``max_new_tokens`` (``training_curves.json``).  :func:`check` states whether the curves
show the paper's signature: every plain-SFT arm reaches a step where the valid-trace rate
is at most 0.1 while pass@1 stays within 0.1 of the base ("accuracy hides the collapse"),
and every masked arm keeps it at 0.8 or more.

Example:
    >>> curves = {"sft: a": [{"step": 0, "valid_rate": 1.0, "pass@1": 0.9},
    ...                      {"step": 10, "valid_rate": 0.0, "pass@1": 0.85}],
    ...           "mask: b": [{"step": 0, "valid_rate": 1.0, "pass@1": 0.9},
    ...                       {"step": 10, "valid_rate": 0.9, "pass@1": 0.7}]}
    >>> ok, lines = check(curves)
    >>> ok, lines[0]
    (True, 'sft: a: yes, step 10: VR 0.00 (limit 0.1, margin 0.10), pass@1 0.85 vs base 0.90 (margin 0.05)')
"""

from __future__ import annotations

from typing import Any

__all__ = ["MASKED_MIN_VR", "PASS_TOLERANCE", "PLAIN_MAX_VR", "check", "curve_markdown"]

PLAIN_MAX_VR = 0.1  # a plain-SFT arm has collapsed at a step with VR <= this ...
PASS_TOLERANCE = 0.1  # ... while its pass@1 is within this of the base's
MASKED_MIN_VR = 0.8  # a masked arm keeps VR >= this at every step


def check(curves: dict[str, list[dict[str, Any]]]) -> tuple[bool, list[str]]:
    """Whether the curves show the signature, with one line per arm (and its margins)."""
    ok, lines = True, []
    for arm, points in curves.items():
        base = float(points[0]["pass@1"])
        if arm.startswith("sft"):
            hits = [p for p in points[1:] if p["valid_rate"] <= PLAIN_MAX_VR and p["pass@1"] >= base - PASS_TOLERANCE]
            if not hits:
                ok = False
                lines.append(f"{arm}: NO step with VR <= {PLAIN_MAX_VR} and pass@1 >= base {base:.2f} - "
                             f"{PASS_TOLERANCE}")  # fmt: skip
                continue
            p = max(hits, key=lambda q: min(PLAIN_MAX_VR - q["valid_rate"], q["pass@1"] - base + PASS_TOLERANCE))
            lines.append(
                f"{arm}: yes, step {p['step']}: VR {p['valid_rate']:.2f} (limit {PLAIN_MAX_VR}, margin "
                f"{PLAIN_MAX_VR - p['valid_rate']:.2f}), pass@1 {p['pass@1']:.2f} vs base {base:.2f} (margin "
                f"{p['pass@1'] - base + PASS_TOLERANCE:.2f})"
            )
        elif arm.startswith("mask"):
            low = min(points[1:] or points, key=lambda q: q["valid_rate"])  # the fine-tuning steps
            good = low["valid_rate"] >= MASKED_MIN_VR
            ok &= good
            margin = low["valid_rate"] - MASKED_MIN_VR
            lines.append(
                f"{arm}: {'yes' if good else 'NO'}, lowest VR {low['valid_rate']:.2f} at step {low['step']} "
                f"(limit {MASKED_MIN_VR}, margin {margin:+.2f})"
            )
    return ok, lines


def curve_markdown(curves: dict[str, list[dict[str, Any]]]) -> str:
    """Arms as rows, steps as columns, each cell ``VR / pass@1`` (easy items)."""
    from ..report.render import markdown_table

    steps = sorted({p["step"] for points in curves.values() for p in points})
    rows = []
    for arm, points in curves.items():
        at = {p["step"]: p for p in points}
        rows.append([arm, *(f"{at[s]['valid_rate']:.2f} / {at[s]['pass@1']:.2f}" if s in at else "" for s in steps)])
    return markdown_table(["arm (VR / pass@1 at step)", *(str(s) for s in steps)], rows)
