"""Replies captured from real serving engines read as the same text read from ``hf``.

``tests/fixtures/engines/`` holds what vLLM 0.32.0 (CPU build) returned for the 100
``tc_demo_easy`` prompts on the demo's five checkpoints, with its ``deepseek_r1`` and
``qwen3`` reasoning parsers and without one (``tests/engines/capture_vllm.py``), and
lm-eval's ``hf`` samples of the same checkpoints.  Each captured choice is read the way
``tc_chat_api`` reads it (:class:`~lm_eval_tracecollapse.harness.models._split.SplitReader`,
asking a loopback stand-in of the same server for ``/tokenize`` and ``/detokenize`` with
the answers it gave), then parsed; per checkpoint × parser the statuses and correctness
must equal ``hf``'s doc by doc (the confusion matrix is printed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from testenv import loopback, sample_status

from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.harness.models._split import SplitReader

ENGINES = Path(__file__).parent / "fixtures" / "engines"
CHECKPOINTS = ["base", "sft_answer_only", "sft_empty_think", "mask_empty_think", "mask_real_trace"]
PARSERS = ["deepseek_r1", "qwen3", "none"]


def _hf(checkpoint: str) -> dict[int, tuple[str, str]]:
    """doc_id -> (status, generated text) of the hf run."""
    out = {}
    for line in (ENGINES / "hf" / checkpoint / "samples_tc_demo_easy.jsonl").read_text().splitlines():
        s = json.loads(line)
        out[s["doc_id"]] = (sample_status(s), s["resps"][0][0])
    return out


class _Server(BaseHTTPRequestHandler):
    """The captured server's /tokenize (the opening marker's ids) and the prompt it renders."""

    open_ids: ClassVar[list[int]] = []
    prompt: ClassVar[str] = "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/tokenize" and "messages" in payload:
            body: dict[str, Any] = {"tokens": [1, 2, 3], "count": 3}
        elif self.path == "/tokenize":
            body = {"tokens": self.open_ids, "count": len(self.open_ids)}
        elif self.path == "/detokenize":
            body = {"prompt": self.prompt}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback(_Server) as root:
        yield f"{root}/v1/chat/completions"


def _open_ids(checkpoint: str, parser: str) -> list[int]:
    path = ENGINES / "vllm" / f"{checkpoint}__{parser}.tokenize.json"
    if not path.is_file():
        return []
    for call in json.loads(path.read_text())["calls"]:
        if call["request"]["prompt"] == "<think>":
            return [int(i) for i in call["response"]["tokens"]]
    return []


def _replay(
    path: Path, reader: SplitReader, hf: dict[int, tuple[str, str]]
) -> tuple[Counter[tuple[str, str]], int, int]:
    """(hf status -> served status counts, replies with hf's text, replies with hf's answer)."""
    matrix: Counter[tuple[str, str]] = Counter()
    same_text = same_answer = 0
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        choice, msg = rec["choice"], rec["choice"]["message"]
        reasoning = msg.get("reasoning_content") if msg.get("reasoning_content") is not None else msg.get("reasoning")
        text = reader.read(choice, reasoning, msg.get("content"), choice.get("finish_reason"))
        status, hf_text = hf[rec["doc_id"]]
        served = parse_trace(text, fmt="think", finish_reason=choice.get("finish_reason"))
        matrix[(status, served.status.value)] += 1
        same_text += text == hf_text
        same_answer += (served.answer or "").strip() == (parse_trace(hf_text, fmt="think").answer or "").strip()
    return matrix, same_text, same_answer


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_served_replies_read_as_hf(server: str, checkpoint: str, parser: str) -> None:
    _Server.open_ids = _open_ids(checkpoint, parser)
    reader = SplitReader(server, checkpoint, None, "think", None if parser == "none" else parser, None)
    hf = _hf(checkpoint)
    matrix, same_text, _ = _replay(ENGINES / "vllm" / f"{checkpoint}__{parser}.jsonl", reader, hf)
    print(f"\n{checkpoint} x vLLM {parser}: hf status -> served status: {dict(matrix)}; same text {same_text}/100")
    assert sum(matrix.values()) == len(hf) == 100
    assert all(a == b for a, b in matrix), f"off the diagonal: {dict(matrix)}"
    assert same_text == 100  # the text hf generated, so every grade is the same too


#: llama.cpp's llama-server runs (``tests/engines/llamacpp.py``): ``--reasoning-format``
#: none / deepseek / auto with the checkpoints' own ChatML template (which never mentions
#: reasoning: llama.cpp splits nothing) and with a ChatML template that renders
#: ``reasoning_content`` (``think-template``: llama.cpp splits)
LLAMACPP_RUNS = ["none", "deepseek", "auto", "none__think-template", "deepseek__think-template",
                 "auto__think-template", "llama-cpp-python__repeat-penalty-1"]  # fmt: skip
#: what the server's split loses, so no reading can give hf's status back: llama.cpp drops an
#: empty ``<think></think>`` block from a reply (no reasoning_content key), leaving the answer
#: (these captures hold no ``logprobs``; tc_chat_api asks for them and gets the block back:
#: tests/test_engines_live.py)
LLAMACPP_LOST = {("sft_empty_think", "deepseek__think-template"), ("sft_empty_think", "auto__think-template")}


@pytest.mark.parametrize("run", LLAMACPP_RUNS)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_llamacpp_replies_read_as_hf(server: str, checkpoint: str, run: str) -> None:
    reader = SplitReader(server, checkpoint, None, "think", run.split("__")[0], None)
    matrix, _, same_answer = _replay(ENGINES / "llamacpp" / f"{checkpoint}__{run}.jsonl", reader, _hf(checkpoint))
    print(
        f"\n{checkpoint} x llama.cpp {run}: hf status -> served status: {dict(matrix)}; same answer {same_answer}/100"
    )
    assert sum(matrix.values()) == 100 and same_answer == 100  # the same answers: the same grades
    if (checkpoint, run) in LLAMACPP_LOST:
        assert dict(matrix) == {("empty", "missing"): 100}
    else:
        assert all(a == b for a, b in matrix), f"off the diagonal: {dict(matrix)}"


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_offline_vllm_samples_equal_hf(checkpoint: str) -> None:
    """lm-eval's offline ``vllm`` model on the same checkpoint: the same text, doc by doc,
    so the same statuses (as lm-eval scored them) and grades."""
    hf = _hf(checkpoint)
    matrix: Counter[tuple[str, str]] = Counter()
    same_text = 0
    for line in (ENGINES / "vllm" / "offline" / checkpoint / "samples_tc_demo_easy.jsonl").read_text().splitlines():
        s = json.loads(line)
        matrix[(hf[s["doc_id"]][0], sample_status(s))] += 1
        same_text += s["resps"][0][0] == hf[s["doc_id"]][1]
    print(f"\n{checkpoint} x vLLM offline: hf status -> vllm status: {dict(matrix)}; same text {same_text}/100")
    assert sum(matrix.values()) == 100 and same_text == 100
    assert all(a == b for a, b in matrix)
