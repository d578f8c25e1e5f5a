"""tc_chat_api / tc_completions_api against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from testenv import REPO, loopback, offline_env

from lm_eval_tracecollapse.harness.models.api import rebuild_text

BIN = Path(sys.executable).parent

# style -> chat message and finish_reason the server sends
CHAT = {
    "split": ({"content": "The answer is 4.", "reasoning_content": "2+2=4"}, "stop"),
    "inline": ({"content": "<think>2+2=4</think>The answer is 4."}, "stop"),
    "length": ({"content": None, "reasoning_content": "Let me add 2 and"}, "length"),
    "length_closed": ({"content": "", "reasoning": "Let me add 2 and"}, "length"),
    "null": ({"content": None}, "stop"),
    "retry500": ({"content": "The answer is 4.", "reasoning_content": "2 plus 2"}, "stop"),
    "malformed_once": ({"content": "The answer is 4.", "reasoning": "two and two"}, "stop"),
    "plain": ({"content": "The answer is 4."}, "stop"),
}


#: style -> the reasoning-token count the server reports in usage (styles with a trace)
SERVED_TOKENS = {"split": 5, "inline": 7, "length": 9, "length_closed": 11, "retry500": 13, "malformed_once": 15}


class _Handler(BaseHTTPRequestHandler):
    calls: ClassVar[Counter[str]] = Counter()
    payloads: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.payloads.append(payload)
        if self.path.endswith("/chat/completions"):
            prompt = payload["messages"][-1]["content"]
        else:
            prompt = payload["prompt"] if isinstance(payload["prompt"], str) else payload["prompt"][0]
        style = prompt.split("STYLE=")[1].split()[0]
        _Handler.calls[style] += 1
        if style == "retry500" and _Handler.calls[style] == 1:
            return self._send(500, b'{"error": "overloaded"}')
        if style == "malformed_once" and _Handler.calls[style] == 1:
            return self._send(200, b'{"choices": [ this is not json')
        if self.path.endswith("/chat/completions"):
            message, finish = CHAT[style]
            choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        else:
            text, finish = ("<think>2+2=4</think>The answer is 4.", "stop") if style == "inline" else \
                ("<think>Let me add 2 and", "length")  # fmt: skip
            choice = {"index": 0, "text": text, "finish_reason": finish}
        reply: dict[str, Any] = {"id": "x", "object": "chat.completion", "choices": [choice]}
        if style in SERVED_TOKENS:  # as vLLM 0.34 / SGLang / OpenAI report it
            reply["usage"] = {"completion_tokens_details": {"reasoning_tokens": SERVED_TOKENS[style]}}
        return self._send(200, json.dumps(reply).encode())


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.calls = Counter()
    _Handler.payloads = []
    with loopback(_Handler) as root:
        yield f"{root}/v1"


def _eval(
    tmp_path: Path, model: str, model_args: str, extra: list[str], stderr: list[str] | None = None
) -> dict[str, Any]:
    out = tmp_path / "out"
    env = offline_env()
    proc = subprocess.run(
        [str(BIN / "tracecollapse"), "eval", "--model", model, "--model_args", model_args,
         "--include_path", str(REPO / "tests" / "fixtures" / "task_yamls"), "--tasks", "api_styles",
         "--output_path", str(out), "--log_samples", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    if stderr is not None:
        stderr.append(proc.stderr)
    (results,) = out.glob("*/results_*.json")
    (samples,) = out.glob("*/samples_api_styles_*.jsonl")
    return {
        "results": json.loads(results.read_text())["results"]["api_styles"],
        "samples": {json.loads(x)["doc_id"]: json.loads(x) for x in samples.read_text().splitlines()},
    }


@pytest.mark.slow
def test_chat_api_keeps_server_side_reasoning(server: str, tmp_path: Path) -> None:
    res = _eval(
        tmp_path, "tc_chat_api", f"base_url={server}/chat/completions,model=test,max_retries=3,num_concurrent=1",
        ["--apply_chat_template"],
    )  # fmt: skip
    r = res["results"]
    # split, inline, retry500, malformed_once: valid; length, length_closed: truncated; null, plain: missing
    assert r["valid_rate,answer"] == 0.5
    assert r["truncated_rate,answer"] == 0.25
    assert r["missing_rate,answer"] == 0.25
    assert r["pass@1,answer"] == 5 / 8 and r["rpass@1,answer"] == 1.0
    assert res["samples"][0]["resps"][0][0] == "<think>2+2=4</think>The answer is 4."
    assert res["samples"][3]["resps"][0][0] == "<think>Let me add 2 and"  # closed by the server, still truncated
    assert _Handler.calls["retry500"] == 2 and _Handler.calls["malformed_once"] == 2  # lm-eval's retries


@pytest.mark.slow
def test_chat_api_uses_the_servers_reasoning_token_count(server: str, tmp_path: Path) -> None:
    """usage.completion_tokens_details.reasoning_tokens becomes trace_length_tokens (exact, no
    tokenizer), and reasoning_effort / thinking_token_budget reach the server and the samples."""
    res = _eval(
        tmp_path, "tc_chat_api", f"base_url={server}/chat/completions,model=test,max_retries=3,num_concurrent=1",
        ["--apply_chat_template", "--gen_kwargs", "reasoning_effort=high,thinking_token_budget=64"],
    )  # fmt: skip
    # the six styles with a trace (valid or truncated), each once: their mean count
    assert res["results"]["trace_length_tokens,answer"] == sum(SERVED_TOKENS.values()) / len(SERVED_TOKENS)
    assert res["samples"][0]["trace_length_tokens"] == SERVED_TOKENS["split"]
    assert all(p["reasoning_effort"] == "high" and p["thinking_token_budget"] == 64 for p in _Handler.payloads)
    assert res["samples"][0]["arguments"]["gen_args_0"]["arg_1"]["reasoning_effort"] == "high"


@pytest.mark.slow
def test_completions_api_passes_raw_text_and_finish_reason(server: str, tmp_path: Path) -> None:
    res = _eval(
        tmp_path, "tc_completions_api",
        f"base_url={server}/completions,model=test,tokenized_requests=False,tokenizer_backend=None,max_retries=3",
        [],
    )  # fmt: skip
    r = res["results"]
    assert res["samples"][1]["resps"][0][0] == "<think>2+2=4</think>The answer is 4."  # untouched
    # inline is valid; every other style gets an unclosed trace cut by the length limit
    assert r["valid_rate,answer"] == 1 / 8 and r["truncated_rate,answer"] == 7 / 8


def test_rebuild_text() -> None:
    assert rebuild_text(None, "4", "stop") == "4"
    assert rebuild_text(None, None, "stop") == ""
    assert rebuild_text("r", "4", "length") == "<think>r</think>4"  # closed trace, answer cut: still closed
    assert rebuild_text("r", "", "length") == "<think>r"
    assert rebuild_text("r", "4", "stop", "think_bracket") == "[THINK]r[/THINK]4"
    with pytest.raises(ValueError, match="unknown reasoning format"):
        rebuild_text("r", "4", "stop", "nope")


@pytest.mark.slow
def test_stock_chat_model_is_warned_before_it_loses_the_trace(server: str, tmp_path: Path) -> None:
    """lm-eval's local-chat-completions reads content only: the run is warned before it starts."""
    err: list[str] = []
    res = _eval(
        tmp_path, "local-chat-completions",
        f"base_url={server}/chat/completions,model=test,max_retries=3,num_concurrent=1", ["--apply_chat_template"], err,
    )  # fmt: skip
    warned = err[0].split("tracecollapse eval: warning: ")
    assert len(warned) == 2 and warned[1].startswith("local-chat-completions drops the reasoning field")
    assert "--model tc_chat_api" in warned[1] and err[0].index("warning") < err[0].index("Building contexts")
    assert res["results"]["missing_rate,answer"] > 0.5  # what the warning is about: split traces read as none


def test_rebuild_text_by_parser_and_prefill() -> None:
    """vLLM's deepseek_r1 files a reply without </think> as reasoning (content null): after a
    prompt that opens the trace that is an unclosed trace, else a reply with no trace."""
    reply = "The answer is 4."
    assert rebuild_text(reply, None, "stop", parser="deepseek_r1", prefilled=False) == reply  # missing, as hf
    assert rebuild_text(reply, None, "stop", parser="deepseek_r1") == reply  # unknown prompt: read as not opened
    assert rebuild_text(reply, None, "stop", parser="deepseek_r1", prefilled=True) == "<think>" + reply  # truncated
    assert rebuild_text(reply, None, "stop", parser="glm45", prefilled=False) == "<think>" + reply  # another parser
    assert rebuild_text(reply, None, "stop", parser="qwen3", opened=True) == "<think>" + reply  # its ids say opened
    assert rebuild_text("", reply, "stop", parser="deepseek_r1") == "<think></think>" + reply  # empty, not missing
    assert rebuild_text("2+2", None, "length", parser="deepseek_r1") == "<think>2+2"  # cut inside the trace


class _TemplateServer(BaseHTTPRequestHandler):
    """vLLM's /tokenize + /detokenize, or llama.cpp's /apply-template, rendering ``prompt``."""

    prompt: ClassVar[str] = ""
    style: ClassVar[str] = "vllm"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.payloads.append(payload)
        routes = {"vllm": {"/tokenize": {"tokens": [1, 2, 3], "count": 3}, "/detokenize": {"prompt": self.prompt}},
                  "llamacpp": {"/apply-template": {"prompt": self.prompt}}}[self.style]  # fmt: skip
        if self.path not in routes or (self.path == "/tokenize" and not payload.get("add_generation_prompt")):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(routes[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("style", ["vllm", "llamacpp"])
def test_the_server_says_whether_its_prompt_opens_the_trace(style: str) -> None:
    from lm_eval_tracecollapse.harness.models._probe import rendered_prompt

    _TemplateServer.style = style
    _TemplateServer.prompt = "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    with loopback(_TemplateServer) as root:
        assert rendered_prompt(f"{root}/v1/chat/completions", "m") == _TemplateServer.prompt
    assert rendered_prompt("http://127.0.0.1:9/v1/chat/completions", "m", timeout=2) is None  # nothing listens
