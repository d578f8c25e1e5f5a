"""Start a real vLLM OpenAI-compatible server on 127.0.0.1 for a checkpoint, and stop it.

For the real-engine tests of issue 30.  The server runs from the engine venv that
``make engines-vllm`` builds (``.venv-vllm``); this module imports nothing from vLLM, so
it loads in any venv (pytest's ``--doctest-modules`` imports it from ``.venv``).

Usage::

    from serve import vllm_server, chat

    with vllm_server("demo_out/builtin/tiny-arith-small", reasoning_parser="deepseek_r1") as srv:
        body = chat(srv, [{"role": "user", "content": "3+8"}], max_tokens=48)
        body["choices"][0]["message"]          # {"content": ..., "reasoning": ..., ...}
        tokenize(srv, "<think>")               # {"count": 1, "max_model_len": 512, "tokens": [280], ...}

The server is started in its own process group (``vllm serve`` forks an engine-core
process), on a free port, with the flags a tiny float32 model needs on a CPU; it is
ready when ``GET /health`` answers 200 and ``GET /v1/models`` lists the model.  A server
that exits or is not ready within ``startup_timeout`` seconds raises
:class:`ServerStartError` with the tail of its log.  On leaving the block the group gets
SIGTERM, then SIGKILL after ``stop_timeout`` seconds.

Example:
    >>> cmd = serve_command("ckpt", port=8123, reasoning_parser="qwen3", vllm="vllm")
    >>> cmd[:6]
    ['vllm', 'serve', 'ckpt', '--host', '127.0.0.1', '--port']
    >>> cmd[cmd.index("--reasoning-parser") + 1]
    'qwen3'
    >>> "--reasoning-parser" in serve_command("ckpt", port=8123, vllm="vllm")
    False
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CPU_ENV",
    "CPU_FLAGS",
    "Server",
    "ServerStartError",
    "chat",
    "free_port",
    "post_json",
    "serve_command",
    "tokenize",
    "vllm_bin",
    "vllm_server",
]

ROOT = Path(__file__).resolve().parents[2]

#: flags for a tiny float32 checkpoint on a CPU: vLLM's CPU backend runs float32 (the demo's
#: weights), a short context keeps the KV cache small, eager mode skips torch.compile's
#: minutes-long warm-up, and 16 sequences at a time are plenty on 2 cores
CPU_FLAGS: tuple[str, ...] = (
    "--dtype",
    "float32",
    "--max-model-len",
    "512",
    "--max-num-seqs",
    "16",
    "--enforce-eager",
)

#: the CPU platform named (vLLM otherwise infers it from "cpu" in its version), the CPU
#: backend's KV cache in GiB (its default is a share of the machine's memory), no thread
#: pinning (the engine core would otherwise claim cores by NUMA node), nothing from a hub
CPU_ENV: dict[str, str] = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


class ServerStartError(RuntimeError):
    """The server exited, or was not ready in time; the message ends with its log's tail."""


@dataclass
class Server:
    """A running server: where it listens and what it serves."""

    model: str  # the served model name (what requests pass as ``model``)
    path: str  # the checkpoint folder
    host: str
    port: int
    reasoning_parser: str | None
    log_path: Path
    startup_s: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def vllm_bin() -> str:
    """The ``vllm`` executable: ``$VLLM_BIN``, else ``.venv-vllm/bin/vllm`` of this repository."""
    return os.environ.get("VLLM_BIN") or str(ROOT / ".venv-vllm" / "bin" / "vllm")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host`` now (another process may take it before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_command(
    path: str,
    *,
    port: int,
    host: str = "127.0.0.1",
    reasoning_parser: str | None = None,
    served_model_name: str | None = None,
    extra_args: Sequence[str] = (),
    vllm: str | None = None,
) -> list[str]:
    """The ``vllm serve`` command line for ``path``."""
    cmd = [vllm or vllm_bin(), "serve", path, "--host", host, "--port", str(port), *CPU_FLAGS]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    if reasoning_parser:
        cmd += ["--reasoning-parser", reasoning_parser]
    return cmd + list(extra_args)


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _ready(server: Server) -> bool:
    try:
        status, _ = _get(f"{server.base_url}/health")
        if status != 200:
            return False
        status, body = _get(f"{server.base_url}/v1/models")
    except (OSError, urllib.error.URLError):
        return False
    if status != 200:
        return False
    return any(m.get("id") == server.model for m in json.loads(body).get("data", []))


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the API server (it shuts its engine core down), then SIGKILL to what is left of its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    # the group we started (the API server's session): an engine core or worker left behind goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def vllm_server(
    path: str | os.PathLike[str],
    *,
    reasoning_parser: str | None = None,
    served_model_name: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 600.0,
    stop_timeout: float = 30.0,
    log_path: str | os.PathLike[str] | None = None,
    vllm: str | None = None,
) -> Iterator[Server]:
    """Serve ``path`` with ``vllm serve`` for the block's duration; yields a :class:`Server`.

    ``served_model_name`` defaults to ``path`` as given (vLLM's own default).  ``env`` is
    added to this process's environment and :data:`CPU_ENV`; ``log_path`` (default: a
    temporary file, kept) receives the server's stdout and stderr.
    """
    path = str(path)
    exe = vllm or vllm_bin()
    if not Path(exe).exists() and os.sep in exe:
        raise ServerStartError(f"no vllm at {exe}: run `make engines-vllm` first")
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="vllm-serve-", suffix=".log")
        os.close(fd)
        log_path = name
    server = Server(
        model=served_model_name or path,
        path=path,
        host=host,
        port=port or free_port(host),
        reasoning_parser=reasoning_parser,
        log_path=Path(log_path),
    )
    cmd = serve_command(
        path,
        port=server.port,
        host=host,
        reasoning_parser=reasoning_parser,
        served_model_name=served_model_name,
        extra_args=extra_args,
        vllm=exe,
    )
    full_env = {**os.environ, **CPU_ENV, **(env or {})}
    start = time.monotonic()
    with open(server.log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    server.process = proc
    try:
        while not _ready(server):
            if proc.poll() is not None:
                raise ServerStartError(
                    f"vllm serve exited with {proc.returncode} before it was ready "
                    f"({' '.join(cmd)}); log {server.log_path}:\n{server.log_tail()}"
                )
            if time.monotonic() - start > startup_timeout:
                raise ServerStartError(
                    f"vllm serve not ready after {startup_timeout:.0f} s ({' '.join(cmd)}); "
                    f"log {server.log_path}:\n{server.log_tail()}"
                )
            time.sleep(0.5)
        server.startup_s = time.monotonic() - start
        yield server
    finally:
        _stop(proc, stop_timeout)


def chat(server: Server, messages: list[dict[str, Any]], timeout: float = 300.0, **params: Any) -> dict[str, Any]:
    """POST one non-streaming ``/v1/chat/completions`` request; the parsed JSON body.

    ``params`` are sent as they are (``max_tokens``, ``temperature``, ``stop``, ...;
    ``return_token_ids=True`` adds the generated ids as ``choices[i].token_ids`` and the
    prompt's as the body's ``prompt_token_ids``).  An HTTP error raises
    :class:`urllib.error.HTTPError` with the body in its message.
    """
    payload = {"model": server.model, "messages": messages, "stream": False, **params}
    return post_json(server.chat_url, payload, timeout)


def tokenize(
    server: Server, prompt: str, add_special_tokens: bool = False, timeout: float = 60.0, **params: Any
) -> dict[str, Any]:
    """POST ``{"model", "prompt", "add_special_tokens"}`` to the server's ``/tokenize`` (at its root,
    not under ``/v1``); the parsed JSON body: ``{"count", "max_model_len", "tokens", "token_strs"}``."""
    payload = {"model": server.model, "prompt": prompt, "add_special_tokens": add_special_tokens, **params}
    return post_json(f"{server.base_url}/tokenize", payload, timeout)


def post_json(url: str, payload: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """POST ``payload`` as JSON to ``url``; the parsed JSON body (an HTTP error carries the body)."""
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        raise urllib.error.HTTPError(err.url, err.code, f"{err.msg}: {body}", err.headers, None) from None
