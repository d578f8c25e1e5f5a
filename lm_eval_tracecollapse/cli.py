"""``tracecollapse``: the command line.

``tracecollapse eval <lm_eval run arguments>`` is ``lm_eval run`` with our filter,
metrics and models registered first (lm-eval resolves ``--model`` before it loads
any task YAML, so the bare ``lm_eval`` cannot see ``--model tc_replay``), our
``task_yamls/`` on the include path beside yours (``--include_path``), and every
``NAME_tc`` in ``--tasks`` that lm-eval does not know — any task, group or tag —
wrapped on the fly into a cache folder added to the include path.  Same flags, same
table, same output files.  ``tracecollapse wrap NAME... --out DIR`` writes the
wrappers for the bare ``lm_eval --include_path DIR``.

Example::

    tracecollapse eval --model tc_replay --model_args path=tests/fixtures/replay_gsm8k.jsonl \\
        --tasks tc_gsm8k_256 --log_samples --output_path out/
    tracecollapse eval --model hf --model_args pretrained=... --tasks minerva_math_tc,ifeval_tc
    tracecollapse wrap minerva_math bbh_cot_zeroshot --out my_tc_tasks/
    tracecollapse paths      # where our task YAMLs are (for lm_eval --include_path)
    tracecollapse analyze out/                       # rates, pass@1, Rpass@1 with 95 % CIs
    tracecollapse compare out/base out/finetuned     # paired deltas, McNemar, transitions
    tracecollapse table out/ --format latex          # the paper's table
    tracecollapse plot out/ --out figure.png
    tracecollapse report out/base out/finetuned --html report.html   # one offline HTML page
    tracecollapse study studies/tiny_cpu.yaml        # fine-tune, evaluate every checkpoint, tables
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .locations import task_yamls_dir
from .posthoc import clear_input_errors, html_command, report_command

__all__ = ["main", "task_yamls_dir"]


def _eval(argv: list[str]) -> None:
    from .harness import compat
    from .harness.registry import register
    from .harness.wrap import resolve_wrapped

    try:
        register()
        compat.check_all()  # an lm-eval we cannot trace with: its one line now, not a traceback later
    except compat.LmEvalCompatError as exc:
        print(f"tracecollapse eval: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    compat.setup_logging()
    cli = compat.harness_cli()
    with compat.argv(["tracecollapse eval", "run", *argv]):  # lm-eval's own parser reads sys.argv
        args = cli.parse_args()
    if getattr(args, "command", None) != "run":
        cli.execute(args)
        return
    # yours and ours together, yours last so that your task names win (lm-eval's order); yours
    # absolute, so that a relative folder and its absolute path are one index and one wrapper
    yours = [os.path.abspath(args.include_path)] if getattr(args, "include_path", None) else []
    roots = [str(task_yamls_dir()), *yours]
    given = getattr(args, "tasks", None) or []
    tasks = [t.strip() for item in ([given] if isinstance(given, str) else given) for t in str(item).split(",")]
    tasks = [t for t in tasks if t]
    with _clear_errors("eval"):
        generated, _ = resolve_wrapped(tasks, roots)
    args.include_path = [*roots, *([str(generated)] if generated else [])]
    from .harness.models._stock import stock_api_warning

    warning = stock_api_warning(str(getattr(args, "model", "")), tasks)
    if warning:  # before generation: the run would count every served trace as missing
        print(f"tracecollapse eval: warning: {warning}", file=sys.stderr)
    from .harness.task_index import lm_eval_entries

    try:
        # lm-eval's TaskManager indexes its 14,000 YAMLs on every run (about 5 s): each
        # unchanged folder's index is read from our cache instead (the same entries)
        with compat.cached_index_builds(lm_eval_entries):
            cli.execute(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        # a bad task, option, file or missing package: its one line, not 30-60 lines of
        # lm-eval's traceback first (TRACECOLLAPSE_TRACEBACK=1 shows them)
        if os.environ.get("TRACECOLLAPSE_TRACEBACK"):
            raise
        print(f"tracecollapse eval: {' '.join(str(exc).split())}", file=sys.stderr)
        print("(set TRACECOLLAPSE_TRACEBACK=1 for the traceback)", file=sys.stderr)
        raise SystemExit(1) from None


def _wrap(args: argparse.Namespace) -> None:
    from .harness.task_index import task_index
    from .harness.wrap import write_wrappers

    with _clear_errors("wrap"):
        include = [str(task_yamls_dir()), *args.include_path]
        index = task_index(include)
        names = list(args.names)
        if args.all:
            names += [
                n
                for n, e in task_index().items()
                if e.kind == "group" or (e.kind == "task" and e.output_type == "generate_until")
            ]
        if not names:
            raise ValueError("name at least one task, group or tag (or --all)")
        result = write_wrappers(names, args.out, include, index=index)
    print(f"wrapped {len(result.written)} of {len(result.written) + len(result.refused)} into {result.out}")
    named = set(args.names)
    # --all: every name lm-eval lists, so one that cannot be wrapped is listed, not an error;
    # a name you gave that cannot be wrapped is one (exit 1)
    failed = {n: r for n, r in result.refused.items() if n in named or n + "_tc" in named}
    skipped = {n: r for n, r in result.refused.items() if n not in failed}
    if skipped:
        print(f"not wrappable ({len(skipped)} of --all's names, nothing to trace in them):", file=sys.stderr)
        for reason in skipped.values():
            print(f"  {reason}", file=sys.stderr)
    if failed:
        print(f"cannot wrap {len(failed)}:", file=sys.stderr)
        for reason in failed.values():
            print(f"  {reason}", file=sys.stderr)
        raise SystemExit(1)
    if not result.written:
        print("tracecollapse wrap: nothing was wrapped", file=sys.stderr)
        raise SystemExit(1)
    print(f"run them with: lm_eval --include_path {result.out} --tasks {result.written[0]} ...")
    print(
        f"with our models (tc_replay, tc_chat_api, tc_completions_api): tracecollapse eval --include_path "
        f"{result.out} --tasks {result.written[0]} ... (lm_eval builds --model before it reads a task: it cannot "
        "know them)"
    )


@contextmanager
def _clear_errors(command: str) -> Iterator[None]:
    """A bad input (missing file, malformed line, bad option) ends the command with its
    one-line message and exit status 1, not a traceback."""
    try:
        yield
    except (FileNotFoundError, ValueError) as exc:
        print(f"tracecollapse {command}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _probe(args: argparse.Namespace) -> None:
    from .probes import build_probes, make_paraphraser, write_probes
    from .samples.records import check_fmt

    with clear_input_errors("probe"):
        # the cheap check first: a paraphrase model may take minutes to load
        if not re.fullmatch(r"\d+(,\d+)*", args.ks):
            raise ValueError(f"--ks takes comma-separated percentages such as 0,50,100, got {args.ks!r}")
        ks = [int(k) for k in args.ks.split(",")]
        check_fmt(args.fmt)
        para = make_paraphraser(args.paraphrase_model, args.paraphrase_model_args, chat=args.paraphrase_chat)
        probes = build_probes(args.source, args.fmt, ks, paraphraser=para, tokenizer=args.tokenizer)
        out = write_probes(probes, args.out)
    meta = json.dumps({"probes": str(out.resolve())})
    print(f"wrote {len(probes)} probes to {out}; run them with any lm-eval model:")
    print(f"  tracecollapse eval --tasks tc_probe --metadata '{meta}' --model ... --log_samples --output_path ...")


def _version() -> str:
    """``tracecollapse X (lm-eval Y)``: the installed versions, from their metadata."""
    from importlib.metadata import PackageNotFoundError, version

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return f"tracecollapse {of('lm-eval-tracecollapse')} (lm-eval {of('lm_eval')})"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tracecollapse`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="tracecollapse",
        description="Reasoning-trace collapse metrics for lm-evaluation-harness.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("eval", help="run lm-eval with our tasks, filter, metrics and models (takes lm_eval run flags)")
    sub.add_parser("paths", help="print the task_yamls folder (for lm_eval --include_path)")
    wr = sub.add_parser("wrap", help="write NAME_tc wrapper YAMLs for tasks, groups or tags (for lm_eval)")
    wr.add_argument("names", nargs="*", help="lm-eval task, group or tag names (a trailing _tc is dropped)")
    wr.add_argument("--out", required=True, help="folder to write the YAMLs into (then: --include_path it)")
    wr.add_argument("--include_path", action="append", default=[], help="your task folder(s), as for lm_eval")
    wr.add_argument("--all", action="store_true", help="every generative task and every group lm-eval knows")
    sub.add_parser("demo", help="run the CPU demo (its own flags: tracecollapse demo --help)", add_help=False)
    from .study.run import STAGES

    stu = sub.add_parser("study", help="fine-tune strategies x seeds, evaluate checkpoints, write the paper's table")
    stu.add_argument("config", help="study YAML (see studies/ and docs/study.md)")
    stu.add_argument("--stage", default="all", choices=STAGES, help="run one stage only (default: all, resumable)")
    stu.add_argument(
        "--check",
        action="store_true",
        help="check the config and what it names (data, model, LoRA modules, engine, tasks); run nothing",
    )
    stu.add_argument(
        "--only",
        metavar="ARM[:SEED]",
        default=None,
        help="one job of a job array: train and evaluate this arm (all its seeds without :SEED), "
        "or 'base': evaluate the base",
    )
    stu.add_argument(
        "--collect",
        action="store_true",
        help="write the tables once every --only job is done (refused, naming what is missing, before)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--fmt", default="auto", help="reasoning format family (default: auto)")
    common.add_argument("--strict", action="store_true", help="fail at the first broken line instead of skipping it")
    an = sub.add_parser("analyze", parents=[common], help="trace rates, pass@1, Rpass@1 with 95%% CIs per task")
    an.add_argument("paths", nargs="+", help="lm-eval output folders or samples_*.jsonl files")
    an.add_argument("--workers", type=int, default=None, help="processes reading files (default: CPU count)")
    an.add_argument("--tokenizer", default=None, help="tokenizer (local path or name) for trace lengths in tokens")
    an.add_argument(
        "--recompute", action="store_true", help="recompute the failure-kind rows a run stored on its lines"
    )
    an.add_argument("--html", default=None, metavar="OUT.html", help="also write the HTML report (as `report`)")
    an.add_argument("--json", default=None, metavar="OUT.json", help="also write the summaries (and runs) as JSON")
    rep = sub.add_parser("report", parents=[common], help="one self-contained HTML page: tables, figure, samples")
    rep.add_argument("paths", nargs="+", help="lm-eval output folders or samples_*.jsonl files (one run per folder)")
    rep.add_argument("--html", default="report.html", metavar="OUT.html", help="output file (default report.html)")
    rep.add_argument("--base", default=None, help="base run of the comparisons (default: one named base, else first)")
    rep.add_argument("--max-text-mb", type=float, default=32.0, help="text budget of the sample browser (MB)")
    rep.add_argument("--workers", type=int, default=None, help="processes reading files (default: CPU count)")
    rep.add_argument("--gate", default=None, metavar="SPEC", help="compare --gate's limits, checked on the base run "
                     "against every other run: the verdict first on the page; exit 1 when one fails, 2 on missing "
                     "data")  # fmt: skip
    cmp = sub.add_parser("compare", parents=[common], help="paired base vs fine-tuned comparison")
    cmp.add_argument("base")
    cmp.add_argument("finetuned")
    cmp.add_argument("--gate", default=None, metavar="SPEC", help="limits on the change, e.g. "
                     "'valid_rate:-0.05, rpass@1:-0.02@ci' or a YAML file of them per task (docs/report.md); "
                     "exit 1 when one fails, 2 on missing data")  # fmt: skip
    cmp.add_argument(
        "--json", default=None, metavar="OUT.json", help="also write every row (and the gate table) as JSON"
    )
    tab = sub.add_parser("table", parents=[common], help="the paper's table: runs x (pass@1, Rpass@1, VR) per task")
    tab.add_argument("paths", nargs="+")
    tab.add_argument("--format", dest="table_format", default="markdown", choices=["markdown", "latex", "csv"])
    plo = sub.add_parser("plot", parents=[common], help="stacked status bars (and VR/pass@1 over steps) as PNG/SVG")
    plo.add_argument("paths", nargs="+")
    plo.add_argument("--out", default="tracecollapse.png", help="output file (.png or .svg)")
    for p in (an, cmp):
        p.add_argument(
            "--probe-reference",
            default="original",
            choices=["original", "full"],
            help="tc_probe runs: compare answers with the run's original answer, or with the probed model's "
            "answer given the full trace (for probes built from another run)",
        )
    pro = sub.add_parser("probe", help="write faithfulness probes of a finished run (then run the tc_probe task)")
    pro.add_argument("source", help="lm-eval output folder, samples file or replay JSONL")
    pro.add_argument("--out", default="probes.jsonl")
    pro.add_argument("--fmt", default="auto")
    pro.add_argument("--ks", default="0,25,50,75,100", help="percentages of the trace's steps kept")
    pro.add_argument("--paraphrase-model", default=None, help="lm-eval model name that paraphrases (default: rules)")
    pro.add_argument("--paraphrase-model-args", default="", help="its model_args, as for lm_eval --model_args")
    pro.add_argument("--paraphrase-chat", action="store_true", help="render the paraphrase request as a chat")
    pro.add_argument("--tokenizer", default=None, help="local tokenizer: filler matches the token count")
    if argv and argv[0] == "eval":
        _eval(argv[1:])
        return
    if argv and argv[0] == "demo":  # the demo's own flags (--out, --write-docs), parsed by it
        from .demo import main as demo_main

        demo_main(argv[1:], prog="tracecollapse demo")
        return
    args = parser.parse_args(argv)
    if args.command == "probe":
        _probe(args)
        return
    if args.command == "wrap":
        _wrap(args)
        return
    if args.command in ("analyze", "compare", "table", "plot"):
        report_command(args)
    elif args.command == "report":
        html_command(args)
    elif args.command == "paths":
        print(task_yamls_dir())
    elif args.command == "study":
        from .study.run import main as study_main

        study_main(args.config, args.stage, args.check, only=args.only, collect=args.collect)
    else:
        parser.print_help()
        raise SystemExit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
