"""Issue 33: a LongBench task and an SLR-Bench task, traced end to end, every row checked by hand.

``longbench_2wikimqa`` and ``slr_bench_basic`` name no ``output_type`` in their YAMLs; lm-eval's
default is ``generate_until``, so they are generative, and ``--tasks X_tc`` must wrap them (the
wrapper used to read the missing key as loglikelihood and refuse them, with all of LongBench,
SLR-Bench, ``fld_*`` and ``lingoly_*``).  Both run on lm-eval's unchanged YAMLs and hook modules,
over small synthetic data shaped like the real datasets' columns
(``tests/fixtures/stock_tasks/``, laid out as the ``datasets`` cache by ``offline_hub``):

* ``longbench_2wikimqa`` (``Xnhyacinth/LongBench``, config ``2wikimqa``): ``process_results`` is
  ``metrics.get_qa_f1_with_score`` (rows ``score`` and ``qa_f1_score``, the best token F1 over the
  document's ``answers``), a fraction, not 0/1: our ``pass@1`` is the mean F1.  No stop strings.
* ``slr_bench_basic`` (``AIML-TUDA/SLR-Bench``, config ``v1-Basic``): ``process_results`` hands the
  answer part and the document's ``validation program`` to the hub's symbolic judge, which runs
  the rule with SWI-Prolog; offline, ``offline_hub.write_slr_judge`` puts a stand-in for it where
  ``evaluate.load`` finds it (see there).  ``until: ["\\n\\n\\n"]`` moves to the answer part.

One ``tracecollapse eval`` runs both ``_tc`` tasks on replies of every trace status, right and
wrong; beside it, another process runs the two stock tasks on what a model that did not reason
would have generated (each reply's answer part up to the task's stop string).  Asserted: the
task's own rows equal the stock run's (value and stderr) and values computed here by hand, per
document too; our rows equal values computed here by hand.

Needs the ``longbench`` extra (``jieba``, ``fuzzywuzzy``, ``rouge``) and ``swipl``: a task whose
needs are missing is skipped with the command that installs them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import offline_hub as hub  # registered by conftest.py
import pytest
from testenv import E, M, Reply, T, V, close, pooled_row, sample_status, seeded_cache

pytestmark = pytest.mark.slow

FIX = Path(__file__).resolve().parent / "fixtures" / "stock_tasks"

#: task -> (hub repo, config, fixture file) of its data (each evaluates its ``test`` split)
DATA = {
    "longbench_2wikimqa": ("Xnhyacinth/LongBench", "2wikimqa", "longbench_2wikimqa.json"),
    "slr_bench_basic": ("AIML-TUDA/SLR-Bench", "v1-Basic", "slr_bench_v1-Basic.json"),
}


def _missing(task: str) -> str | None:
    """Why ``task`` cannot run here (one line naming the install command), or None."""
    if task == "longbench_2wikimqa":
        gone = [m for m in ("jieba", "fuzzywuzzy", "rouge") if importlib.util.find_spec(m) is None]
        if gone:
            return f"longbench needs {', '.join(gone)}: pip install -e '.[longbench]'"
    elif shutil.which("swipl") is None:  # lm-eval's slr_bench hook module exits the process without it
        return "slr_bench needs SWI-Prolog: apt-get install -y swi-prolog-nox"
    return None


# --------------------------------------------------------------------------- the designs
# LongBench's qa F1 (metrics.qa_f1_score): lower-case, drop punctuation and the articles a/an/the,
# split on whitespace; F1 of the token multisets; the best over the document's answers.
LONGBENCH = [
    # gold "Mara Quell": the same two tokens -> 1.  The trace names the producer (would lower it).
    Reply(V, "Mara Quell", 1.0, trace="Tomas Reyne produced it, so the director is not Tomas Reyne."),
    # gold "Lyon": "the city of lyon" -> [city, of, lyon]: precision 1/3, recall 1 -> F1 = 2/3 / (4/3) = 0.5
    Reply(V, "The city of Lyon.", 0.5, trace="Anselm Vey trained in Paris, but was born elsewhere."),
    # golds "Edwin Harl Jr." -> [edwin, harl, jr]: P 1, R 2/3 -> 0.8; "E. Harl" -> [e, harl]: P 1/2, R 1/2
    # -> 0.5; best 0.8 (a missing trace: the whole response is the answer part)
    Reply(M, "Edwin Harl", 0.8),
    # gold "1987": no common token -> 0
    Reply(E, "1991", 0.0, sep="\n"),
    # cut off inside the trace, which states the gold: the answer part is empty -> 0
    Reply(T, "", 0.0, trace="Caius Brenn was born in Velmora, which lies on the Ondra, so the answer is Ondra"),
    # gold "Kestrel Bay": the scorer strips the response -> 1
    Reply(M, " Kestrel Bay\n", 1.0),
]

# SLR-Bench: right when the rule covers every eastbound train of the validation program and no
# westbound one (the trains are in the fixture; a rule other than the ground truth can be right)
_CATCH_ALL = "eastbound(T) :- has_car(T, _)."  # every train: wrong wherever there is a westbound train


def _prolog(rule: str) -> str:
    return f"```prolog\n{rule}\n```"


SLR = [
    # the ground-truth rule; the trace tries the catch-all rule first (wrong if it leaked)
    Reply(
        V,
        _prolog("eastbound(T) :- has_car(T, C), car_color(C, red)."),
        1.0,
        trace=f"Maybe {_CATCH_ALL} No: train1 is westbound. The red car decides.",
    ),
    # not the ground truth (car_len short), but every car is car 1: right by Prolog (exact match would
    # say 0); the stop string inside the trace must not cut the response there
    Reply(
        V,
        _prolog("eastbound(T) :- has_car(T, C), car_num(C, 1), car_len(C, short)."),
        1.0,
        trace="Short cars go east.\n\n\nAnd every car is the first of its train.",
    ),
    # long cars: train0 (east) is long but so is train2 (westbound) -> wrong
    Reply(
        V,
        _prolog("eastbound(T) :- has_car(T, C), car_len(C, long)."),
        0.0,
        trace="The eastbound train has a long car with a railing.",
    ),
    # right; the tail, from the stop string "\n\n\n" on, adds the catch-all clause (wrong if kept)
    Reply(
        M,
        _prolog("eastbound(T) :- has_car(T, C), car_color(C, green)."),
        1.0,
        tail=f"\n\n\nOr, more simply:\n{_CATCH_ALL}",
    ),
    # white is the westbound train's colour -> wrong
    Reply(E, _prolog("eastbound(T) :- has_car(T, C), car_color(C, white)."), 0.0),
    # cut off inside the trace, which holds the right rule: no rule in the answer part -> 0
    Reply(T, "", 0.0, trace="The eastbound train's car is long: eastbound(T) :- has_car(T, C), car_len(C, long)."),
]
DESIGN: dict[str, list[Reply]] = {"longbench_2wikimqa": LONGBENCH, "slr_bench_basic": SLR}
#: the task's own rows, each the mean of the per-document score
OWN = {"longbench_2wikimqa": ["score", "qa_f1_score"], "slr_bench_basic": ["verifiable_reward"]}
PIPE = "none"  # neither task names a filter pipeline: lm-eval's default take_first "none"


# --------------------------------------------------------------------------- the runs
def _start(tasks: list[str], replies: Path, out: Path, env: dict[str, str], root: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", "--model", "tc_replay"]
    cmd += ["--model_args", f"path={replies}", "--tasks", ",".join(tasks), "--output_path", str(out), "--log_samples"]
    pipe = subprocess.PIPE
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=pipe, stderr=pipe, text=True)


def _finish(proc: subprocess.Popen[str], out: Path) -> dict[str, Any]:
    """The results, samples (task -> lines in doc_id order) and stderr of a run, once it exited 0."""
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-5000:]
    (results,) = out.glob("*/results_*.json")
    samples = {}
    for path in out.glob("*/samples_*.jsonl"):  # samples_<task>_<date>.jsonl (the date has no "_")
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        samples[path.stem.removeprefix("samples_").rsplit("_", 1)[0]] = sorted(lines, key=lambda s: s["doc_id"])
    return {"results": json.loads(results.read_text())["results"], "samples": samples, "stderr": stderr}


def _write_replies(path: Path, tasks: list[str], suffix: str, stock: bool) -> Path:
    lines = [
        {"task": task + suffix, "doc_id": d, "response": r.stock if stock else r.traced}
        for task in tasks
        for d, r in enumerate(DESIGN[task])
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The stock and the traced run of every task whose needs are met, side by side."""
    tasks = [t for t in DESIGN if _missing(t) is None]
    if not tasks:
        pytest.skip("; ".join(filter(None, map(_missing, DESIGN))))
    root = tmp_path_factory.mktemp("longbench_slr")
    hub.write_offline_hub(root, [(repo, cfg, json.loads((FIX / f).read_text())) for repo, cfg, f in DATA.values()])
    hub.write_slr_judge(root)
    env = {**hub.offline_env(root), "TRACECOLLAPSE_CACHE": str(seeded_cache(root / "tc_cache")), "TQDM_DISABLE": "1"}
    stock = _start(tasks, _write_replies(root / "stock.jsonl", tasks, "", True), root / "out_stock", env, root)
    traced_replies = _write_replies(root / "tc.jsonl", tasks, "_tc", False)
    traced = _start([t + "_tc" for t in tasks], traced_replies, root / "out_tc", env, root)
    started = {"stock": (stock, root / "out_stock"), "tc": (traced, root / "out_tc")}
    try:
        return {name: _finish(proc, out) for name, (proc, out) in started.items()}
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:  # the other run failed first
                proc.kill()
                proc.communicate()


def _available(task: str) -> None:
    why = _missing(task)
    if why:
        pytest.skip(why)


# --------------------------------------------------------------------------- expected, by hand
STATUS_ROWS = {"valid_rate": V, "empty_rate": E, "missing_rate": M, "truncated_rate": T}
STATUS_PASS = {"rpass@1": V, "pass@1_empty": E, "pass@1_missing": M, "pass@1_truncated": T}
OURS = [*STATUS_ROWS, "answer_rate", "pass@1", *STATUS_PASS]
OURS += ["loop_rate", "truncated_loop_rate", "truncated_progress_rate", "degenerate_rate"]
OURS += ["trace_length_words", "answer_length_words"]


def _words(text: str) -> int:
    return len(text.split())


def our_docs(task: str, row: str) -> list[tuple[float, float]]:
    """(value, weight) per document of one of our rows, by hand from the design (one response
    per document: a row that leaves a response out gives its document weight 0)."""
    out: list[tuple[float, float]] = []
    for r in DESIGN[task]:
        whole = r.answer + r.tail  # the whole answer part, before the stop string cuts it
        if row in STATUS_ROWS:
            hits = [float(r.status == STATUS_ROWS[row])]
        elif row == "answer_rate":
            hits = [float(bool(whole.strip()))]
        elif row == "pass@1":
            hits = [r.correct]
        elif row in STATUS_PASS:
            hits = [r.correct] if r.status == STATUS_PASS[row] else []
        elif row in ("loop_rate", "truncated_loop_rate", "degenerate_rate"):
            hits = [0.0]  # short traces with content never loop, none is filler
        elif row == "truncated_progress_rate":
            hits = [float(r.status == T)]  # truncated and not looping
        elif row == "trace_length_words":
            hits = [] if r.status == M else [float(_words(r.trace)) if r.status in (V, T) else 0.0]
        else:  # answer_length_words, over non-blank answer parts
            hits = [float(_words(whole))] if whole.strip() else []
        out.append((sum(hits) / len(hits), float(len(hits))) if hits else (0.0, 0.0))
    return out


def own_value(task: str) -> tuple[float, float]:
    """The task's own row (each of them: the mean per-document score) and its stderr, by hand."""
    scores = [r.correct for r in DESIGN[task]]
    n = len(scores)
    mean = sum(scores) / n
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1) / n)


# --------------------------------------------------------------------------- the tests
def test_the_yamls_name_no_output_type() -> None:
    """The shape these tests guard: lm-eval's default output type, no key in the YAML (nor its include)."""
    spec = importlib.util.find_spec("lm_eval")
    assert spec is not None and spec.origin is not None
    tasks = Path(spec.origin).parent / "tasks"
    for path in ("longbench/2wikimqa.yaml", "slr_bench/slr_bench_basic.yaml", "slr_bench/slr_bench_common_yaml"):
        assert "output_type" not in (tasks / path).read_text(encoding="utf-8"), path


@pytest.mark.parametrize("task", list(DESIGN))
def test_the_tasks_own_rows_equal_the_stock_run_and_the_hand_values(runs: dict[str, Any], task: str) -> None:
    _available(task)
    stock, traced = runs["stock"]["results"][task], runs["tc"]["results"][task + "_tc"]
    own = {k: v for k, v in stock.items() if "," in k}  # metric,filter (and their stderr)
    assert set(own) == {f"{m}{s},{PIPE}" for m in OWN[task] for s in ("", "_stderr")}, own
    for key, value in own.items():
        assert close(traced[key], value), (task, key, traced[key], value)
    value, stderr = own_value(task)
    for metric in OWN[task]:
        assert close(stock[f"{metric},{PIPE}"], value), (task, metric, stock[f"{metric},{PIPE}"], value)
        assert close(stock[f"{metric}_stderr,{PIPE}"], stderr), (task, metric, stock[f"{metric}_stderr,{PIPE}"])


@pytest.mark.parametrize("task", list(DESIGN))
def test_each_document_is_scored_and_classified_as_designed(runs: dict[str, Any], task: str) -> None:
    """Per document: the task's own score in both runs equals the hand value, and the traced
    sample's status is the designed one."""
    _available(task)
    stock, traced = runs["stock"]["samples"][task], runs["tc"]["samples"][task + "_tc"]
    assert [s["doc_id"] for s in traced] == list(range(len(DESIGN[task]))) == [s["doc_id"] for s in stock]
    for r, s, t in zip(DESIGN[task], stock, traced, strict=True):
        for metric in OWN[task]:
            assert close(s[metric], r.correct), (task, s["doc_id"], metric, s[metric], r.correct)
            assert close(t[metric], r.correct), (task, t["doc_id"], metric, t[metric], r.correct)
        assert sample_status(t) == r.status, (task, t["doc_id"])


@pytest.mark.parametrize("task", list(DESIGN))
def test_our_rows_equal_the_hand_computed_values(runs: dict[str, Any], task: str) -> None:
    _available(task)
    row = runs["tc"]["results"][task + "_tc"]
    for metric in OURS:
        value, stderr, _ = pooled_row(our_docs(task, metric))
        key, err = f"{metric},{PIPE}", f"{metric}_stderr,{PIPE}"
        assert close(row[key], value), (task, key, row[key], value)
        assert close(row[err], stderr), (task, err, row[err], stderr)
    assert "no pass@1/rpass@1 rows" not in runs["tc"]["stderr"]


def test_hand_values_spelled_out(runs: dict[str, Any]) -> None:
    """The numbers, spelled out: LongBench's pass@1 is the mean F1 (1 + .5 + .8 + 0 + 0 + 1) / 6,
    rpass@1 (1 + .5) / 2, pass@1_missing (.8 + 1) / 2; SLR-Bench's 3 of 6 right, rpass@1 2/3,
    pass@1_missing 1 (the tail's catch-all clause was cut off), pass@1_truncated 0."""
    res = runs["tc"]["results"]
    if _missing("longbench_2wikimqa") is None:
        lb = res["longbench_2wikimqa_tc"]
        assert lb["score,none"] == lb["qa_f1_score,none"] == lb["pass@1,none"] == pytest.approx(3.3 / 6)
        assert (lb["rpass@1,none"], lb["pass@1_missing,none"]) == (pytest.approx(0.75), pytest.approx(0.9))
        assert (lb["valid_rate,none"], lb["missing_rate,none"]) == (pytest.approx(2 / 6), pytest.approx(2 / 6))
    if _missing("slr_bench_basic") is None:
        slr = res["slr_bench_basic_tc"]
        assert slr["verifiable_reward,none"] == slr["pass@1,none"] == pytest.approx(0.5)
        assert (slr["rpass@1,none"], slr["pass@1_missing,none"]) == (pytest.approx(2 / 3), 1.0)
        assert (slr["pass@1_empty,none"], slr["pass@1_truncated,none"]) == (0.0, 0.0)


def test_the_slr_judge_ran_prolog(runs: dict[str, Any]) -> None:
    """The stand-in judge was loaded (no fall-back to exact match on the ground-truth rule, which
    would score document 1's equivalent rule 0) and SWI-Prolog decided."""
    _available("slr_bench_basic")
    for run in runs.values():
        assert "Could not load VerifiableRewards" not in run["stderr"]
    assert runs["stock"]["samples"]["slr_bench_basic"][1]["verifiable_reward"] == 1.0


def test_the_judge_stand_in_on_the_fixture() -> None:
    """The stand-in judge's scoring (``offline_hub.slr_judge_score``, the code its module holds), by
    ``swipl``: every document's ground-truth rule is right, the catch-all rule wrong (each has a
    westbound train), a text with no rule scores 0, and only clauses for ``eastbound`` count."""
    _available("slr_bench_basic")
    config = {"positive_predicate": "eastbound", "negative_predicate": "westbound"}
    for doc in json.loads((FIX / DATA["slr_bench_basic"][2]).read_text())["test"]:
        ref = {"validation_program": doc["validation program"], "evaluation_config": config}
        assert hub.slr_judge_score(_prolog(doc["ground-truth rule"]), ref, 30) == (1.0, True), doc["id"]
        assert hub.slr_judge_score(_CATCH_ALL, ref, 30)[1] is False, doc["id"]
        assert hub.slr_judge_score("no rule here", ref, 30) == (0.0, False), doc["id"]
        other = doc["ground-truth rule"].replace("eastbound(T)", "westbound(T)")
        assert hub.slr_judge_score(other, ref, 30) == (0.0, False), doc["id"]
    assert "def slr_judge_score(" in hub._slr_judge_source()


def test_a_reply_for_every_document() -> None:
    for task, (_, _, name) in DATA.items():
        assert len(json.loads((FIX / name).read_text())["test"]) == len(DESIGN[task]), task
