"""Constants and helpers several test files share (registered as ``testenv`` by
``conftest.py``): the repository root and the environment of a subprocess that must
not reach the model or dataset hub."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: no hub at run time: lm-eval, datasets and transformers stay offline
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def offline_env(**extra: str | Path) -> dict[str, str]:
    """``os.environ`` with :data:`OFFLINE` and ``extra`` (e.g. ``TRACECOLLAPSE_CACHE=tmp / "cache"``)."""
    return {**os.environ, **OFFLINE, **{k: str(v) for k, v in extra.items()}}


#: the pipeline of a GSM8K-like task: the number after "####"
STRICT_MATCH = """  - name: strict-match
    filter:
      - {function: regex, regex_pattern: "#### (\\\\d+)"}
      - {function: take_first}
"""
EXACT_MATCH = "  - {metric: exact_match, aggregation: mean, higher_is_better: true}\n"


def json_task_yaml(
    name: str,
    data: str | Path,
    *,
    generation: str = "{until: [], do_sample: false}",
    filters: str = STRICT_MATCH,
    metrics: str = EXACT_MATCH,
    extra: str = "",
) -> str:
    """The YAML of a small generative task over a local JSONL file of ``{"q", "a"}`` lines
    (prompt ``Q: …\\nA:``), with the given generation kwargs, filter pipelines, metrics
    and extra top-level lines."""
    return (
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files: {{test: {data}}}\n"
        'test_split: test\noutput_type: generate_until\ndoc_to_text: "Q: {{q}}\\nA:"\n'
        f'doc_to_target: "{{{{a}}}}"\ngeneration_kwargs: {generation}\n{extra}'
        f"filter_list:\n{filters}metric_list:\n{metrics}metadata: {{version: 1.0}}\n"
    )


def seeded_cache(cache: Path) -> Path:
    """``cache``, a test's own ``$TRACECOLLAPSE_CACHE``, holding lm-eval's own task index (ours
    and lm-eval's entries) copied from the shared cache, where it is built once per lm-eval
    install: a run there does not index lm-eval's 14,000 YAMLs again (about 5 s), and indexes
    the test's own folders as a user's first run does."""
    from lm_eval_tracecollapse.harness.task_index import entries_file, index_file, lm_eval_tasks_dir, task_index

    root = lm_eval_tasks_dir()
    shared = [index_file(root), entries_file(root)]
    if not all(f.is_file() for f in shared):
        task_index()  # builds both in the shared cache
    (cache / "index").mkdir(parents=True, exist_ok=True)
    for f in shared:
        if f.is_file():  # a read-only home keeps no cache: then the run indexes lm-eval's tasks
            shutil.copyfile(f, cache / "index" / f.name)
    return cache


def run_tracecollapse(argv: list[str], tmp: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``tracecollapse ARGV...`` run from the repository root as a user would, with its own
    cache under ``tmp`` and no progress bars; the caller checks the result."""
    assert argv[0] == "tracecollapse", argv
    env = {**os.environ, "TRACECOLLAPSE_CACHE": str(seeded_cache(tmp / "cache")), "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lm_eval_tracecollapse", *argv[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def replay_eval(gens: Path, include: Path, tasks: str, root: Path) -> subprocess.CompletedProcess[str]:
    """``tracecollapse eval --model tc_replay`` of ``tasks`` from the saved generations
    ``gens``, with the task folder ``include``, samples logged to ``root / "out"`` and the
    wrapper cache in ``root / "cache"``; fails the test unless it exits 0."""
    cmd = [sys.executable, "-m", "lm_eval_tracecollapse", "eval", "--model", "tc_replay"]
    cmd += ["--model_args", f"path={gens}", "--include_path", str(include), "--tasks", tasks]
    cmd += ["--output_path", str(root / "out"), "--log_samples"]
    env = offline_env(TRACECOLLAPSE_CACHE=seeded_cache(root / "cache"))
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@contextmanager
def loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server with ``handler`` on a free 127.0.0.1 port; yields ``http://127.0.0.1:PORT``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def train_tiny_base(path: Path, heads: int = 4) -> tuple[Any, Any]:
    """The demo's tiny Llama trained on 1-digit addition with a worked ``<think>`` trace,
    saved at ``path``; returns (model, tokenizer).  About 10 s on 2 cores.  ``heads=2`` gives
    head_dim 32, the least vLLM's CPU attention takes.

    lr 3e-3: at 5e-3 the last steps diverge on ATen's AVX-512 kernels (pass@1 0.38 there, 0.97 on AVX2).
    """
    from lm_eval_tracecollapse.builtin.data import response, train_items
    from lm_eval_tracecollapse.builtin.recipe import chats, train
    from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer
    from lm_eval_tracecollapse.training.masking import tokenize_with_masks

    items = train_items(2000, seed=0, hard_share=0.0)
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in items[:200])], vocab_size=280)
    model = build_model(tok, hidden=64, layers=2, heads=heads)
    train(model, tokenize_with_masks(chats(items, "full"), tok, mode="prompt"), tok, steps=300, lr=3e-3, batch=64,
           desc="tiny base")  # fmt: skip
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model, tok


#: lm-eval's stderr when it cannot compute one (fewer than two documents)
NA = "N/A"


def pooled_row(docs: list[tuple[float, float]]) -> tuple[float, float | str, int]:
    """(value, stderr, documents) of a ``pooled_mean`` row from its per-document (value, weight)
    pairs, by hand: Σw·v/Σw and the ratio estimator's standard error √(n/(n-1)·Σ w²(v-R)²)/Σw
    over the documents that carry weight (N/A under two; NaN value: none)."""
    docs = [(v, w) for v, w in docs if w]
    if not docs:
        return math.nan, NA, 0
    total = sum(w for _, w in docs)
    ratio = sum(v * w for v, w in docs) / total
    n = len(docs)
    if n < 2:
        return ratio, NA, n
    return ratio, math.sqrt(n / (n - 1) * sum((w * (v - ratio)) ** 2 for v, w in docs)) / total, n


def sample_status(sample: dict[str, Any]) -> str:
    """The trace status of one lm-eval sample line of a traced task (its one rate at 1.0)."""
    (status,) = [k for k in ("valid", "empty", "missing", "truncated") if sample[f"{k}_rate"] == 1.0]
    return status


#: the four statuses as the designs of the stock-task tests spell them
V, E, M, T = "valid", "empty", "missing", "truncated"


@dataclass(frozen=True)
class Reply:
    """One designed response of a stock-task test.  ``answer`` is what a model that did not
    reason generates (the stock run replays it); ``tail`` follows it from one of the task's
    stop strings on (the traced run must cut it off); ``trace`` holds decoys that would
    change the score if they leaked into the answer part.  ``correct``: the task's own
    per-document score of ``answer``, worked out by hand (None: its metrics give none)."""

    status: str
    answer: str
    correct: float | None
    tail: str = ""
    trace: str = "Let me think it over."
    sep: str = "\n\n"  # between the closing tag and the answer

    @property
    def traced(self) -> str:
        """The replayed response of the traced run."""
        if self.status == T:
            return f"<think>{self.trace}"
        head = {V: f"<think>{self.trace}</think>{self.sep}", E: f"<think>\n</think>{self.sep}", M: ""}
        return head[self.status] + self.answer + self.tail

    @property
    def stock(self) -> str:
        """The replayed response of the stock run: the answer part (nothing for a truncated trace)."""
        return "" if self.status == T else self.answer


def close(got: Any, want: Any) -> bool:
    """A reported row equals the hand value: ``N/A`` and NaN only as themselves, numbers to 1e-9."""
    import math

    import pytest

    if want == NA or got == NA:
        return got == want
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return bool(got == pytest.approx(want, rel=1e-9, abs=1e-12))
