"""llama.cpp as a real engine (issue 30): the demo's checkpoints converted to GGUF, llama.cpp's
``llama-server`` started on a free 127.0.0.1 port with a ``--reasoning-format``, and the
fixtures in ``tests/fixtures/engines/llamacpp/`` captured from it.

Everything comes from ``make engines-llamacpp`` (the venv ``.venv-llamacpp``): llama-server
(built from the llama.cpp vendored in llama-cpp-python's sdist), llama-cpp-python's own
server, and the vendored ``convert_hf_to_gguf.py`` with its gguf-py.

Which server: llama-cpp-python 0.3.36's ``python -m llama_cpp.server`` has no reasoning
option at all (no ``reasoning_format``/``reasoning_parser`` setting, no ``reasoning_content``
in its responses: the trace stays in ``content``).  ``--reasoning-format deepseek|none|
deepseek-legacy|auto`` belongs to llama.cpp's ``llama-server``, which is what this module
serves by default (``engine="llama-cpp-python"`` starts the other one).

Which template: llama-server (``--jinja``, its default) splits the trace off only when the
chat template itself shows reasoning: it renders the template with and without a
``reasoning_content`` to find the markers.  The demo's template (plain ChatML, no reasoning
field) shows none, so with it every ``--reasoning-format`` returns the whole reply in
``content``; served with :data:`THINK_TEMPLATE` (the same prompt, plus the assistant's
``reasoning_content`` in ``<think>\n...\n</think>\n``) ``deepseek`` and ``auto`` split it.
The fixtures hold both: ``<checkpoint>__<format>.jsonl`` (the GGUF's own template) and
``<checkpoint>__<format>__think-template.jsonl``.

Converting: the demo's tokenizer is a byte-level BPE of its own, so the converter does not
know its pre-tokenizer hash (``NotImplementedError: BPE pre-tokenizer was not recognized``;
``convert_hf_to_gguf_update.py`` only registers hub models).  Its pre-tokenizer is
HF's ``ByteLevel(add_prefix_space=False, use_regex=True)``: GPT-2's split regex, which is
llama.cpp's ``gpt-2`` pre-tokenizer, so :func:`convert` runs the converter with
``get_vocab_base_pre`` answering ``gpt-2`` when (and only when) the hash is unknown.
:func:`check_tokenization` confirms it: llama-server's ``/tokenize`` gives the same ids as
the HF tokenizer on every prompt and answer of the task.

Regenerate the fixtures (after ``make demo`` and ``make engines-llamacpp``)::

    .venv/bin/python tests/engines/llamacpp.py capture
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-llamacpp"
LLAMA_SERVER = VENV / "bin" / "llama-server"
LLAMA_CPP_DIR = VENV / "llama.cpp"  # the vendored llama.cpp source (a link made by the Makefile)
FIXTURES = ROOT / "tests" / "fixtures" / "engines" / "llamacpp"
GGUF_DIR = ROOT / "build" / "engines" / "gguf"  # build/ is git-ignored

#: the demo's checkpoints: the base (trained with traces) and the four study arms at step 400
ARMS = ("sft_answer_only", "sft_empty_think", "mask_empty_think", "mask_real_trace")
CHECKPOINTS = ("base", *ARMS)
#: llama-server's --reasoning-format values captured: the split, no split, and the default
FORMATS = ("deepseek", "none", "auto")
#: ChatML whose assistant turns render ``reasoning_content`` as the demo model writes its trace;
#: for a user turn and the generation prompt it renders exactly what the demo's template does
THINK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' and message['reasoning_content'] is defined"
    " and message['reasoning_content'] %}<think>\n{{ message['reasoning_content'] }}\n</think>\n{% endif %}"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: the base is also asked with this few tokens (its replies cut inside the trace)
SHORT_MAX_TOKENS = 5
#: the chat templates captured: None is the GGUF's own (the demo's ChatML)
TEMPLATES: dict[str, str | None] = {"": None, "__think-template": THINK_TEMPLATE}
#: the byte-level BPE pre-tokenizer the demo's tokenizer has (GPT-2's regex, no prefix space)
PRE_TOKENIZER = "gpt-2"
TASK = "tc_demo_easy"


def demo_checkpoints(demo_out: Path = ROOT / "demo_out") -> dict[str, Path]:
    """``{name: HF checkpoint folder}`` for :data:`CHECKPOINTS` in ``make demo``'s output."""
    found = {"base": demo_out / "builtin" / "tiny-arith-small"}
    for arm in ARMS:
        hits = sorted(demo_out.glob(f"train/{arm}*/checkpoint-400"))
        if hits:
            found[arm] = hits[0]
    missing = [n for n in CHECKPOINTS if n not in found or not (found[n] / "config.json").is_file()]
    if missing:
        raise FileNotFoundError(f"no checkpoint for {missing} under {demo_out} (run `make demo`)")
    return found


def task_generation() -> dict[str, Any]:
    """The request body's generation settings, from ``tc_demo_easy``'s YAML (greedy)."""
    import yaml  # PyYAML comes with lm-eval

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    spec = yaml.load((ROOT / "task_yamls" / "demo" / f"{TASK}.yaml").read_text(), Loader=_Loader)
    gen = spec["generation_kwargs"]
    assert gen.get("do_sample") is False, gen
    # what lm-eval's local-chat-completions (and so tc_chat_api) sends for these kwargs
    return {"max_tokens": gen["max_gen_toks"], "temperature": 0, "stop": list(gen["until"]), "seed": 1234}


def task_prompts() -> list[str]:
    """The task's 100 user messages, in doc_id order (``doc_to_text`` is the question)."""
    from lm_eval_tracecollapse.builtin.data import eval_rows

    return [row["question"] for row in eval_rows("easy", 100)]


# ---- conversion ----------------------------------------------------------------------------

_CONVERT = """
import runpy, sys
llama_cpp_dir, converter, pre = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, llama_cpp_dir)
from conversion.base import TextModel
_known = TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return _known(self, tokenizer)
    except NotImplementedError:  # an unregistered hash: the tokenizer's pre-tokenizer, named by us
        print(f"convert: pre-tokenizer hash unknown, written as {pre!r}", file=sys.stderr)
        return pre
TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = [converter, *sys.argv[4:]]
runpy.run_path(converter, run_name="__main__")
"""


def convert(hf_dir: Path, out: Path, *, outtype: str = "f32", pre_tokenizer: str = PRE_TOKENIZER) -> Path:
    """``hf_dir`` converted to the GGUF ``out`` with llama.cpp's own converter (cached by mtime)."""
    if out.is_file() and out.stat().st_mtime >= (hf_dir / "model.safetensors").stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    converter = LLAMA_CPP_DIR / "convert_hf_to_gguf.py"
    cmd = [str(VENV / "bin" / "python"), "-c", _CONVERT, str(LLAMA_CPP_DIR), str(converter), pre_tokenizer,
           str(hf_dir), "--outfile", str(out), "--outtype", outtype]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if res.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py failed on {hf_dir}:\n{res.stderr[-4000:]}")
    return out


_INFO = """
import json, sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
def val(key):
    f = r.get_field(key)
    return None if f is None else f.contents()
tokens, types = val("tokenizer.ggml.tokens"), val("tokenizer.ggml.token_type")
names = {int(t): gguf.TokenType(int(t)).name for t in set(types)}
think = {t: {"id": tokens.index(t), "type": names[types[tokens.index(t)]]} if t in tokens else None
         for t in ("<think>", "</think>", "<|im_start|>", "<|im_end|>")}
print(json.dumps({"chat_template": val("tokenizer.chat_template"), "pre": val("tokenizer.ggml.pre"),
                  "model": val("tokenizer.ggml.model"), "eos_token_id": val("tokenizer.ggml.eos_token_id"),
                  "n_tokens": len(tokens), "tokens": think}))
"""


def gguf_info(path: Path) -> dict[str, Any]:
    """The GGUF's chat template, pre-tokenizer, eos id and the ids/types of the marker tokens."""
    res = subprocess.run([str(VENV / "bin" / "python"), "-c", _INFO, str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"reading {path} failed:\n{res.stderr[-2000:]}")
    return dict(json.loads(res.stdout))


# ---- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: ``url`` is its base (``http://127.0.0.1:PORT``)."""

    url: str
    log: Path
    cmd: list[str]
    proc: subprocess.Popen[bytes] = field(repr=False)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def post(self, path: str, body: dict[str, Any], timeout: float = 120) -> Any:
        req = urllib.request.Request(self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"POST {path} -> {e.code}: {e.read()[:2000]!r}\nserver log:\n{self.log_tail()}") from e

    def chat(self, messages: list[dict[str, str]], **body: Any) -> dict[str, Any]:
        return dict(self.post("/v1/chat/completions", {"model": "tc", "messages": messages, **body}))


def server_command(gguf: Path, port: int, reasoning_format: str | None, engine: str,
                   template_file: Path | None = None) -> list[str]:  # fmt: skip
    if engine == "llama-server":
        cmd = [str(LLAMA_SERVER), "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
               "--ctx-size", "1024", "--parallel", "1", "--threads", "2", "--jinja", "--no-webui"]  # fmt: skip
        cmd += ["--chat-template-file", str(template_file)] if template_file else []
        return cmd + (["--reasoning-format", reasoning_format] if reasoning_format else [])
    if engine == "llama-cpp-python":
        if reasoning_format not in (None, "none"):
            raise ValueError("llama-cpp-python's server has no reasoning format (it never splits the trace)")
        if template_file:
            raise ValueError("llama-cpp-python's server takes its template from the GGUF (or --chat_format)")
        return [str(VENV / "bin" / "python"), "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                "--port", str(port), "--n_ctx", "1024", "--n_threads", "2"]  # fmt: skip
    raise ValueError(f"unknown engine {engine!r} (llama-server | llama-cpp-python)")


@contextlib.contextmanager
def serve(gguf: Path, reasoning_format: str | None = "deepseek", *, engine: str = "llama-server",
          chat_template: str | None = None, timeout: float = 120.0,
          extra_args: Sequence[str] = ()) -> Iterator[Server]:  # fmt: skip
    """Serve ``gguf`` on a free 127.0.0.1 port until the block ends.

    ``reasoning_format`` is llama-server's ``--reasoning-format`` (``None``: the flag left out,
    the server's default); ``chat_template`` (Jinja source) replaces the GGUF's template
    (``--chat-template-file``, e.g. :data:`THINK_TEMPLATE`).  Ready when ``GET /health``
    (llama-server; 503 while loading) or ``GET /v1/models`` (llama-cpp-python) answers 200;
    a server that exits or is not ready within ``timeout`` seconds raises RuntimeError with
    the end of its log.
    """
    if not gguf.is_file():
        raise FileNotFoundError(gguf)
    exe = Path(server_command(gguf, 0, reasoning_format, engine)[0])
    if not exe.exists():
        raise FileNotFoundError(f"{exe} is missing: run `make engines-llamacpp`")
    port = free_port()
    template_file = None
    if chat_template is not None:
        fd, name = tempfile.mkstemp(prefix="chat-template-", suffix=".jinja")
        with os.fdopen(fd, "w") as f:
            f.write(chat_template)
        template_file = Path(name)
    cmd = [*server_command(gguf, port, reasoning_format, engine, template_file), *extra_args]
    log_fd, log_name = tempfile.mkstemp(prefix=f"{engine}-{port}-", suffix=".log")
    proc = subprocess.Popen(cmd, stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    os.close(log_fd)
    server = Server(f"http://127.0.0.1:{port}", Path(log_name), cmd, proc)
    probe = "/health" if engine == "llama-server" else "/v1/models"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{engine} exited with {proc.returncode}: {' '.join(cmd)}\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url + probe, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{engine} not ready after {timeout:.0f} s: {' '.join(cmd)}\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            server.log.unlink()
        if template_file is not None:
            template_file.unlink()


def server_version() -> str:
    res = subprocess.run([str(LLAMA_SERVER), "--version"], capture_output=True, text=True)
    return (res.stdout + res.stderr).strip()


def _llama_cpp_python_version() -> str:
    code = "import importlib.metadata as m; print(m.version('llama-cpp-python'))"
    res = subprocess.run([str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return res.stdout.strip()


def check_tokenization(server: Server, hf_dir: Path, texts: Sequence[str]) -> list[str]:
    """Texts the served GGUF tokenizes differently from the HF tokenizer (empty: none)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    bad = []
    for text in texts:
        served = server.post("/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"]
        if served != tok.encode(text, add_special_tokens=False):
            bad.append(text)
    return bad


# ---- capture -------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hf_samples(demo_out: Path, name: str) -> list[dict[str, Any]]:
    """The demo's own lm-eval ``hf`` samples of ``tc_demo_easy`` for the checkpoint (doc_id order)."""
    sub = "base" if name == "base" else f"{name}*_step400"
    files = sorted(demo_out.glob(f"eval/{sub}/samples_{TASK}_*.jsonl"))
    if not files:
        return []
    rows = [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: int(r["doc_id"]))


def joined_text(choice: dict[str, Any]) -> str:
    """The reply as one text: ``content``, with a returned ``reasoning_content`` put back in the
    demo's own block (``<think>\\n`` + reasoning + ``</think>\\n``; the server keeps the newline
    before the close in the reasoning).  Only to compare with hf's text: not a status rule."""
    msg = choice["message"]
    content = msg.get("content") or ""
    reasoning = msg.get("reasoning_content")
    return content if reasoning is None else f"<think>\n{reasoning}</think>\n{content}"


def _portable(cmd: list[str], url: str) -> list[str]:
    """``cmd`` without this machine's paths, port and temporary file names."""
    port = url.rsplit(":", 1)[1]
    out = []
    for c in cmd:
        if c.endswith(".jinja"):
            c = "<chat template>.jinja"
        elif c.endswith((".gguf", "llama-server", "python")):
            c = Path(c).name
        out.append("<port>" if c == port else c)
    return out


def capture(demo_out: Path = ROOT / "demo_out", out_dir: Path = FIXTURES, formats: Sequence[str] = FORMATS,
            checkpoints: Sequence[str] = CHECKPOINTS, llama_cpp_python: bool = True) -> dict[str, Any]:  # fmt: skip
    """Serve every checkpoint once per format and template, and write
    ``<checkpoint>__<format>[__think-template].jsonl``: one row per document,
    ``{"doc_id", "user", "choice"}`` with ``choice`` the response's ``choices[0]`` exactly as
    returned; ``base__<format>[__think-template]__max-tokens-5.jsonl`` the base's replies cut
    inside the trace.  ``<checkpoint>__llama-cpp-python[__repeat-penalty-1].jsonl`` hold
    llama-cpp-python's server's (no reasoning split; its requests default to
    ``repeat_penalty`` 1.1, so lm-eval's request is not greedy there: the second sends 1.0).
    ``meta.json`` records the server, its command lines, the request body, each GGUF's checks
    (template, marker tokens, tokenization), the prompt each server built and how many
    replies equal the demo's ``hf`` text (:func:`joined_text`)."""
    paths = demo_checkpoints(demo_out)
    gen = task_generation()
    prompts = task_prompts()
    out_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"task": TASK, "engine": "llama-server", "version": server_version(),
                            "llama_cpp_python": _llama_cpp_python_version(),
                            "request": {"model": "tc", "messages": [{"role": "user", "content": "<question>"}],
                                        **gen},
                            "pre_tokenizer_workaround": PRE_TOKENIZER, "think_template": THINK_TEMPLATE,
                            "checkpoints": {}}  # fmt: skip
    # the base's replies to them, so the tokenizer check covers the response side too
    from lm_eval_tracecollapse.builtin.data import eval_rows

    responses = [f"<think>\n{r['reasoning']}\n</think>\nThe answer is {r['answer']}." for r in eval_rows("easy", 100)]
    for name in checkpoints:
        gguf = convert(paths[name], GGUF_DIR / f"{name}.f32.gguf")
        hf = hf_samples(demo_out, name)
        entry: dict[str, Any] = {"hf": str(paths[name].relative_to(ROOT)), "gguf_sha256": _sha256(gguf),
                                 "gguf": gguf_info(gguf), "runs": {}}  # fmt: skip
        runs: list[tuple[str, str | None, str, str | None, dict[str, Any]]] = [
            ("llama-server", f, suffix, tmpl, {}) for suffix, tmpl in TEMPLATES.items() for f in formats
        ]
        if name == "base":  # cut mid-trace (finish_reason "length"): how each format returns an open trace
            short = {"max_tokens": SHORT_MAX_TOKENS}
            runs += [("llama-server", f, f"{suffix}__max-tokens-{SHORT_MAX_TOKENS}", tmpl, short)
                     for suffix, tmpl in TEMPLATES.items() for f in ("deepseek", "none")]  # fmt: skip
        if llama_cpp_python:  # its requests default to repeat_penalty 1.1: not greedy; 1.0 is
            runs += [("llama-cpp-python", None, "", None, {}),
                     ("llama-cpp-python", None, "__repeat-penalty-1", None, {"repeat_penalty": 1.0})]  # fmt: skip
        for engine, fmt, suffix, tmpl, extra in runs:
            label = f"{fmt if engine == 'llama-server' else engine}{suffix}"
            t0 = time.monotonic()
            run: dict[str, Any] = {"engine": engine, "request_extra": extra}
            with serve(gguf, fmt, engine=engine, chat_template=tmpl) as server:
                if engine == "llama-server":
                    if "tokenization_mismatches" not in entry:
                        entry["tokenization_mismatches"] = check_tokenization(server, paths[name], prompts + responses)
                    built = server.post("/apply-template", {"messages": [{"role": "user", "content": prompts[0]}]})
                    run["prompt_doc0"] = built["prompt"]
                    if hf:
                        run["prompt_equals_hf"] = built["prompt"] == hf[0]["arguments"]["gen_args_0"]["arg_0"]
                rows = []
                for doc_id, user in enumerate(prompts):
                    resp = server.chat([{"role": "user", "content": user}], **{**gen, **extra})
                    rows.append({"doc_id": doc_id, "user": user, "choice": resp["choices"][0]})
                run["command"] = _portable(server.cmd, server.url)
            with (out_dir / f"{name}__{label}.jsonl").open("w") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            if hf and "max_tokens" not in extra:
                same = [joined_text(r["choice"]) == h["resps"][0][0] for r, h in zip(rows, hf, strict=True)]
                run["hf_same_text"] = sum(same)
            entry["runs"][label] = run
            print(f"{name} x {label}: {len(rows)} rows, {run.get('hf_same_text')} as hf "
                  f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)  # fmt: skip
        meta["checkpoints"][name] = entry
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return meta


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="tests/engines/llamacpp.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    cap = sub.add_parser("capture", help="regenerate tests/fixtures/engines/llamacpp/")
    cap.add_argument("--demo-out", type=Path, default=ROOT / "demo_out")
    cap.add_argument("--out", type=Path, default=FIXTURES)
    cap.add_argument("--formats", nargs="+", default=list(FORMATS))
    cap.add_argument("--checkpoints", nargs="+", default=list(CHECKPOINTS), choices=CHECKPOINTS)
    cap.add_argument("--no-llama-cpp-python", action="store_true", help="skip llama-cpp-python's server")
    args = ap.parse_args(argv)
    if args.cmd == "capture":
        capture(args.demo_out, args.out, args.formats, args.checkpoints, not args.no_llama_cpp_python)


if __name__ == "__main__":
    main()
