"""Live: vLLM's CPU build serving checkpoints trained here, read by ``tc_chat_api``, equals ``hf``.

Two tiny checkpoints are trained in the test (the demo's recipe at test size): a base that
writes ``<think>…</think>`` traces, and a collapsed one (answer-only SFT from it: no
trace).  Each is evaluated on ``tc_demo_easy`` through ``tracecollapse eval`` twice: with
lm-eval's ``hf`` model, and with ``tc_chat_api`` against ``vllm serve`` (vLLM 0.32.0's CPU
build, ``make engines-vllm``, which ``make test`` builds) running the ``deepseek_r1``
reasoning parser.  Per document the trace status and the grade must be the same (the
confusion matrix is printed).  The collapsed checkpoint is the case issue 30 found read
as 100 % truncated with pass@1 0.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from testenv import REPO, run_tracecollapse, sample_status, train_tiny_base

sys.path.insert(0, str(REPO / "tests" / "engines"))
from serve import vllm_bin, vllm_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(vllm_bin()).exists(), reason="no .venv-vllm: `make engines-vllm` (make test builds it)"
    ),
]
N = 40  # tc_demo_easy items


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lm_eval_tracecollapse.demo.data import train_items
    from lm_eval_tracecollapse.demo.pipeline import _chats, _train
    from lm_eval_tracecollapse.masking import tokenize_with_masks

    root = tmp_path_factory.mktemp("engines")
    model, tok = train_tiny_base(root / "base", heads=2)  # head_dim 32: vLLM's CPU attention needs >= 32
    items = train_items(1000, seed=1, hard_share=0.0)
    rows = tokenize_with_masks(_chats(items, "none"), tok, mode="prompt", insert_empty_trace=False)
    _train(model, rows, tok, steps=80, lr=1e-3, batch=32, desc="answer-only SFT")
    model.save_pretrained(root / "collapsed")
    tok.save_pretrained(root / "collapsed")
    return {"base": root / "base", "collapsed": root / "collapsed"}


def _statuses(out: Path) -> dict[int, tuple[str, float]]:
    (samples,) = out.glob("*/samples_tc_demo_easy_*.jsonl")
    res = {}
    for line in samples.read_text().splitlines():
        s = json.loads(line)
        res[s["doc_id"]] = (sample_status(s), s["exact_match"])
    return res


def _eval(tmp: Path, name: str, model: str, model_args: str) -> dict[int, tuple[str, float]]:
    out = tmp / name
    proc = run_tracecollapse(
        ["tracecollapse", "eval", "--model", model, "--model_args", model_args, "--tasks", "tc_demo_easy",
         "--metadata", json.dumps({"n": N}), "--apply_chat_template", "--log_samples", "--output_path", str(out)],
        tmp,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return _statuses(out)


@pytest.mark.parametrize("checkpoint", ["base", "collapsed"])
def test_vllm_server_with_a_reasoning_parser_reads_as_hf(
    checkpoints: dict[str, Path], checkpoint: str, tmp_path: Path
) -> None:
    path = checkpoints[checkpoint]
    hf = _eval(tmp_path, "hf", "hf", f"pretrained={path},dtype=float32")
    with vllm_server(path, reasoning_parser="deepseek_r1", served_model_name="tiny") as server:
        args: dict[str, Any] = {"model": "tiny", "base_url": server.chat_url, "reasoning_parser": "deepseek_r1",
                                "num_concurrent": 1, "max_retries": 3}  # fmt: skip
        served = _eval(tmp_path, "vllm", "tc_chat_api", ",".join(f"{k}={v}" for k, v in args.items()))
    matrix = Counter((hf[d][0], served[d][0]) for d in hf)
    grades = sum(hf[d][1] == served[d][1] for d in hf)
    print(f"\n{checkpoint}: hf status -> vLLM deepseek_r1 status {dict(matrix)}; same grade {grades}/{len(hf)}")
    assert len(hf) == len(served) == N
    assert all(a == b for a, b in matrix), f"off the diagonal: {dict(matrix)}"
    assert grades == N
    expected = "valid" if checkpoint == "base" else "missing"
    assert matrix[(expected, expected)] >= N // 2  # the checkpoints are what they claim to be
