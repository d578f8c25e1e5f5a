"""CPU demo of reasoning-trace collapse (``make demo``).

First the parser on the sample responses of ``docs/parser.md`` (one per status and family), then
the real thing (:mod:`.pipeline`): ``tracecollapse study studies/tiny_cpu.yaml`` — a tiny
model trained with traces, fine-tuned five ways under the trace monitor, evaluated through
lm-eval — and the demo's summary of it.

Example:
    >>> rows = sample_rows()
    >>> sorted({r[2] for r in rows})
    ['empty', 'missing', 'truncated', 'valid']
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..core.parse import parse_trace

#: (label, prompt tail or None, response, finish_reason) — the samples of ``docs/parser.md``
SAMPLES: list[tuple[str, str | None, str, str | None]] = [
    ("Qwen3", None, "<think>\n12 * 7 = 84, plus 6 is 90.\n</think>\n\nThe answer is 90.", None),
    ("DeepSeek-R1 (prefilled)", "<｜Assistant｜><think>\n", "12*7=84; 84+6=90.\n</think>\n\n**90**", None),
    ("after plain SFT", None, "<think>\n\n</think>\n\nThe answer is 90.", None),
    ("after plain SFT", None, "The answer is 90.", None),
    ("hit max_gen_toks", None, "<think>\nFirst, 12 * 7 is", "length"),
    ("Magistral", None, "[THINK]12*7=84, +6 = 90[/THINK]90", None),
    (
        "gpt-oss",
        None,
        "<|channel|>analysis<|message|>84+6=90<|end|><|start|>assistant<|channel|>final<|message|>90<|return|>",
        None,
    ),
    ("Granite 3.2", None, "Here is my thought process: 84 + 6. Here is my response: 90", None),
    ("Qwen3 tool call", None, '<think>I need a calculator.<tool_call>{"name": "calc"}</tool_call>', None),
]


def sample_rows() -> list[tuple[str, str, str, str, str]]:
    """(label, family, status, reasoning, answer) for every sample."""
    rows = []
    for label, prompt, response, finish in SAMPLES:
        t = parse_trace(response, prompt=prompt, finish_reason=finish)
        rows.append((label, t.fmt or "-", t.status.value, t.reasoning or "", t.answer))
    return rows


def _cut(s: str, n: int) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def main(argv: list[str] | None = None, prog: str = "python -m lm_eval_tracecollapse.demo") -> None:
    """The sample table, then the demo: ``tracecollapse study studies/tiny_cpu.yaml`` (run here
    unless ``--out`` already holds it finished, as after ``make demo``'s first step) and its
    summary (``--write-docs``: copy its table block, results and figures to ``docs/``,
    which ``docs/demo.md`` shows).  ``tracecollapse demo ARGS`` is ``main(ARGS, "tracecollapse demo")``."""
    import argparse

    about = ("The parser's sample table, then the CPU demo: the study of studies/tiny_cpu.yaml (run unless --out "
             "holds it finished) and its summary.")  # fmt: skip
    parser = argparse.ArgumentParser(prog=prog, description=about)
    parser.add_argument("--out", default="demo_out", help="the study's output folder (its cache too)")
    parser.add_argument("--write-docs", action="store_true", help="copy the tables and figures to docs/")
    args = parser.parse_args(argv)
    samples()
    from .results import run

    print("\nNow a tiny reasoning model: trained with traces, fine-tuned five ways, evaluated by lm-eval.")
    result = run(args.out, docs="docs" if args.write_docs else None)
    out = args.out
    print("\n" + (Path(out) / "summary.md").read_text(encoding="utf-8"))
    print(f"Collapse signature {'MET' if result['ok'] else 'NOT met'}. {result['seconds']:.0f} s. "
          f"Summary: {out}/summary.md; curves: {out}/training_curves.json, "
          f"{out}/figures/training_curves.png; report: {out}/report.html; lm-eval samples: {out}/eval/")  # fmt: skip


def samples() -> None:
    """Print the sample responses' status table and the rates."""
    rows = sample_rows()
    header = ("sample", "family", "status", "reasoning", "answer")
    widths = (24, 14, 10, 34, 28)
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(_cut(c, w).ljust(w) for c, w in zip(row, widths, strict=True)))
    counts = Counter(r[2] for r in rows)
    n = len(rows)
    print()
    print("  ".join(f"{s.upper()[0]}R={counts[s] / n:.2f}" for s in ("valid", "empty", "missing", "truncated")))
    print(
        "The complete answers all say 90; only the valid responses still show their reasoning.\n"
        "Answer-only accuracy cannot tell them apart: the trace-status rates can."
    )
