"""tc_chat_api / tc_completions_api against a hostile OpenAI-compatible server on loopback.

A server error, a malformed response or a decompression bomb must end the run with one
clear error (after lm-eval's retries where a retry may help), never become a "missing"
trace that scores as collapse, a deep traceback, or memory exhaustion.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from testenv import REPO, loopback, offline_env

FIX = REPO / "tests" / "fixtures"
BIN = Path(sys.executable).parent
ANSWER = "The answer is 4."
ERROR = {"error": {"message": "CUDA out of memory on worker 3", "type": "server_error", "code": 500}}


class _Server(BaseHTTPRequestHandler):
    """Answers every request with the same ``body`` (gzip-encoded when ``gzip`` is set)."""

    body: ClassVar[bytes] = b"{}"
    gzip: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Server.calls += 1
        body = gzip.compress(self.body, compresslevel=9) if self.gzip else self.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    _Server.body, _Server.gzip, _Server.calls = b"{}", False, 0
    with loopback(_Server) as root:
        yield f"{root}/v1"


@pytest.fixture(scope="module")
def task_manager() -> Any:
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_chat_api for the Python API)

    return TaskManager(include_path=str(FIX / "task_yamls"), include_defaults=False)


def _serve(body: Any, *, gz: bool = False) -> None:
    _Server.body = body if isinstance(body, bytes) else json.dumps(body).encode()
    _Server.gzip = gz


def _chat(message: Any = None, **choice: Any) -> dict[str, Any]:
    msg = {"role": "assistant", "content": ANSWER} if message is None else message
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": msg, **choice}]}


def _evaluate(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, extra: str = "", chat: bool = True
) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    monkeypatch.chdir(REPO)  # the task's data_files path is relative to the repository
    if chat:
        model, args = "tc_chat_api", f"base_url={server}/chat/completions,model=test"
    else:
        model = "tc_completions_api"
        args = f"base_url={server}/completions,model=test,tokenized_requests=False,tokenizer_backend=None"
    return simple_evaluate(
        model=model,
        model_args=args + ",max_retries=1" + extra,
        tasks=["api_styles"],
        task_manager=task_manager,
        limit=1,
        apply_chat_template=chat,
        log_samples=True,
    )


def _first(res: dict[str, Any]) -> tuple[dict[str, Any], str]:
    return res["results"]["api_styles"], res["samples"]["api_styles"][0]["resps"][0][0]


# -- the error body: retried, then one clear error naming the server's message --------------


@pytest.mark.slow
def test_cli_error_body_is_retried_then_one_clear_error(server: str, tmp_path: Path) -> None:
    _serve(ERROR)
    proc = subprocess.run(
        [str(BIN / "tracecollapse"), "eval", "--model", "tc_chat_api",
         "--model_args", f"base_url={server}/chat/completions,model=test,max_retries=3",
         "--include_path", str(FIX / "task_yamls"), "--tasks", "api_styles", "--limit", "2",
         "--apply_chat_template", "--output_path", str(tmp_path / "out"), "--log_samples"],
        cwd=REPO, env=offline_env(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert _Server.calls == 3  # lm-eval's own retries (max_retries=3), then the run stops
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tracecollapse eval:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "CUDA out of memory on worker 3" in errors[0] and "after 3 attempt" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").glob("*/results_*.json"))  # no result that reads as collapse


@pytest.mark.slow
@pytest.mark.parametrize("concurrent", [1, 2], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (ERROR, "returned an error: CUDA out of memory on worker 3"),
        ({"error": "rate limited"}, "returned an error: rate limited"),
        (_chat(finish_reason="error", error={"message": "upstream timeout"}), "choice 0: .*error: upstream timeout"),
        ({"id": "x", "choices": None}, "no 'choices'"),
        ({"id": "x", "object": "chat.completion"}, "no 'choices'"),
    ],
    ids=["error_object", "error_string", "choice_error", "choices_null", "choices_absent"],
)
def test_server_error_is_retried_then_fails(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, body: Any, message: str, concurrent: int
) -> None:
    from lm_eval_tracecollapse.harness.models.api import ServerResponseError

    _serve(body)
    with pytest.raises(ServerResponseError, match=message):
        _evaluate(task_manager, server, monkeypatch, f",max_retries=2,num_concurrent={concurrent}")
    assert _Server.calls == 2


# -- malformed shapes: one clear error naming what is wrong ---------------------------------


BAD_SHAPES = {
    "choices_empty": ({"choices": []}, r"'choices' is empty"),
    "choices_string": ({"choices": "The answer is 4."}, r"'choices' is a str, not a list"),
    "choice_string": ({"choices": ["The answer is 4."]}, r"choice 0 is a str, not an object"),
    "message_string": (_chat("The answer is 4."), r"choice 0: 'message' is a str, not an object"),
    "message_absent": ({"choices": [{"index": 0, "finish_reason": "stop"}]}, r"choice 0: 'message' is missing"),
    "index_5": (_chat(index=5), r"choice 0: 'index' 5 is out of range for 1 choice"),
    "index_str": (_chat(index="0"), r"choice 0: 'index' '0' is a str, not an integer"),
    "finish_reason_42": (_chat(finish_reason=42), r"choice 0: 'finish_reason' 42 is a int, not a string or null"),
    "content_dict": (_chat({"content": {"text": ANSWER}}), r"choice 0: 'content' is a dict"),
    "content_image_part": (
        _chat({"content": [{"type": "image_url", "image_url": {"url": "x"}}]}),
        r"choice 0: 'content' part 0 has type 'image_url'",
    ),
    "content_number_part": (_chat({"content": [4]}), r"choice 0: 'content' part 0 is a int"),
    "reasoning_number": (_chat({"content": ANSWER, "reasoning_content": 42}), r"'reasoning_content' is a int"),
    "reasoning_nested": (
        _chat({"content": ANSWER, "reasoning_content": [["step a"]]}),
        r"'reasoning_content' part 0 is a list",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("body", "message"), list(BAD_SHAPES.values()), ids=list(BAD_SHAPES))
def test_malformed_response_is_one_clear_error(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, body: Any, message: str
) -> None:
    from lm_eval_tracecollapse.harness.models.api import ServerResponseError

    _serve(body)
    with pytest.raises(ServerResponseError, match=message):
        _evaluate(task_manager, server, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"index": 0, "text": 42, "finish_reason": "stop"}, r"choice 0: 'text' is a int, not a string or null"),
        ({"index": 0, "text": ANSWER, "finish_reason": 42}, r"choice 0: 'finish_reason' 42 is a int"),
        ({"index": 1, "text": ANSWER, "finish_reason": "stop"}, r"choice 0: 'index' 1 is out of range"),
    ],
    ids=["text_42", "finish_reason_42", "index_1"],
)
def test_completions_malformed_choice(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, choice: Any, message: str
) -> None:
    from lm_eval_tracecollapse.harness.models.api import ServerResponseError

    _serve({"choices": [choice]})
    with pytest.raises(ServerResponseError, match=message):
        _evaluate(task_manager, server, monkeypatch, chat=False)


# -- list-shaped text is joined, not turned into its Python repr ----------------------------


PARTS = [{"type": "text", "text": "The answer "}, {"type": "text", "text": "is 4."}]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"content": ANSWER, "reasoning_content": "2+2=4"}, f"<think>2+2=4</think>{ANSWER}"),
        ({"content": ANSWER, "reasoning_content": ["2+2", "=4"]}, f"<think>2+2=4</think>{ANSWER}"),
        ({"content": PARTS, "reasoning": [{"type": "text", "text": "2+2=4"}]}, f"<think>2+2=4</think>{ANSWER}"),
        ({"content": PARTS}, ANSWER),
    ],
    ids=["plain", "reasoning_strings", "parts_and_reasoning_parts", "content_parts"],
)
def test_good_responses_score(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, message: Any, expected: str
) -> None:
    _serve(_chat({"role": "assistant", **message}, finish_reason="stop"))
    r, resp = _first(_evaluate(task_manager, server, monkeypatch))
    assert resp == expected
    assert r["pass@1,answer"] == 1.0
    assert r["valid_rate,answer"] == (1.0 if "<think>" in expected else 0.0)
    assert r["missing_rate,answer"] == (0.0 if "<think>" in expected else 1.0)


# -- a gzip bomb is bounded by max_response_bytes -------------------------------------------


def _bomb(size: int) -> bytes:
    return json.dumps(_chat({"content": ANSWER, "reasoning_content": "a" * size}, finish_reason="stop")).encode()


@pytest.mark.slow
@pytest.mark.parametrize("concurrent", [1, 2], ids=["sync", "async"])
def test_gzip_bomb_is_refused_over_the_cap(
    task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch, concurrent: int
) -> None:
    from lm_eval_tracecollapse.harness.models.api import ServerResponseError

    _serve(_bomb(4 << 20), gz=True)  # 4 MiB of JSON in about 4 kB of gzip
    with pytest.raises(ServerResponseError, match=r"over max_response_bytes=1000000"):
        _evaluate(task_manager, server, monkeypatch, f",max_response_bytes=1000000,num_concurrent={concurrent}")


@pytest.mark.slow
def test_gzip_body_under_the_cap_is_read(task_manager: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(_bomb(500_000), gz=True)
    r, resp = _first(_evaluate(task_manager, server, monkeypatch, ",max_response_bytes=1000000"))
    assert resp == f"<think>{'a' * 500_000}</think>{ANSWER}"
    assert r["valid_rate,answer"] == 1.0


def test_max_response_bytes_must_be_positive() -> None:
    from lm_eval_tracecollapse.harness.models.api import TraceChatAPI

    with pytest.raises(ValueError, match="max_response_bytes"):
        TraceChatAPI(base_url="http://127.0.0.1:9/v1/chat/completions", model="test", max_response_bytes="0")
