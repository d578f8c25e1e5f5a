"""What our filter and metrics cost inside an lm-eval evaluation, in one run.

Usage::

    .venv/bin/python benchmarks/bench_overhead.py [--n 10000] [--repeat 3]

Builds a ``tc_gsm8k_256``-style task over ``--n`` documents (the paper's questions,
cycled) and replays ``--n`` saved generations (mixed statuses) with ``tc_replay``.
Two variants of the same task are scored the way lm-eval's evaluator does it
(``apply_filters``, then ``process_results`` per document and pipeline, then the
``mean`` aggregation and its stderr):

* **stock** — a plain ``ConfigurableTask``: ``regex`` + ``take_first`` → ``exact_match``;
* **traced** — the same config through ``TraceTask``: ``trace_status`` feeding the same
  steps, the same ``exact_match``, plus our seven metrics.

Printed: seconds for each, our added time, the ratio to lm-eval's own filter+metric
time (target < 2x), the added microseconds per sample, and that as a share of a
generation's time — measured in the same run on a tiny 2-layer Llama (16 hidden
units, 32 new tokens, CPU), far faster than any real reasoning model, so the share
for a real model is smaller still (target < 1 %).  Finally the wall time of two
whole ``simple_evaluate`` runs (stock vs traced) for context.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import bench_args

import lm_eval_tracecollapse  # noqa: F401  (registers)
from lm_eval_tracecollapse.paper_data import DATA_DIR

PIPE = {"name": "flexible-extract", "filter": [
    {"function": "regex", "group_select": -1, "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
    {"function": "take_first"},
]}  # fmt: skip


def _write_inputs(folder: Path, n: int, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    base = [json.loads(x) for x in (DATA_DIR / "gsm8k_256.jsonl").read_text().splitlines()]
    data, gens = folder / "docs.jsonl", folder / "gens.jsonl"
    with data.open("w") as d, gens.open("w") as g:
        for i in range(n):
            doc = base[i % len(base)]
            d.write(json.dumps({"prompt": f"[{i}] {doc['prompt']}", "answer": doc["answer"]}) + "\n")
            steps = " ".join(
                rng.choice(["add", "then", "12", "*", "7", "=", "84", "so", "we", "get"]) for _ in range(150)
            )
            answer = doc["answer"] if rng.random() < 0.7 else "7"
            kind = rng.choice(["valid", "valid", "valid", "empty", "missing", "truncated"])
            text = {
                "valid": f"<think>\n{steps}\n</think>\n\nThe answer is {answer}.",
                "empty": f"<think>\n\n</think>\n\nThe answer is {answer}.",
                "missing": f"The answer is {answer}.",
                "truncated": f"<think>\n{steps}",
            }[kind]
            g.write(json.dumps({"doc_id": i, "response": text}) + "\n")
    return data, gens


def _config(data: Path) -> dict[str, Any]:
    from lm_eval_tracecollapse.paper_data import load_jsonl_dataset

    return {
        "task": "overhead",
        "custom_dataset": lambda **_: load_jsonl_dataset(data),
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": [], "do_sample": False},
        "filter_list": [PIPE],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "regexes_to_ignore": [",", "\\$", "\\.$"]}],
    }  # fmt: skip


def _score(task: Any) -> float:
    """lm-eval's evaluator steps after generation; returns seconds."""
    from collections import defaultdict

    from lm_eval.api.metrics import mean, mean_stderr

    for inst in task.instances:
        inst.filtered_resps = {}
    start = time.perf_counter()
    task.apply_filters()
    by_doc = defaultdict(list)
    for inst in task.instances:
        by_doc[inst.doc_id].append(inst)
    raw: dict[tuple[str, str], list[float]] = defaultdict(list)
    for key in task.instances[0].filtered_resps:
        for reqs in by_doc.values():
            scores = task.process_results(reqs[0].doc, [r.filtered_resps[key] for r in reqs])
            for metric, value in scores.items():
                raw[(metric, key)].append(value)
    for items in raw.values():
        mean(items), mean_stderr(items)
    return time.perf_counter() - start


def _prepared(task: Any, gens: Path) -> Any:
    from lm_eval_tracecollapse.harness.models import ReplayLM

    task.build_all_requests(limit=None, rank=0, world_size=1)
    for inst, resp in zip(task.instances, ReplayLM(path=str(gens)).generate_until(task.instances), strict=True):
        inst.resps = [resp]
    return task


def _generation_seconds(samples: int = 5, new_tokens: int = 32) -> float:
    """Per-sample greedy generation time of a tiny random Llama on this CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg)
    model.eval()
    ids = torch.randint(0, 256, (1, 64))
    with torch.no_grad():
        model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
        start = time.perf_counter()
        for _ in range(samples):
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    return (time.perf_counter() - start) / samples


def main() -> None:
    args = bench_args(__doc__, 10_000)

    from lm_eval.api.task import ConfigurableTask

    from lm_eval_tracecollapse.harness.task import TraceTask

    with tempfile.TemporaryDirectory() as tmp:
        data, gens = _write_inputs(Path(tmp), args.n, args.seed)
        stock = _prepared(ConfigurableTask(config=_config(data)), gens)
        traced = _prepared(TraceTask(config=_config(data)), gens)
        t_stock = t_traced = float("inf")
        for _ in range(args.repeat):  # interleaved, best of --repeat
            t_stock = min(t_stock, _score(stock))
            t_traced = min(t_traced, _score(traced))
        gen = _generation_seconds()

        print(
            f"{args.n:,} samples, best of {args.repeat}; "
            "filter + metrics + aggregation, as lm-eval's evaluator runs them"
        )
        print(f"  stock task (regex, take_first, exact_match):      {t_stock:8.3f} s")
        print(f"  traced task (+ trace_status, + our 7 metrics):    {t_traced:8.3f} s")
        added = t_traced - t_stock
        per_sample = added / args.n
        print(f"  added by us: {added:.3f} s = {added / t_stock:.2f}x lm-eval's own filter+metric time (target < 2x)")
        print(f"  added per sample: {per_sample * 1e6:.1f} us")
        print(
            f"  generation, tiny 2-layer Llama on this CPU (32 tokens): {gen * 1e3:.1f} ms/sample -> our addition is "
            f"{per_sample / gen * 100:.3f} % of it (target < 1 %; real reasoning models are far slower)"
        )

        from lm_eval import simple_evaluate

        for label, cls in (("stock", ConfigurableTask), ("traced", TraceTask)):
            start = time.perf_counter()
            simple_evaluate(model="tc_replay", model_args=f"path={gens}", tasks=[cls(config=_config(data))])
            print(f"  whole simple_evaluate, {label}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
