"""Issue 35: a traced stock task scores its own rows exactly as the stock task does.

Four stock tasks whose shapes broke ``_tc`` runs, on lm-eval's unchanged YAMLs with small
local data (``tests/fixtures/stock_tasks/``, laid out as the ``datasets`` cache by
``offline_hub``) and hand-written replies replayed by ``tc_replay``:

* ``wmt16-de-en``: corpus-level metrics (``bleu``, ``ter``, ``chrf``: a document's value is
  the item their aggregation takes, not a score) — it crashed;
* ``anagrams1``: ``exact_match`` on the whole answer; a missing trace's answer part is the
  response itself, its trailing space included (it was right-stripped);
* ``gsm8k_cot_self_consistency``: ``repeats: 64`` and pipelines over a document's responses
  (``majority_vote``; ``take_first_k`` k=8) — it crashed;
* ``humaneval_instruct``: a ``gen_prefix`` ending in an opened code fence and the function's
  header: the answer part is a function body whose first line's indentation matters (it
  was lost).

One ``tracecollapse eval`` runs the four ``_tc`` tasks on the traced replies; another, in a
process where nothing of ours is built, the four stock tasks on what a model that did not
reason would have generated: each reply's answer part up to the task's first stop string.
Asserted: every row of the task's own equals the stock run's (value and stderr) and the
value computed here by hand; our rows equal values computed here by hand from the design.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import offline_hub as hub  # registered by conftest.py
import pytest
from testenv import E, M, Reply, T, V, close, pooled_row, seeded_cache

pytestmark = pytest.mark.slow

FIX = Path(__file__).resolve().parent / "fixtures" / "stock_tasks"

#: task -> (hub repo, config, fixture file, the split it evaluates) of its data
DATA = {
    "wmt16-de-en": ("wmt/wmt16", "de-en", "wmt16_de-en.json", "test"),
    "anagrams1": ("EleutherAI/unscramble", "mid_word_1_anagrams", "unscramble_mid_word_1_anagrams.json", "validation"),
    "gsm8k_cot_self_consistency": ("openai/gsm8k", "main", "gsm8k_main.json", "test"),
    "humaneval_instruct": ("openai/openai_humaneval", "openai_humaneval", "openai_humaneval.json", "test"),
}


# --------------------------------------------------------------------------- the designs
WMT = [
    Reply(V, "The house is small.", None, "\nGerman phrase: Der Hund.", "Haus = house. Maybe: The dog is big."),
    Reply(M, " The cat sleeps on the mat.", None, "\n\nThe dog is big."),
    Reply(E, "I like to eat green apples.", None, "\nThe dog is big.", sep=" "),
    Reply(T, "", None, trace="Wetter = weather. So: The weather is nice today."),
]
ANAGRAMS = [
    Reply(V, "lapse", 1, "\nsepal", "l-p-a-s-e: sepal?"),
    Reply(M, "garden ", 0, "\nPlease unscramble"),  # the trailing space stays: wrong, as in stock
    Reply(M, "river", 1, "\nrevir"),
    Reply(E, "plian", 0, "\nplain", sep=""),
    Reply(V, "stone ", 0, "\n", "s-t-o-n-e", sep="\n"),  # after a trace too
    Reply(T, "", 0, trace="c-l-o-u-d: cloud"),
]
GSM_GOLD = ["7", "60"]


def _gsm(status: str, value: str, gold: str) -> Reply:
    """A self-consistency sample stating ``value``; decoys: the trace states 999, the tail
    (after the stop string ``\\n\\n``) too; a truncated trace states the gold answer."""
    if status == T:
        return Reply(T, "", 0, trace=f"Adding up. The answer is {gold}.")
    answer = f"Counting it out: {value}. The answer is {value}."
    return Reply(status, answer, int(value == gold), "\n\nQ: The answer is 999.", "Q: The answer is 999.")


GSM = [
    # gold 7: mostly right; every 8th truncated ("[invalid]"), j % 3 == 2 a distinct wrong number
    [_gsm([V, V, M, E, T, V, M, V][j % 8], "7" if j % 3 != 2 else str(100 + j), "7") for j in range(64)],
    # gold 60: the first 8 right (maj@8 right), then mostly 61 (maj@64 wrong)
    [_gsm([M, V, V, E][j % 4], "60" if j < 8 or j % 3 == 0 else "61", "60") for j in range(64)],
]
HUMANEVAL = [
    Reply(V, "    return a + b\n```\n", 1, "\nprint(add(1, 2))", "```python\nraise SystemExit(1)\n```", sep="\n"),
    Reply(V, "    return s\n```\n", 0, "\nprint(1)", "```python\n    return s[::-1]\n```"),
    Reply(M, "    return max(xs)\n```\n", 1, "\nprint(largest([1]))"),
    Reply(E, "    return sum(c in 'aeiou' for c in s)\n```", 1),
    Reply(T, "", 0, trace="I would write:\n    return n % 2 == 0"),
    Reply(V, "    result = a * b\n    return result\n```\n\nDone.", 1, "\ndef unused():\n    pass"),
]
#: task -> per document, its responses (one each, but 64 for self-consistency)
DESIGN: dict[str, list[list[Reply]]] = {
    "wmt16-de-en": [[r] for r in WMT],
    "anagrams1": [[r] for r in ANAGRAMS],
    "gsm8k_cot_self_consistency": GSM,
    "humaneval_instruct": [[r] for r in HUMANEVAL],
}
PIPELINES = {
    "wmt16-de-en": ["none"],
    "anagrams1": ["none"],
    "gsm8k_cot_self_consistency": ["score-first", "maj@64", "maj@8"],
    "humaneval_instruct": ["create_test"],
}


# --------------------------------------------------------------------------- the runs
def _start(
    tasks: list[str], replies: Path, out: Path, env: dict[str, str], root: Path, command: list[str] | None = None
) -> tuple[subprocess.Popen[str], Path]:
    """Start ``tracecollapse eval`` (or ``command``: the bare ``lm_eval``) of ``tasks`` on ``replies``."""
    cmd = command or [sys.executable, "-m", "lm_eval_tracecollapse", "eval"]
    cmd += ["--model", "tc_replay", "--model_args", f"path={replies}", "--tasks", ",".join(tasks)]
    cmd += ["--confirm_run_unsafe_code", "--output_path", str(out), "--log_samples"]
    pipe = subprocess.PIPE
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=pipe, stderr=pipe, text=True), out


def _finish(started: tuple[subprocess.Popen[str], Path]) -> dict[str, Any]:
    """The results (and stderr) of a run :func:`_start` started, once it exited 0."""
    proc, out = started
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-5000:]
    (results,) = out.glob("*/results_*.json")
    return {"results": json.loads(results.read_text())["results"], "stderr": stderr}


def _write_replies(path: Path, suffix: str, stock: bool) -> Path:
    lines = [
        {"task": task + suffix, "doc_id": d, "response": r.stock if stock else r.traced}
        for task, docs in DESIGN.items()
        for d, responses in enumerate(docs)
        for r in responses
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The four tasks' data where lm-eval's unchanged YAMLs find it offline, and the environment."""
    root = tmp_path_factory.mktemp("stock_exact")
    hub.write_offline_hub(root, [(repo, cfg, json.loads((FIX / f).read_text())) for repo, cfg, f, _ in DATA.values()])
    return root, {
        **hub.offline_env(root),
        "TRACECOLLAPSE_CACHE": str(seeded_cache(root / "tc_cache")),
        "TQDM_DISABLE": "1",
    }


@pytest.fixture(scope="module")
def runs(hub_root: tuple[Path, dict[str, str]]) -> dict[str, dict[str, Any]]:
    root, env = hub_root
    tasks = list(DESIGN)
    # side by side: separate processes (nothing of ours is built in the stock one)
    stock = _start(tasks, _write_replies(root / "stock.jsonl", "", True), root / "out_stock", env, root)
    traced_replies = _write_replies(root / "tc.jsonl", "_tc", False)
    traced = _start([t + "_tc" for t in tasks], traced_replies, root / "out_tc", env, root)
    return {"stock": _finish(stock), "tc": _finish(traced)}


# --------------------------------------------------------------------------- expected, by hand
def _majority(values: list[str]) -> str:
    return Counter(values).most_common(1)[0][0]  # as lm-eval's majority_vote (ties: first seen)


def _gsm_extracted(r: Reply) -> str:
    """What the task's regex takes from a reply's answer part ('[invalid]': nothing)."""
    return r.answer.split("The answer is ")[1].rstrip(".") if r.status != T else "[invalid]"


def own_rows(task: str) -> dict[str, float]:
    """The task's own rows (values), by hand."""
    docs = DESIGN[task]
    if task == "anagrams1":
        return {"exact_match,none": sum(r.correct or 0 for [r] in docs) / len(docs)}
    if task == "humaneval_instruct":
        return {"pass@1,create_test": sum(r.correct or 0 for [r] in docs) / len(docs)}
    if task == "gsm8k_cot_self_consistency":
        first = [rs[0].correct for rs in docs]
        maj64 = [_majority([_gsm_extracted(r) for r in rs]) == g for rs, g in zip(docs, GSM_GOLD, strict=True)]
        maj8 = [_majority([_gsm_extracted(r) for r in rs[:8]]) == g for rs, g in zip(docs, GSM_GOLD, strict=True)]
        assert (first, maj64, maj8) == ([1, 1], [True, False], [True, True])  # the design does what it says
        return {"exact_match,score-first": 1.0, "exact_match,maj@64": 0.5, "exact_match,maj@8": 1.0}
    import sacrebleu

    rows = json.loads((FIX / "wmt16_de-en.json").read_text())["test"]
    refs = [[" " + row["translation"]["en"] for row in rows]]
    preds = [r.stock for [r] in docs]
    return {
        "bleu,none": sacrebleu.corpus_bleu(preds, refs).score,
        "ter,none": sacrebleu.corpus_ter(preds, refs).score,
        "chrf,none": sacrebleu.corpus_chrf(preds, refs).score,
    }


STATUS_ROWS = {"valid_rate": V, "empty_rate": E, "missing_rate": M, "truncated_rate": T}
STATUS_PASS = {"rpass@1": V, "pass@1_empty": E, "pass@1_missing": M, "pass@1_truncated": T}


def _words(text: str) -> int:
    return len(text.split())


def our_docs(task: str, row: str) -> list[tuple[float, float]]:
    """(value, weight) per document of one of our rows, by hand from the design."""
    out = []
    for responses in DESIGN[task]:
        if row in STATUS_ROWS:
            hits = [float(r.status == STATUS_ROWS[row]) for r in responses]
        elif row == "answer_rate":
            hits = [float(bool((r.answer + r.tail).strip())) for r in responses]
        elif row == "pass@1":
            hits = [float(r.correct or 0) for r in responses]
        elif row in STATUS_PASS:
            hits = [float(r.correct or 0) for r in responses if r.status == STATUS_PASS[row]]
        elif row in ("loop_rate", "truncated_loop_rate", "degenerate_rate"):
            hits = [0.0 for _ in responses]  # short traces with content never loop, none is filler
        elif row == "truncated_progress_rate":
            hits = [float(r.status == T) for r in responses]
        elif row == "trace_length_words":
            hits = [float(_words(r.trace)) if r.status in (V, T) else 0.0 for r in responses if r.status != M]
        else:  # answer_length_words: the whole answer part (Trace.answer), over non-blank ones
            hits = [float(_words(r.answer + r.tail)) for r in responses if (r.answer + r.tail).strip()]
        out.append((sum(hits) / len(hits), float(len(hits))) if hits else (0.0, 0.0))
    return out


OURS = [*STATUS_ROWS, "answer_rate", "pass@1", *STATUS_PASS]
OURS += ["loop_rate", "truncated_loop_rate", "truncated_progress_rate", "degenerate_rate"]
OURS += ["trace_length_words", "answer_length_words"]
#: rows that need a document score: a corpus metric gives none (wmt16), so they are left out
SCORED = {"pass@1", *STATUS_PASS}


# --------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("task", list(DESIGN))
def test_the_tasks_own_rows_equal_the_stock_run(runs: dict[str, dict[str, Any]], task: str) -> None:
    stock, traced = runs["stock"]["results"][task], runs["tc"]["results"][task + "_tc"]
    own = {k: v for k, v in stock.items() if "," in k}  # metric,filter (and their stderr)
    assert own, task
    for key, value in own.items():
        assert close(traced[key], value), (task, key, traced[key], value)
    for key, value in own_rows(task).items():
        assert close(stock[key], value), (task, key, stock[key], value)


@pytest.mark.parametrize("task", list(DESIGN))
def test_our_rows_equal_the_hand_computed_values(runs: dict[str, dict[str, Any]], task: str) -> None:
    row = runs["tc"]["results"][task + "_tc"]
    scored = DESIGN[task][0][0].correct is not None
    for pipe in PIPELINES[task]:
        for metric in OURS:
            key = f"{metric},{pipe}"
            if metric in SCORED and not scored:
                assert key not in row, (task, key)
                continue
            value, stderr, _ = pooled_row(our_docs(task, metric))
            assert close(row[key], value), (task, key, row[key], value)
            assert close(row[f"{metric}_stderr,{pipe}"], stderr), (task, key, row[f"{metric}_stderr,{pipe}"], stderr)


def test_a_corpus_metric_task_says_why_it_has_no_pass_at_1(runs: dict[str, dict[str, Any]]) -> None:
    assert "wmt16-de-en_tc: no pass@1/rpass@1 rows" in runs["tc"]["stderr"]
    assert "no pass@1/rpass@1 rows" not in runs["stock"]["stderr"]


def test_hand_values_spelled_out(runs: dict[str, dict[str, Any]]) -> None:
    """The issue's numbers, spelled out: anagrams1 exact_match 2/6 (the trailing-space reply is
    wrong, as in stock), pass@1_missing 1/2; humaneval_instruct pass@1 4/6, rpass@1 2/3,
    pass@1_empty 1; self-consistency maj@8 1.0 and maj@64 0.5."""
    res = runs["tc"]["results"]
    assert res["anagrams1_tc"]["exact_match,none"] == pytest.approx(2 / 6)
    assert res["anagrams1_tc"]["pass@1_missing,none"] == pytest.approx(1 / 2)
    he = res["humaneval_instruct_tc"]
    assert (he["pass@1,create_test"], he["rpass@1,create_test"]) == (pytest.approx(4 / 6), pytest.approx(2 / 3))
    assert he["pass@1_empty,create_test"] == 1.0
    sc = res["gsm8k_cot_self_consistency_tc"]
    assert (sc["exact_match,maj@8"], sc["exact_match,maj@64"], sc["exact_match,score-first"]) == (1.0, 0.5, 1.0)
    right = sum(r.correct or 0 for rs in GSM for r in rs)
    assert sc["pass@1,maj@64"] == pytest.approx(right / 128)


def test_a_reply_for_every_document() -> None:
    for task, (_, _, name, split) in DATA.items():
        assert len(json.loads((FIX / name).read_text())[split]) == len(DESIGN[task]), task
    assert [len(responses) for responses in GSM] == [64, 64]  # the task's repeats


def test_the_bare_lm_eval_route_gives_the_same_rows(
    hub_root: tuple[Path, dict[str, str]], runs: dict[str, dict[str, Any]]
) -> None:
    """``tracecollapse wrap`` says how to run our models; the bare ``lm_eval`` CLI, given the
    wrappers' YAML files (lm-eval reads a named YAML file before it builds ``--model``, which
    imports our models), reports every row the ``tracecollapse eval`` run reported."""
    root, env = hub_root
    wrapped = root / "wrapped"
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "wrap", *DESIGN, "--out", str(wrapped)]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        f"with our models (tc_replay, tc_chat_api, tc_completions_api): tracecollapse eval --include_path {wrapped}"
        in (proc.stdout)
    )
    files = [str(wrapped / f"{task}_tc.yaml") for task in DESIGN]
    lm_eval = [str(Path(sys.executable).parent / "lm_eval")]
    bare = _finish(_start(files, root / "tc.jsonl", root / "out_bare", env, root, lm_eval))["results"]
    for task in DESIGN:
        want = runs["tc"]["results"][task + "_tc"]
        got = bare[task + "_tc"]
        assert {k for k in got if "," in k} == {k for k in want if "," in k}, task
        for key in (k for k in want if "," in k):
            assert close(got[key], want[key]), (task, key, got[key], want[key])


def test_self_consistency_at_k_rows(runs: dict[str, dict[str, Any]]) -> None:
    """Issue 34 on a stock task with repeats (64): the @k rows for k = 2 … 64 by the formulas
    (c correct, v valid of n = 64 per document), and maj@64 — one subset, the whole vote —
    equal to the stock maj@64 pipeline's exact_match."""

    row = runs["tc"]["results"]["gsm8k_cot_self_consistency_tc"]
    counts = [(sum(r.correct or 0 for r in rs), sum(r.status == V for r in rs),
               sum((r.correct or 0) for r in rs if r.status == V)) for rs in GSM]  # fmt: skip
    n = 64
    for k in (2, 4, 8, 16, 32, 64):
        expect = {
            "pass": [1 - math.comb(n - c, k) / math.comb(n, k) for c, _, _ in counts],
            "valid": [1 - math.comb(n - v, k) / math.comb(n, k) for _, v, _ in counts],
            "all_valid": [math.comb(v, k) / math.comb(n, k) for _, v, _ in counts],
            "rpass": [1 - math.comb(v - cv, k) / math.comb(v, k) for _, v, cv in counts if v >= k],
        }
        for name, values in expect.items():
            key = f"{name}@{k},score-first"
            if values:
                assert row[key] == pytest.approx(sum(values) / len(values)), key
            else:
                assert math.isnan(row[key]), key  # no document with k valid responses: N/A
        assert row[f"rpass@{k}_coverage,score-first"] == pytest.approx(sum(v >= k for _, v, _ in counts) / 2)
    assert row["maj@64,score-first"] == row["exact_match,maj@64"] == 0.5
