"""Live: real engines serving checkpoints trained here give, per document, ``hf``'s status and grade.

Four tiny checkpoints are trained in the test (the demo's recipe at test size, head_dim 32
for vLLM's CPU attention): ``base`` writes ``<think>…</think>`` traces; from it,
``answer_only`` (SFT on answers alone: the collapse, no trace), ``empty_think`` (SFT on
``<think></think>answer``) and ``masked`` (the traces in the SFT data, masked out of the
loss: the trace is kept).  Each is evaluated on ``tc_demo_easy`` (40 items, chat template,
greedy) through lm-eval's ``simple_evaluate`` with its ``hf`` model, the reference, and with:

- ``tc_chat_api`` against ``vllm serve`` (vLLM 0.32.0's CPU build, ``make engines-vllm``)
  with ``--reasoning-parser deepseek_r1`` (every checkpoint) and ``qwen3`` (the collapsed
  one, where the parsers' handling of a reply that never closes a trace matters);
- lm-eval's offline ``vllm`` model (``.venv-vllm``, one process for the four checkpoints);
- ``tc_chat_api`` against llama.cpp's ``llama-server --reasoning-format deepseek`` with a
  template that renders ``reasoning_content`` (``make engines-llamacpp``), the GGUF made by
  llama.cpp's own converter; and ``--reasoning-format none`` on the empty-trace checkpoint.

Per document status and grade must equal ``hf``'s (the confusion matrix and pass@1/rpass@1
are printed): all on the diagonal.  llama.cpp's ``deepseek`` format drops an empty
``<think></think>`` block from the reply; ``tc_chat_api`` asks for the reply's tokens
(``logprobs``) and gives it back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from testenv import REPO, offline_env, train_tiny_base

sys.path.insert(0, str(REPO / "tests" / "engines"))
import llamacpp
from evaluate import Reading, evaluate
from serve import CPU_ENV, vllm_bin, vllm_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(vllm_bin()).exists(), reason="no .venv-vllm: `make engines-vllm` (make test builds it)"
    ),
]
N = 40  # tc_demo_easy items
#: arm -> (trace in the SFT data, tokenize_with_masks mode, insert an empty block), as the study's
#: default / empty / respond-with-traces strategies make them; the hf status each must show
ARMS = {
    "answer_only": ("none", "prompt", False, "missing"),
    "empty_think": ("none", "prompt", True, "empty"),
    "masked": ("full", "prompt+think", True, "valid"),
}
EXPECTED = {"base": "valid", **{arm: spec[3] for arm, spec in ARMS.items()}}


class Offline(NamedTuple):
    """The offline vLLM run in the background: its process, and the folder it writes ``out.json`` to."""

    proc: subprocess.Popen[bytes]
    folder: Path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import AutoModelForCausalLM

    from lm_eval_tracecollapse.builtin.data import train_items
    from lm_eval_tracecollapse.builtin.recipe import chats, train
    from lm_eval_tracecollapse.training.masking import tokenize_with_masks

    root = tmp_path_factory.mktemp("engines")
    _, tok = train_tiny_base(root / "base", heads=2)  # head_dim 32: vLLM's CPU attention needs >= 32
    items = train_items(1000, seed=1, hard_share=0.0)
    for arm, (trace, mode, insert_empty, _) in ARMS.items():
        model = AutoModelForCausalLM.from_pretrained(root / "base")
        rows = tokenize_with_masks(chats(items, trace), tok, mode=mode, insert_empty_trace=insert_empty)
        train(model, rows, tok, steps=80, lr=1e-3, batch=32, desc=arm)
        model.save_pretrained(root / arm)
        tok.save_pretrained(root / arm)
    return {name: root / name for name in EXPECTED}


@pytest.fixture(scope="module")
def vllm_offline(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    """lm-eval's own offline ``vllm`` model (it keeps the trace in the text) on the four checkpoints,
    in one process of ``.venv-vllm`` started as soon as they exist: it runs beside the reference and
    the served engines (its engine takes one core of two), and its test reads what it wrote."""
    jobs = [{"name": name, "model": "vllm", "batch_size": "auto", "n": N,
             "model_args": f"pretrained={path},dtype=float32,max_model_len=512,enforce_eager=True,max_num_seqs=16"}
            for name, path in checkpoints.items()]  # fmt: skip
    folder = tmp_path_factory.mktemp("vllm_offline")
    (folder / "jobs.json").write_text(json.dumps(jobs))
    python = Path(vllm_bin()).parent / "python"
    # not TQDM_DISABLE: vLLM 0.32's offline generate divides by its bar's elapsed time, 0 when off
    env = {k: v for k, v in offline_env(**CPU_ENV).items() if k != "TQDM_DISABLE"}
    with open(folder / "log.txt", "wb") as log:
        proc = subprocess.Popen(
            [str(python), str(REPO / "tests" / "engines" / "evaluate.py"), "jobs.json", "out.json"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield Offline(proc, folder)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def hf(checkpoints: dict[str, Path], vllm_offline: Offline) -> dict[str, Reading]:
    """lm-eval's ``hf`` model on each checkpoint: the reference; each checkpoint is what it claims
    (the offline vLLM run is started first, so it overlaps this)."""
    out = {name: evaluate("hf", f"pretrained={path},dtype=float32", N, batch_size=64, device="cpu")
           for name, path in checkpoints.items()}  # fmt: skip
    for name, reading in out.items():
        statuses = Counter(s for s, _ in reading.values())
        assert statuses[EXPECTED[name]] >= N // 2, f"{name} is not what it claims: {dict(statuses)}"
    return out


def _compare(label: str, ref: Reading, got: Reading) -> None:
    """Print the status confusion matrix (hf -> engine) with pass@1/rpass@1 of each; assert every
    grade and status equal."""
    assert len(got) == len(ref) == N, (len(ref), len(got))
    matrix = Counter((ref[d][0], got[d][0]) for d in ref)

    def rates(r: Reading) -> str:
        valid = [g for s, g in r.values() if s == "valid"]
        rpass = f"{sum(valid) / len(valid):.3f}" if valid else "n/a"
        return f"pass@1 {sum(g for _, g in r.values()) / len(r):.3f} rpass@1 {rpass}"

    grades = sum(ref[d][1] == got[d][1] for d in ref)
    print(
        f"\n{label}: hf -> engine status {dict(matrix)}; same grade {grades}/{N}; hf {rates(ref)}; engine {rates(got)}"
    )
    assert grades == N
    assert all(a == b for a, b in matrix), f"off the diagonal: {dict(matrix)}"


SERVED = [("base", "deepseek_r1"), ("answer_only", "deepseek_r1"), ("answer_only", "qwen3"),
          ("empty_think", "deepseek_r1"), ("masked", "deepseek_r1")]  # fmt: skip


@pytest.mark.parametrize(("checkpoint", "parser"), SERVED)
def test_vllm_server_with_a_reasoning_parser_reads_as_hf(
    checkpoints: dict[str, Path], hf: dict[str, Reading], checkpoint: str, parser: str
) -> None:
    with vllm_server(checkpoints[checkpoint], reasoning_parser=parser, served_model_name="tiny") as server:
        # several requests at once: the server batches them (as the offline engine does, max-num-seqs 16)
        args = f"model=tiny,base_url={server.chat_url},reasoning_parser={parser},num_concurrent=8,max_retries=3"
        served = evaluate("tc_chat_api", args, N)
    _compare(f"{checkpoint} x vllm serve --reasoning-parser {parser}", hf[checkpoint], served)


def test_vllm_offline_reads_as_hf(checkpoints: dict[str, Path], hf: dict[str, Reading], vllm_offline: Offline) -> None:
    """lm-eval's own offline ``vllm`` model (it keeps the trace in the text): one process, four engines."""
    proc, folder = vllm_offline
    rc = proc.wait(timeout=900)
    assert rc == 0, (folder / "log.txt").read_text(errors="replace")[-6000:]
    out = json.loads((folder / "out.json").read_text())
    for name in checkpoints:
        offline = {int(d): (s, g) for d, (s, g) in out[name].items()}
        _compare(f"{name} x vllm offline (lm-eval's vllm model)", hf[name], offline)


LLAMACPP = [("base", "deepseek"), ("answer_only", "deepseek"), ("empty_think", "deepseek"),
            ("empty_think", "none"), ("masked", "deepseek")]  # fmt: skip


@pytest.mark.skipif(not llamacpp.LLAMA_SERVER.exists(), reason="no llama-server: `make engines-llamacpp`")
@pytest.mark.parametrize(("checkpoint", "fmt"), LLAMACPP)
def test_llamacpp_server_reads_as_hf(
    checkpoints: dict[str, Path], hf: dict[str, Reading], checkpoint: str, fmt: str
) -> None:
    gguf = llamacpp.convert(checkpoints[checkpoint], checkpoints[checkpoint] / "model-f32.gguf")
    with llamacpp.serve(gguf, fmt, chat_template=llamacpp.THINK_TEMPLATE) as server:
        args = f"model=tiny,base_url={server.url}/v1/chat/completions,reasoning_parser={fmt},max_retries=3"
        served = evaluate("tc_chat_api", args, N)
    _compare(f"{checkpoint} x llama-server --reasoning-format {fmt}", hf[checkpoint], served)
