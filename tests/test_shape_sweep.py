"""Issue 35: every generative task of lm-eval's index wraps, and every distinct shape of
metrics, aggregations and filter pipelines scores a replayed document as the stock task does.

A crash like ``wmt16-de-en_tc``'s (a corpus metric's per-document value is the item its
aggregation takes, not a score) or ``gsm8k_cot_self_consistency_tc``'s (``take_first_k``
given one response) hides in a family nobody ran; this sweep runs one of each shape.

* **Build**: every generative task's YAML (includes merged) goes through our wrapper's
  config build (``wrap_config``: pipelines traced, stop strings moved, every ``trace_status``
  filter built), its ``!function`` hooks replaced by stand-ins (importing 4,600 tasks' hook
  modules would download, or exit: some do on import).
* **Score**: the tasks are grouped by *shape* — each metric (a registered name, or a custom
  function), its aggregation (registered, or custom), each pipeline's steps (registered
  filters, custom ones), a custom ``process_results``, and ``repeats`` above 1 — and one task
  per shape is built twice from its own metric list, pipelines, stop strings and repeats on
  one local document: as lm-eval's ``ConfigurableTask`` and as our ``TraceTask``.  Each runs
  through ``simple_evaluate`` with ``tc_replay``: the traced one on replies with a trace, the
  stock one on their answer parts.  Every row of the task's own must be equal, and every
  pipeline must carry our status rows (and ``pass@1`` exactly when the task has a
  per-document score).

Stand-ins for a custom hook keep its role: a custom metric whose aggregation is custom
returns the (gold, prediction) item (a corpus metric), else a dict score (HF-evaluate style,
as ``pass_at_k``); a custom aggregation reduces the items; a custom filter maps each of the
document's responses; a custom ``process_results`` returns each listed metric as the shape
of its aggregation wants.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.harness.task import _FunctionRef, _read_yaml, wrap_config
from lm_eval_tracecollapse.harness.task_index import task_index

pytestmark = pytest.mark.slow

DOC = {"q": "What is 6 times 7?", "a": "42", "choices": ["42", "41", "7", "6"]}
#: the answer part of the replies: what the usual extraction patterns look for
ANSWERS = ["The answer is 42. #### 42 (A)", "The answer is 41. #### 41 (B)"]
OURS = ("valid_rate", "missing_rate", "answer_rate")
#: how a task's gold may look besides a string: lm-eval decides from the document
TARGETS = {
    "multiple_targets": {"doc_to_target": "{{choices}}"},  # a list: right if any is
    "doc_to_choice": {"doc_to_choice": "{{choices}}", "doc_to_target": "0"},  # an index into the choices
}


# --------------------------------------------------------------------------- stand-ins
def _first(pred: Any) -> str:
    return str(pred[0] if isinstance(pred, list) and pred else pred)


def custom_item(references: list[Any], predictions: list[Any], **kwargs: Any) -> tuple[Any, Any]:
    """A custom corpus metric: the item its aggregation takes."""
    return references[0], predictions[0]


def custom_corpus(items: list[Any]) -> float:
    """A custom aggregation: the share of items whose prediction is the gold answer."""
    pairs = [item if isinstance(item, tuple) else (DOC["a"], item) for item in items]
    return sum(_first(p).strip().endswith(str(g)) for g, p in pairs) / len(pairs)


def custom_score(references: list[Any], predictions: list[Any], **kwargs: Any) -> dict[str, float]:
    """A custom per-document metric returning a dict, as HF evaluate's (``pass_at_k``) do."""
    return {"custom@1": float(_first(predictions[0]).strip().endswith(str(references[0])))}


def custom_filter(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """A custom filter on each document's list of responses."""
    return [[r.strip() for r in rs] for rs in resps]


def _process_results(corpus: list[str], scores: list[str]) -> Callable[[dict, list[Any]], dict[str, Any]]:
    """A custom ``process_results``: an item for each corpus metric, a score for the others."""

    def process_results(doc: dict, results: list[Any]) -> dict[str, Any]:
        pred = _first(results[0]).strip()
        out: dict[str, Any] = {name: (doc["a"], pred) for name in corpus}
        out.update({name: float(pred.endswith(doc["a"])) for name in scores})
        return out

    return process_results


def _registered(kind: str, name: Any) -> bool:
    # imported, they fill the metric and filter registries
    import lm_eval.api.metrics
    import lm_eval.filters  # noqa: F401
    from lm_eval.api import registry

    table = {"metric": registry.metric_registry, "aggregation": registry.metric_agg_registry}
    table["filter"] = registry.filter_registry
    return isinstance(name, str) and name in table[kind]


def _metrics(entries: list[dict], custom_pr: bool) -> tuple[list[dict], tuple[Any, ...], Any]:
    """The metric list with stand-ins, its shape, and a stand-in ``process_results`` (or None)."""
    out, shape, corpus, scores = [], [], [], []
    for entry in entries:
        name, agg = entry.get("metric"), entry.get("aggregation")
        agg_role = agg if _registered("aggregation", agg) or agg is None else "custom"
        kwargs = {
            k: v for k, v in entry.items() if k not in ("metric", "aggregation", "hf_evaluate") and not _has_ref(v)
        }
        if custom_pr:  # the names are process_results' keys
            label = str(name)
            (corpus if agg_role == "custom" else scores).append(label)
            role: Any = "pr"
        elif _registered("metric", name) and not entry.get("hf_evaluate"):  # (HF evaluate's: from the hub)
            label, role = name, name
        else:
            role = "custom"
            label = custom_item if agg_role == "custom" else custom_score
        aggregation = custom_corpus if agg_role == "custom" else agg
        out.append({**kwargs, "metric": label, **({"aggregation": aggregation} if aggregation else {})})
        shape.append((role, agg_role))
    return out, tuple(shape), _process_results(corpus, scores) if custom_pr else None


def _has_ref(value: Any) -> bool:
    if isinstance(value, _FunctionRef):
        return True
    if isinstance(value, dict):
        return any(map(_has_ref, value.values()))
    return isinstance(value, list) and any(map(_has_ref, value))


def _pipelines(filter_list: list[dict] | None) -> tuple[list[dict], tuple[Any, ...]]:
    out, shape = [], []
    for pipe in filter_list or []:
        steps, roles = [], []
        for step in pipe.get("filter") or []:
            fn = step.get("function")
            if fn == "custom" or not _registered("filter", fn) or _has_ref(step):
                steps.append({"function": "custom", "filter_fn": custom_filter})
                roles.append("custom")
            else:
                steps.append(step)
                roles.append(fn)
        out.append({"name": pipe.get("name", "none"), "filter": steps})
        shape.append(tuple(roles))
    return out, tuple(shape)


def standin(name: str, raw: dict[str, Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The task config ``raw`` (a YAML, ``!function`` unresolved) on one local document with
    stand-ins for its hooks, and its shape."""
    import datasets

    custom_pr = raw.get("process_results") is not None
    metrics, metric_shape, process_results = _metrics(raw.get("metric_list") or [], custom_pr)
    pipelines, filter_shape = _pipelines(raw.get("filter_list"))
    gen = raw.get("generation_kwargs") or {}
    until = gen.get("until")
    until = [until] if isinstance(until, str) else [u for u in until if isinstance(u, str)] if until else []
    repeats = int(raw.get("repeats") or 1)
    cfg: dict[str, Any] = {
        "task": name,
        "custom_dataset": lambda **_: {"test": datasets.Dataset.from_list([DOC])},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "Q: {{q}}\nA:",
        "doc_to_target": "{{a}}",
        "generation_kwargs": {"until": until, "do_sample": False},
        "repeats": repeats,
        "metric_list": metrics or [{"metric": "exact_match"}],
        "metadata": {"version": 1.0},
    }
    if pipelines:
        cfg["filter_list"] = pipelines
    if process_results is not None:
        cfg["process_results"] = process_results
    return cfg, (metric_shape, filter_shape, custom_pr, repeats > 1)


# --------------------------------------------------------------------------- the sweep
@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, Any]]:
    """Every generative task's YAML, includes merged, hooks unresolved."""
    index = task_index()
    names = sorted(n for n, e in index.items() if e.kind == "task" and e.output_type == "generate_until")
    return {n: _read_yaml(Path(str(index[n].yaml_path))) for n in names}


def test_every_generative_task_wraps(configs: dict[str, dict[str, Any]]) -> None:
    logging.disable(logging.WARNING)  # a warning per task about steps after trace_status: not this test's
    try:
        for name, raw in configs.items():
            cfg, _ = standin(name, raw)
            wrapped = wrap_config({**cfg, "task": f"{name}_tc"})
            assert all(p["filter"][0]["function"] == "trace_status" for p in wrapped["filter_list"]), name
    finally:
        logging.disable(logging.NOTSET)
    assert len(configs) > 4600


def _replies(name: str, repeats: int, traced: bool, until: list[str]) -> list[dict[str, Any]]:
    """One document's replies: valid, missing and empty traces in turn, right and wrong answers,
    a tail after the answer that the task's stop strings may cut; untraced, what a model that
    did not reason generates: the answer part up to the first stop string."""
    lines = []
    for j in range(repeats):
        text = ANSWERS[j % 3 == 2] + "\n\nQ: The answer is 7."
        if traced:
            text = ["<think>The answer is 7. #### 7 (D)</think>\n\n", "", "<think>\n</think>\n"][j % 3] + text
        else:
            for stop in until:
                text = text.split(stop, 1)[0] if stop else text
        lines.append({"task": name, "doc_id": 0, "response": text})
    return lines


def _evaluate(tasks: list[Any], lines: list[dict[str, Any]], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from lm_eval import simple_evaluate

    from lm_eval_tracecollapse.harness.models.replay import ReplayLM

    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    res = simple_evaluate(
        model=ReplayLM(path=str(path)), tasks=tasks, bootstrap_iters=0, confirm_run_unsafe_code=True, log_samples=True
    )
    assert res is not None
    return dict(res["results"]), dict(res["samples"])


def test_each_shape_scores_as_the_stock_task(configs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    from lm_eval.api.task import ConfigurableTask

    from lm_eval_tracecollapse.harness.task import TraceTask

    shapes: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
    for name, raw in configs.items():
        cfg, shape = standin(f"shape{len(shapes)}", raw)
        shapes.setdefault(shape, (name, cfg))
    # the gold's shapes, read off the document at run time: a list of targets, a choice index
    plain = next(cfg for _, cfg in shapes.values() if cfg["metric_list"][0]["metric"] == "exact_match")
    for label, change in TARGETS.items():
        shapes[(label,)] = (label, {**plain, **change, "task": f"{plain['task']}_{label}"})
    stock, traced, stock_lines, traced_lines = [], [], [], []
    unbuildable = {}
    for shape, (source, cfg) in list(shapes.items()):
        until = cfg["generation_kwargs"]["until"]
        try:
            stock.append(ConfigurableTask(config=dict(cfg)))
        except Exception as exc:  # noqa: BLE001 - lm-eval itself cannot build it (its own YAML's fault)
            unbuildable[source] = repr(exc)
            del shapes[shape]
            continue
        traced.append(TraceTask(config={**cfg, "task": cfg["task"] + "_tc"}))
        stock_lines += _replies(cfg["task"], cfg["repeats"], False, until)
        traced_lines += _replies(cfg["task"] + "_tc", cfg["repeats"], True, until)
    print(f"\n{len(configs)} generative tasks, {len(shapes)} shapes run; stock lm-eval cannot build {unbuildable}")
    assert len(shapes) > 40 and len(unbuildable) <= 2
    want, samples = _evaluate(stock, stock_lines, tmp_path / "stock.jsonl")
    got, _ = _evaluate(traced, traced_lines, tmp_path / "traced.jsonl")
    for source, cfg in shapes.values():
        own, ours = want[cfg["task"]], got[cfg["task"] + "_tc"]
        for key in (k for k in own if "," in k):
            a, b = own[key], ours[key]
            same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, abs_tol=1e-12))
            assert same or (a != a and b != b), (source, key, a, b)
        for sample in samples[cfg["task"]]:  # one per pipeline
            pipe = sample["filter"]
            for metric in OURS:
                assert f"{metric},{pipe}" in ours, (source, metric, pipe)
            n = cfg["repeats"]
            assert ours[f"valid_rate,{pipe}"] == sum(j % 3 == 0 for j in range(n)) / n, (source, pipe)
            # pass@1 exactly when the task scores a document by a number
            scored = any(isinstance(sample[m], numbers.Real) for m in sample["metrics"] if m in sample)
            assert (f"rpass@1,{pipe}" in ours) == scored, (source, pipe, {m: sample.get(m) for m in sample["metrics"]})
