"""Stop sequences let the trace run: a real tiny reasoning model through lm-eval's ``hf``
model with ``--apply_chat_template`` on a task that stops at ``['\\n', '.', ',']``
(triviaqa's and nq_open's stops).  Its traces hold commas (``3+8=11,2+4+1=7``): the
stock task cuts every one of them short; the wrapped task keeps them valid and cuts the
answer part at the stop strings exactly as lm-eval cuts a generation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testenv import offline_env, seeded_cache

from lm_eval_tracecollapse import parse_trace
from lm_eval_tracecollapse.builtin.data import hard_item, response
from lm_eval_tracecollapse.builtin.recipe import chats, train
from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer
from lm_eval_tracecollapse.training.masking import tokenize_with_masks

STOPS = ["\n", ".", ","]
TASK = """task: hard_stops
dataset_path: json
dataset_kwargs:
  data_files: {test: @DATA@}
test_split: test
output_type: generate_until
doc_to_text: "{{question}}"
doc_to_target: "{{answer}}"
generation_kwargs: {until: @STOPS@, do_sample: false, max_gen_toks: 40}
filter_list:
  - name: answer
    filter:
      - {function: regex, regex_pattern: "The answer is (\\\\d+)", fallback: "[invalid]"}
      - {function: take_first}
metric_list:
  - {metric: exact_match, aggregation: mean, higher_is_better: true}
metadata: {version: 1.0}
"""


def _checkpoint(root: Path) -> Path:
    """A tiny Llama trained to write ``<think>a,b</think>The answer is n.`` (about 20 s)."""
    import random

    rng = random.Random(0)
    items = [hard_item(rng.randint(10, 99), rng.randint(10, 99)) for _ in range(600)]
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in items[:200])], vocab_size=280)
    model = build_model(tok, hidden=64)
    rows = tokenize_with_masks(chats(items, "full"), tok, mode="prompt")
    train(model, rows, tok, steps=250, lr=3e-3, batch=32, desc="tiny base")
    path = root / "ckpt"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_hf_model_traces_run_past_the_tasks_stop_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TQDM_DISABLE", "1")
    ckpt = _checkpoint(tmp_path)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "hard.jsonl"
    rng = __import__("random").Random(7)
    data.write_text("".join(json.dumps(hard_item(rng.randint(10, 99), rng.randint(10, 99))) + "\n" for _ in range(12)))
    (tasks / "hard_stops.yaml").write_text(TASK.replace("@DATA@", str(data)).replace("@STOPS@", json.dumps(STOPS)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", "--model", "hf", "--apply_chat_template"]
    cmd += ["--model_args", f"pretrained={ckpt},dtype=float32", "--device", "cpu", "--batch_size", "12"]
    cmd += ["--include_path", str(tasks), "--tasks", "hard_stops,hard_stops_tc", "--log_samples"]
    cmd += ["--output_path", str(out)]
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(tmp_path / "cache"))
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

    def lines(task: str) -> list[dict]:
        [path] = out.rglob(f"samples_{task}_2*.jsonl")  # (dated: hard_stops_tc is not hard_stops)
        return [json.loads(x) for x in path.read_text().splitlines()]

    stock, traced = lines("hard_stops"), lines("hard_stops_tc")
    # the stock task stops at the trace's first comma: nothing is closed
    assert all(parse_trace(x["resps"][0][0]).status.value == "truncated" for x in stock)
    # wrapped: the stop strings are off generation, the traces run to </think>
    statuses = [parse_trace(x["resps"][0][0]).status.value for x in traced]
    assert statuses.count("valid") >= 10, statuses
    assert traced[0]["arguments"]["gen_args_0"]["arg_1"]["until"] == []
    for x in traced:
        trace = parse_trace(x["resps"][0][0])
        if trace.is_valid:
            # the answer part cut at the stop strings as lm-eval cuts a generation
            cut = trace.answer
            for stop in STOPS:
                cut = cut.split(stop, 1)[0]
            want = cut.split("The answer is ", 1)[1] if "The answer is " in cut else "[invalid]"
            assert x["filtered_resps"][0] == want.strip() or want.startswith(x["filtered_resps"][0])
    [res] = out.rglob("results_*.json")
    row = json.loads(res.read_text())["results"]["hard_stops_tc"]
    assert row["valid_rate,answer"] == statuses.count("valid") / len(statuses)
