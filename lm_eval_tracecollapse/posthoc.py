"""The post-hoc commands of ``tracecollapse`` — ``analyze``, ``compare`` (``--gate``,
``--json``), ``table``, ``plot``, ``report`` — on lm-eval ``--log_samples`` output: they find
the runs (:mod:`.samples.runs`), say on stderr which they read, print the report and end a
bad input with one line.  :mod:`.cli` parses the arguments and calls :func:`report_command`
or :func:`html_command`.

Example::

    tracecollapse analyze out/ --json analyze.json
    tracecollapse compare out/base out/finetuned --gate "valid_rate:-0.05"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["clear_input_errors", "html_command", "report_command", "skipped"]


@contextmanager
def clear_input_errors(command: str) -> Iterator[None]:
    """As :func:`_clear_errors` for the post-hoc commands, which read files: an
    unreadable one (a permission, a folder or FIFO where a file is expected) too."""
    try:
        yield
    except (OSError, ValueError) as exc:  # FileNotFoundError is an OSError
        print(f"tracecollapse {command}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except RecursionError:  # json on "[[[[...": the readers name the line where they can
        print(f"tracecollapse {command}: an input line is nested too deeply to read", file=sys.stderr)
        raise SystemExit(1) from None


def skipped(problems: object) -> str:
    """The line saying how many input lines were unreadable, and the first ones ("" if none)."""
    count, examples = getattr(problems, "skipped", 0), getattr(problems, "examples", [])
    return f"skipped {count} unreadable line(s); first: " + "; ".join(examples) if count else ""


def _found(command: str, runs: list[Any]) -> None:
    """Say on stderr which runs a report found (and how a re-run task is read); ``compare``:
    its base and fine-tuned run."""
    from .samples.runs import describe_pair, describe_runs, run_notes

    found = describe_pair(*runs) if command == "compare" else describe_runs(runs)
    print(f"tracecollapse {command}: {found}", file=sys.stderr)
    for note in run_notes(runs):
        print(f"tracecollapse {command}: warning: {note}", file=sys.stderr)


def _find_runs(command: str, paths: list[str]) -> list[Any]:
    """The runs under ``paths`` (probe-only folders give none: ``analyze`` scores those alone)."""
    from .samples.runs import find_runs

    try:
        return find_runs(paths)
    except FileNotFoundError:
        if command == "analyze":
            return []
        raise


def report_command(args: argparse.Namespace) -> None:
    from . import probes, report
    from .report.export import comparisons_json, runs_json, summaries_json, write_json
    from .samples.runs import one_run

    with clear_input_errors(args.command):
        if args.command == "compare":
            gates = _gates(args)
            base, new = one_run([args.base], "base"), one_run([args.finetuned], "fine-tuned")
            comparisons, problems = report.compare_runs(base, new, args.fmt, args.strict)
            if base.sets and new.sets:  # (said after reading: a bad input stays one line)
                _found("compare", [base, new])
            data = {"base": runs_json([base])[0], "new": runs_json([new])[0],
                    "comparisons": comparisons_json(comparisons)}  # fmt: skip
            if gates is not None:
                _gate(args, comparisons, gates, problems, data)
            if args.json:
                write_json(args.json, data)
            faith = probes.compare_probes([args.base], [args.finetuned], args.probe_reference)
            blocks = [report.compare_text(comparisons), probes.probe_compare_text(faith) if faith else ""]
            print("\n".join(b for b in blocks if b) or "no task with paired documents in both runs")
        else:
            workers = getattr(args, "workers", None)
            tokenizer = getattr(args, "tokenizer", None)
            report.check_fmt(args.fmt)
            runs = _find_runs(args.command, args.paths)
            summaries, problems = report.analyze_runs(
                runs,
                args.fmt,
                args.strict,
                workers,
                tokenizer=tokenizer,
                recompute=getattr(args, "recompute", False),
            )
            scores = probes.score_probe_run(args.paths, args.probe_reference) if args.command == "analyze" else []
            if not summaries and not scores:
                where = ", ".join(map(str, args.paths))
                raise ValueError(
                    f"no usable sample line in {where}" + (f" ({skipped(problems)})" if problems.skipped else "")
                )
            if runs:
                _found(args.command, runs)
            if args.command == "analyze":
                print("\n".join(b for b in (report.analyze_text(summaries), probes.probe_text(scores)) if b))
                if args.json:
                    aoc = [{"run": p.run, "probed": p.sources, "aoc": p.aoc, "ci": list(p.aoc_ci)} for p in scores]
                    write_json(args.json, {"runs": runs_json(runs), "summaries": summaries_json(summaries),
                                           "faithfulness": aoc})  # fmt: skip
                if getattr(args, "html", None):
                    html_command(args, summaries, runs)
            elif args.command == "table":
                print(report.paper_table(summaries, args.table_format))
            else:
                print(f"wrote {report.plot(summaries, args.out)}")
    if problems.skipped:
        print(skipped(problems), file=sys.stderr)


def _gates(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--gate``'s gates (None without it), before any file is read: a bad SPEC ends the
    command with exit status 2, as missing data (1 is a failed gate)."""
    spec = getattr(args, "gate", None)
    if not spec:
        return None
    from .report.gate import load_gates

    try:
        return load_gates(spec)
    except ValueError as exc:
        print(f"tracecollapse {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _gate(
    args: argparse.Namespace, comparisons: list[Any], gates: dict[str, Any], problems: Any, data: dict[str, Any]
) -> None:
    """``compare --gate``: the gate table (and ``--json``: the gate table, then ``compare``'s
    ``data``), then exit 0 pass, 1 fail, 2 missing data."""
    from .report.export import write_json
    from .report.gate import VERDICTS, evaluate, gate_json, gate_text

    rows, status = evaluate(comparisons, gates)
    print(gate_text(rows) if rows else "no gated task with paired documents in both runs")
    if args.json:
        write_json(args.json, {**gate_json(rows, status), **data})
    if problems.skipped:
        print(skipped(problems), file=sys.stderr)
    print(f"tracecollapse compare --gate: {VERDICTS[status]}", file=sys.stderr)
    raise SystemExit(status)


def html_command(args: argparse.Namespace, summaries: list[Any] | None = None, runs: list[Any] | None = None) -> None:
    """``report`` (and ``analyze --html``, with the summaries and runs it has): write the
    one-file HTML report; ``report --gate``: with the gate's verdict first, its table printed, and
    ``compare --gate``'s exit status (0 pass, 1 fail, 2 missing data)."""
    from .report.html import write_report
    from .report.html.gate import PageGate

    gates = _gates(args)
    gate = None if gates is None else PageGate(gates)
    with clear_input_errors(args.command):
        base, budget = getattr(args, "base", None), getattr(args, "max_text_mb", 32.0)
        workers = getattr(args, "workers", None)
        found = _find_runs(args.command, args.paths) if runs is None else runs
        out, problems = write_report(args.paths, args.html, args.fmt, args.strict, base, budget, summaries, workers,
                                     progress=True, runs=found, gate=gate)  # fmt: skip
        if runs is None:  # (analyze --html has said which runs it read)
            _found(args.command, found)
    print(f"wrote {out}")
    if problems.skipped and args.command == "report":  # analyze has said so already
        print(skipped(problems), file=sys.stderr)
    if gate is not None:
        _page_gate(gate)


def _page_gate(gate: Any) -> None:
    """``report --gate``: each run's gate table (as ``compare --gate`` prints it), the verdict on
    stderr, and the exit status."""
    from .report.gate import VERDICTS, gate_text

    for run in dict.fromkeys(r for r, _ in gate.rows):
        print(f"{gate.base} → {run}\n{gate_text([row for r, row in gate.rows if r == run])}")
    if not gate.rows:
        print("no gated task with paired documents in the base run and another run")
    print(f"tracecollapse report --gate: {VERDICTS[gate.status]}", file=sys.stderr)
    raise SystemExit(gate.status)
