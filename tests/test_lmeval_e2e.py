"""End to end through lm-eval itself: the CLI, bare lm_eval, and simple_evaluate.

No mocks of lm-eval: tc_replay (our registered model) replays fixture generations,
lm-eval's own ``dummy`` model stands in for a stock model, and a tiny Llama built
here from a config runs through ``--model hf``.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testenv import REPO, offline_env

FIX = REPO / "tests" / "fixtures"
BIN = Path(sys.executable).parent
ENV = offline_env()

pytestmark = pytest.mark.slow


def _stderr(values: list[float]) -> float:
    """lm-eval's closed-form stderr of a mean: sample stdev / sqrt(n)."""
    return statistics.stdev(values) / math.sqrt(len(values))


def _results(out: Path) -> dict[str, Any]:
    (path,) = out.glob("*/results_*.json")
    return json.loads(path.read_text())


def _run(args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# expected per-doc values of tests/fixtures/replay_gsm8k.jsonl, and of the 256-line
# replay_paper_256/gsm8k.jsonl, which repeats the same pattern over doc_id % 8
GSM_STATUS = ["valid", "valid", "empty", "missing", "truncated", "valid", "valid", "missing"] * 32
GSM_CORRECT = [1, 0, 1, 1, 0, 1, 1, 0] * 32
GSM_ANSWERED = [1, 1, 1, 1, 0, 1, 1, 1] * 32


def _expected_gsm() -> dict[str, tuple[float, float]]:
    def rate(values: list[float]) -> tuple[float, float]:
        return sum(values) / len(values), _stderr(values)

    rows = {f"{s}_rate": rate([float(x == s) for x in GSM_STATUS]) for s in ("valid", "empty", "missing", "truncated")}
    rows["answer_rate"] = rate([float(x) for x in GSM_ANSWERED])
    rows["pass@1"] = rate([float(x) for x in GSM_CORRECT])
    rows["math_verify"] = rows["pass@1"]
    rows["rpass@1"] = rate([float(c) for c, s in zip(GSM_CORRECT, GSM_STATUS, strict=True) if s == "valid"])
    return rows


def _assert_rows(task_results: dict[str, Any], pipeline: str, expected: dict[str, tuple[float, float]]) -> None:
    for metric, (value, stderr) in expected.items():
        assert task_results[f"{metric},{pipeline}"] == pytest.approx(value), metric
        assert task_results[f"{metric}_stderr,{pipeline}"] == pytest.approx(stderr), metric


def test_tracecollapse_eval_cli(tmp_path: Path) -> None:
    """The README's command on all 256 paper questions."""
    out = tmp_path / "out"
    proc = _run(
        [
            str(BIN / "tracecollapse"), "eval", "--model", "tc_replay",
            "--model_args", f"path={FIX / 'replay_paper_256' / 'gsm8k.jsonl'}",
            "--include_path", str(REPO / "task_yamls"),
            "--tasks", "tc_gsm8k_256", "--log_samples", "--output_path", str(out),
        ]
    )  # fmt: skip
    results = _results(out)["results"]["tc_gsm8k_256"]
    _assert_rows(results, "answer", _expected_gsm())
    assert results["math_timeout,answer"] == 0.0
    # all seven of our metrics appear in the printed table, next to the task's own
    for metric in ("valid_rate", "empty_rate", "missing_rate", "truncated_rate", "answer_rate", "pass@1", "rpass@1"):
        assert f"|{metric}" in proc.stdout.replace(" ", "")
    assert "|math_verify" in proc.stdout.replace(" ", "")
    # --log_samples keeps the raw response and the per-doc metric values
    (samples,) = out.glob("*/samples_tc_gsm8k_256_*.jsonl")
    first = json.loads(samples.read_text().splitlines()[0])
    assert first["resps"][0][0].startswith("<think>") and first["valid_rate"] == 1.0
    # the answer part, not the wrong guess inside the reasoning
    assert first["filtered_resps"] == ["The answer is 2280."] and "2281" in first["resps"][0][0]


def test_bare_lm_eval_with_a_stock_model(tmp_path: Path) -> None:
    """Plain `lm_eval --include_path` with lm-eval's own dummy model ("lol" answers)."""
    out = tmp_path / "out"
    proc = _run(
        [
            str(BIN / "lm_eval"), "--model", "dummy", "--include_path", str(REPO / "task_yamls"),
            "--tasks", "tc_gsm8k_256", "--limit", "4", "--output_path", str(out),
        ]
    )  # fmt: skip
    results = _results(out)["results"]["tc_gsm8k_256"]
    assert results["missing_rate,answer"] == 1.0
    assert results["valid_rate,answer"] == 0.0
    assert results["pass@1,answer"] == 0.0
    # no valid trace at all: rpass@1 is N/A (not 0) in the table, NaN in the JSON
    assert math.isnan(results["rpass@1,answer"])
    row = next(line for line in proc.stdout.splitlines() if "rpass@1" in line)
    assert "N/A" in row and "0.0000" not in row
    assert "none of 4 responses has a valid trace" in proc.stderr


@pytest.fixture(scope="module")
def task_manager() -> Any:
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_replay for the Python API)

    return TaskManager(include_path=[str(REPO / "task_yamls"), str(FIX / "task_yamls")])


def _evaluate(task_manager: Any, tasks: list[Any], path: Path, limit: int | None = None) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_replay for the Python API)

    return simple_evaluate(
        model="tc_replay",
        model_args=f"path={path}",
        tasks=tasks,
        task_manager=task_manager,
        limit=limit,
    )


def test_simple_evaluate_paper_group(task_manager: Any, tmp_path: Path) -> None:
    both = tmp_path / "gens"
    both.mkdir()
    for name in ("replay_gsm8k.jsonl", "replay_chemistry.jsonl"):
        (both / name).write_text((FIX / name).read_text())
    res = _evaluate(task_manager, ["tc_paper"], both, limit=4)
    gsm = res["results"]["tc_gsm8k_256"]
    chem = res["results"]["tc_chemistry_256"]
    assert gsm["valid_rate,answer"] == 0.5  # docs 0-3: valid, valid, empty, missing
    assert gsm["pass@1,answer"] == 0.75  # right, wrong, right, right
    assert chem["valid_rate,answer"] == 0.5  # valid, valid, missing, truncated
    assert chem["truncated_rate,answer"] == 0.25
    assert chem["pass@1,answer"] == 0.5  # C right, B wrong (gold C), B right, truncated
    assert chem["rpass@1,answer"] == 0.5
    group = res["results"]["tc_paper"]
    assert group["valid_rate,answer"] == pytest.approx(0.5)
    assert group["pass@1,answer"] == pytest.approx((0.75 + 0.5) / 2)  # macro average
    assert group["truncated_rate,answer"] == pytest.approx((0.0 + 0.25) / 2)


def test_stock_task_wrapper_keeps_every_pipeline(task_manager: Any) -> None:
    """gsm8k_tc: lm-eval's own gsm8k YAML (strict-match + flexible-extract), local data."""
    from lm_eval_tracecollapse.harness.task import TraceTask

    task = TraceTask(
        config={
            "task": "gsm8k_tc_local",
            "base_task": "gsm8k",
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {"test": str(FIX / "gsm8k_local.jsonl")}},
            "test_split": "test",
            "fewshot_split": "test",
            "num_fewshot": 0,
        }
    )
    assert [f.name for f in task._filters] == ["strict-match", "flexible-extract"]
    res = _evaluate(task_manager, [task], FIX / "replay_gsm8k_local.jsonl")
    r = res["results"]["gsm8k_tc_local"]
    for pipe in ("strict-match", "flexible-extract"):
        assert r[f"valid_rate,{pipe}"] == pytest.approx(1 / 3)
        assert r[f"empty_rate,{pipe}"] == pytest.approx(1 / 3)
        assert r[f"missing_rate,{pipe}"] == pytest.approx(1 / 3)
        # the '#### 40' inside doc 0's reasoning is ignored: 42 and 7 are right, 5 is wrong
        assert r[f"exact_match,{pipe}"] == pytest.approx(2 / 3)
        assert r[f"pass@1,{pipe}"] == pytest.approx(2 / 3)
        assert r[f"rpass@1,{pipe}"] == 1.0


def test_stock_wrappers_resolve(task_manager: Any) -> None:
    names = set(task_manager.all_tasks)
    for name in ("gsm8k_tc", "gsm8k_cot_tc", "minerva_math500_tc", "gpqa_diamond_cot_zeroshot_tc", "aime_tc"):
        assert name in names
    from lm_eval_tracecollapse.harness.task import find_task_yaml, wrap_config

    cfg = wrap_config({"task": "gsm8k_cot_tc", "base_task": "gsm8k_cot"})
    assert cfg["task"] == "gsm8k_cot_tc" and cfg["doc_to_text"]
    assert all(p["filter"][0]["function"] == "trace_status" for p in cfg["filter_list"])
    # the code wrappers swap the stock scorer (HF evaluate's code_eval) for our sandbox
    from lm_eval.tasks._yaml_loader import load_yaml

    for name, base in (("humaneval_tc", "humaneval"), ("mbpp_tc", "mbpp")):
        cfg = wrap_config(load_yaml(REPO / "task_yamls" / "wrappers" / f"{name}.yaml", resolve_func=True))
        [pipe] = cfg["filter_list"]
        assert pipe["filter"][0]["then"][0]["function"] == "code_exec"
        assert cfg["doc_to_target"] == "pass" and cfg["generation_kwargs"]["until"] == []
        assert cfg["dataset_path"] == load_yaml(find_task_yaml(base), resolve_func=False)["dataset_path"]


def test_users_own_yaml(task_manager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the fixture YAML names its data file relative to the repository
    res = _evaluate(task_manager, ["manual_tc"], FIX / "replay_gsm8k_local.jsonl")
    r = res["results"]["manual_tc"]
    assert r["valid_rate,strict-match"] == pytest.approx(1 / 3)
    assert r["missing_rate,strict-match"] == pytest.approx(1 / 3)
    assert r["pass@1,strict-match"] == pytest.approx(2 / 3)
    assert r["rpass@1,strict-match"] == 1.0
    assert res["higher_is_better"]["manual_tc"]["missing_rate"] is False


def test_replay_reports_unmatched_requests(task_manager: Any, tmp_path: Path) -> None:
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join((FIX / "replay_gsm8k.jsonl").read_text().splitlines()[:2]) + "\n")
    with pytest.raises(ValueError, match=r"tc_replay: 2 of 4 requests have no saved generation.*doc_id=2"):
        _evaluate(task_manager, ["tc_gsm8k_256"], partial, limit=4)


def _tiny_llama(path: Path) -> None:
    """A random 2-layer Llama with a word-level tokenizer, saved like a hub checkpoint."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "<think>", "</think>", *"0123456789", "the", "answer", "is", "Question", ":"]
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(path)


def test_tiny_hf_model_through_bare_lm_eval(tmp_path: Path) -> None:
    """lm-eval's hf model, with its ``think_end_token`` set: the traced task says, when it is
    built (before generation), that lm-eval cuts the trace off and which setting to drop."""
    model_dir = tmp_path / "tiny"
    _tiny_llama(model_dir)
    out = tmp_path / "out"
    proc = _run(
        [
            str(BIN / "lm_eval"), "--model", "hf", "--model_args",
            f"pretrained={model_dir},dtype=float32,think_end_token=</think>",
            "--include_path", str(REPO / "task_yamls"), "--tasks", "tc_gsm8k_256", "--limit", "3",
            "--gen_kwargs", "max_gen_toks=6", "--device", "cpu", "--output_path", str(out), "--log_samples",
        ]
    )  # fmt: skip
    said = proc.stderr.find("model_args think_end_token='</think>' makes lm-eval cut each response")
    assert 0 <= said < proc.stderr.index("Running generate_until requests"), proc.stderr[-3000:]
    assert proc.stderr.count("makes lm-eval cut each response") == 1
    assert "Drop think_end_token from --model_args" in proc.stderr
    r = _results(out)["results"]["tc_gsm8k_256"]
    rates = [r[f"{s}_rate,answer"] for s in ("valid", "empty", "missing", "truncated")]
    assert sum(rates) == pytest.approx(1.0)
    (samples,) = out.glob("*/samples_*.jsonl")
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    assert len(lines) == 3 and all(isinstance(x["resps"][0][0], str) for x in lines)


def test_wrapping_a_users_own_task(task_manager: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(REPO)
    # two tasks in one run: each saved line names its task (a doc_id alone is ambiguous)
    saved = [json.loads(x) for x in (FIX / "replay_gsm8k_local.jsonl").read_text().splitlines()]
    gens = tmp_path / "gens.jsonl"
    lines = [json.dumps({**x, "task": t}) + "\n" for t in ("plain_task", "plain_task_tc") for x in saved]
    gens.write_text("".join(lines))
    res = _evaluate(task_manager, ["plain_task", "plain_task_tc"], gens)
    plain, traced = res["results"]["plain_task"], res["results"]["plain_task_tc"]
    # the stock pipeline reads '#### 40' inside doc 0's reasoning; the traced one does not
    assert plain["exact_match,strict-match"] == pytest.approx(1 / 3)
    assert traced["exact_match,strict-match"] == pytest.approx(2 / 3)
    assert traced["valid_rate,strict-match"] == pytest.approx(1 / 3)
    assert "valid_rate,strict-match" not in plain


def test_code_task_runs_answers_in_the_sandbox() -> None:
    """tc_evalplus on a user-supplied file (the paper's evalplus_256 shape)."""
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(REPO / "task_yamls"), metadata={"data_file": str(FIX / "evalplus_small.jsonl")})
    res = _evaluate(tm, ["tc_evalplus"], FIX / "replay_evalplus_small.jsonl")
    r = res["results"]["tc_evalplus"]
    # add: right; is_even: wrong; rev: right without a trace; loop: timeout (wrong)
    assert r["pass@1,answer"] == 0.5
    assert r["valid_rate,answer"] == 0.75 and r["missing_rate,answer"] == 0.25
    assert r["rpass@1,answer"] == pytest.approx(1 / 3)
    assert res["samples"]["tc_evalplus"][3]["filtered_resps"] == ["timeout"]
    assert r["code_timeout,answer"] == 0.25  # counted and reported, not hidden


def test_code_task_without_a_file_says_what_to_do(task_manager: Any) -> None:
    with pytest.raises(ValueError, match="tc_evalplus needs your JSONL file"):
        _evaluate(task_manager, ["tc_evalplus"], FIX / "replay_evalplus_small.jsonl")
