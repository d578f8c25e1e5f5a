"""Faithfulness probes on the demo's checkpoints (after ``make demo``).

``python -m lm_eval_tracecollapse.demo.faithfulness`` runs the ``tc_probe`` task through
lm-eval's ``hf`` model twice per checkpoint:

* **own traces** — probes built from that checkpoint's own demo answers (only possible
  while it still writes valid traces), scored against its original answers;
* **base traces** — probes built from the *base* model's answers, so every checkpoint,
  the collapsed ones included, is given the same traces cut at k %; scored against the
  checkpoint's own answer with the full trace (``reference="full"``), and compared with
  the base model on the same probes (paired: Newcombe's interval with their correlation).

:func:`score_probe_run` / :func:`compare_probes` turn the logged samples into the
faithfulness score (area over the early-termination invariance curve, with a Wilson
interval over the probed responses: ``docs/analysis.md``, intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..probes import ProbeComparison, ProbeScore, build_probes, compare_probes, score_probe_run, write_probes

__all__ = ["Faithfulness", "measure"]


@dataclass
class Faithfulness:
    """One checkpoint's probe results."""

    own: ProbeScore | None  # None: no valid trace of its own to probe
    base_traces: ProbeScore | None  # None: the base model wrote no valid trace
    vs_base: ProbeComparison | None  # on the base's traces, against the base model


def _probe_file(source: Path, path: Path) -> Path | None:
    """The probes of ``source`` written once to ``path`` (None: no valid trace)."""
    probes = build_probes(source)
    if not probes:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_probes(probes, path)


def _run_probes(lm: Any, probes: Path, out: Path) -> None:
    from ..harness.run import task_manager
    from ..locations import task_yamls_dir
    from ..study.evaluate import evaluate_logged

    # tc_probe needs none of lm-eval's own tasks: indexing them would cost ~10 s per run
    tm = task_manager([], include_defaults=False, metadata={"probes": str(probes)}, ours=task_yamls_dir() / "probe")
    evaluate_logged(lm, ["tc_probe"], tm, out, gen_kwargs="max_gen_toks=24")


def measure(out_dir: str | Path = "demo_out", size: str = "small") -> dict[str, Faithfulness]:
    """checkpoint -> its probe results (own traces and the base model's traces), for the base
    and each arm's final checkpoint of the demo's study in ``out_dir``.  Each checkpoint is
    loaded once (lm-eval's ``hf`` model) and skipped when it has nothing to probe."""
    from ..harness.run import hf_model
    from .pipeline import BASE, demo_config, final_runs, pin_torch

    pin_torch()
    out = Path(out_dir)
    runs = final_runs(demo_config(out, size))
    for checkpoint, source in runs.values():
        if not (checkpoint / "config.json").is_file() or not source.is_dir():
            raise FileNotFoundError(f"{checkpoint} or {source} is missing: run `make demo` first")
    base_probes = _probe_file(runs[BASE][1], out / "probes_base_traces" / "probes.jsonl")
    base_cross = out / "probes_base_traces" / "base"
    results: dict[str, Faithfulness] = {}
    for arm, (checkpoint, source) in runs.items():
        name = "base" if arm == BASE else source.name
        own_probes = _probe_file(source, out / "probes" / f"{name}.jsonl")
        own, cross = out / "probes" / name, out / "probes_base_traces" / name
        if own_probes or base_probes:
            lm = hf_model(pretrained=str(checkpoint), dtype="float32", device="cpu", batch_size=64)
            for probes, folder in ((own_probes, own), (base_probes, cross)):
                if probes:
                    _run_probes(lm, probes, folder)
        results[arm] = Faithfulness(
            own=score_probe_run([own])[0] if own_probes else None,
            base_traces=score_probe_run([cross], reference="full")[0] if base_probes else None,
            vs_base=compare_probes([base_cross], [cross], "full") if base_probes and arm != BASE else None,
        )
    return results


def _ci(lo_hi: tuple[float, float], signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"[{f.format(lo_hi[0])}, {f.format(lo_hi[1])}]"


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="faithfulness probes of the demo checkpoints (after make demo)")
    parser.add_argument("--out", default="demo_out", help="the demo's output folder")
    args = parser.parse_args(argv)
    results = measure(args.out)
    print("Own traces (probes from each checkpoint's own answers, reference: its original answer)\n")
    print("| checkpoint | probed | faithfulness AOC [95% CI] | invariance, early k=0/25/50/75/100 |")
    print("|---|---:|---|---|")
    for arm, r in results.items():
        s = r.own
        if s is None:
            print(f"| {arm} | 0 | N/A (no valid trace to probe) | |")
            continue
        curve = " / ".join(f"{v:.2f}" for v in s.invariance.get("early", {}).values())
        print(f"| {arm} | {s.sources} | {s.aoc:.3f} {_ci(s.aoc_ci)} | {curve} |")
    print("\nBase traces (every checkpoint given the base model's traces cut at k %, reference: its own answer")
    print("with the full trace)\n")
    print("| checkpoint | faithfulness AOC [95% CI] | Δ vs base [95% CI] | accuracy, early k=0/25/50/75/100 "
          "| invariance, paraphrase k=0 |")  # fmt: skip
    print("|---|---|---|---|---:|")
    for arm, r in results.items():
        s, c = r.base_traces, r.vs_base
        if s is None:
            print(f"| {arm} | N/A (the base model wrote no valid trace) | | | |")
            continue
        delta = "—" if c is None or c.paired_delta is None or c.paired_delta_ci is None else (
            f"{c.paired_delta:+.3f} {_ci(c.paired_delta_ci, signed=True)}"
        )  # fmt: skip
        acc = " / ".join(f"{v:.2f}" for v in s.accuracy.get("early", {}).values())
        para = s.invariance.get("paraphrase", {}).get(0)
        print(f"| {arm} | {s.aoc:.3f} {_ci(s.aoc_ci)} | {delta} | {acc} | {'—' if para is None else f'{para:.2f}'} |")


if __name__ == "__main__":  # pragma: no cover
    main()
