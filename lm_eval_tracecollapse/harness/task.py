"""``TraceTask``: add trace metrics to any lm-eval generative task, keeping its own.

Used from a task YAML through lm-eval's ``class:`` key.  Either wrap a task that
lm-eval already knows (a stock task, or one of yours on ``--include_path``)::

    task: gsm8k_tc
    class: !function lm_eval_tracecollapse.tasks.TraceTask
    base_task: gsm8k            # any registered generative task
    # optional: tc_base_yaml: its YAML (else looked up beside this file, in
    # metadata tc_include_path, then in lm-eval's tasks), tc_fmt: auto,
    # tc_prefilled: null, tc_until: answer, and any task key to override
    # (or from the command line: --metadata '{"tc_fmt": "gpt_oss_text"}')

or give a full task config with ``class:`` (our paper tasks do).  ``tracecollapse
wrap`` and ``tracecollapse eval --tasks NAME_tc`` write such YAMLs for any task,
group or tag (:mod:`.wrap`).  Every filter pipeline of the task keeps its name and
its steps; ``trace_status`` runs first and feeds them the answer parts (of all of a
document's responses, as the stock task gets them).  The task's own metrics are
computed as before (on the answer parts: they equal a stock run's) and ours are added
per pipeline: ``valid_rate``, ``empty_rate``, ``missing_rate``, ``truncated_rate``,
``answer_rate``, ``pass@1`` and ``rpass@1``, where correctness is the task's own
first metric that scores a document by a number, applied to each response's own
value (corpus metrics such as ``bleu`` score none: no ``pass@1`` rows then).  Beside
them the extra rows of :mod:`.failure_kinds` (``pass@1_empty``, ``loop_rate``,
``degenerate_rate``, ``trace_length_words``…; off with ``tc_extra_metrics: false`` in
the YAML or ``--metadata``), one warning per task when responses stopped at the
generation limit inside their trace (:mod:`.budget`), and one when the run's model
args make lm-eval cut the trace off (:mod:`.model_args`).

**Stop sequences let the trace run.**  A task's ``until`` strings (``"\\n"``,
``"."``, ``"Question:"``…) would end generation inside the reasoning, so they are
taken off generation — EOS, ``max_gen_toks`` and turn markers such as ``</s>`` or
``<|im_end|>`` still stop it — and applied to the answer part instead, so the
task's own scoring sees what it saw before (``tc_until: generation`` keeps them
on generation).  Each request's prompt travels on its response to the filter, so a
chat template that prefills ``<think>`` is recognised.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from lm_eval.api.task import ConfigurableTask

from ..core.carriers import Response, TracedAnswer
from ..core.formats import get_format, list_formats
from ..core.parse import TraceStatus
from ..metrics.at_k import at_k_names, at_k_values, k_values
from ..metrics.budget import budget_warning
from ..metrics.failure_kinds import EXTRA_METRICS, OPTION_KEYS, extra_metric_values, extras_enabled, failure_options
from ..metrics.pooled import Weighted, pooled_mean
from ..metrics.trace_rates import METRICS, response_answers, trace_metric_values
from . import compat
from .metric_fns import is_score
from .model_args import warn_thinking_args
from .registry import register
from .task_index import effective_output_type, task_index

__all__ = ["TraceTask", "find_task_yaml", "wrap_config"]

log = logging.getLogger(__name__)

_OUR_KEYS = ("base_task", "tc_base_yaml", "tc_fmt", "tc_prefilled", "tc_until", *OPTION_KEYS)


def find_task_yaml(name: str, roots: tuple[str, ...] = ()) -> str:
    """Path of the YAML that defines task ``name``: in ``roots`` (later ones first), then lm-eval's.

    The lookup is lm-eval's own task index (quoted keys, includes and all).

    Raises:
        ValueError: no such task, or not a plain YAML task; the message says what to do.
    """
    indexes = ([task_index(roots, include_defaults=False)] if roots else []) + [task_index()]
    for index in indexes:
        entry = index.get(name)
        if entry is None:
            continue
        if entry.kind == "task" and entry.yaml_path:
            return entry.yaml_path
        what = {"group": "a group", "tag": "a tag", "py_task": "a Python-class task"}[entry.kind]
        raise ValueError(
            f"base_task {name!r} is {what}: a TraceTask wraps one YAML task. "
            f"Use `tracecollapse wrap {name}` (or --tasks {name}_tc with tracecollapse eval) for groups and tags."
        )
    raise ValueError(
        f"base_task {name!r} is not a task lm-eval knows. For a task of yours, give its YAML as tc_base_yaml, "
        "put the wrapper beside it, or pass its folder as metadata tc_include_path."
    )


class _FunctionRef:
    """An unresolved ``!function`` of a base task YAML."""

    def __init__(self, spec: str, base_dir: Path) -> None:
        self.spec, self.base_dir = spec, base_dir

    def resolve(self) -> Any:
        return compat.import_yaml_function(self.spec, self.base_dir)


def _read_yaml(path: Path) -> dict[str, Any]:
    """A task YAML with ``include:`` merged (as lm-eval does) and ``!function`` left unresolved."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: _FunctionRef(loader.construct_scalar(node), path.parent))
    with path.open("rb") as fh:
        cfg = yaml.load(fh, Loader=Loader)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a YAML mapping, got {type(cfg).__name__}")
    includes = cfg.pop("include", None)
    merged: dict[str, Any] = {}
    for inc in includes if isinstance(includes, list) else ([includes] if includes else []):
        inc_path = Path(inc) if Path(inc).is_absolute() else path.parent / inc
        included = _read_yaml(inc_path)
        included.pop("task_list", None)
        merged.update(included)
    merged.update(cfg)
    return merged


def _resolved(value: Any) -> Any:
    if isinstance(value, _FunctionRef):
        return value.resolve()
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value


def _load_base(path: Path, skip: set[str], name: str) -> dict[str, Any]:
    """The base task's config without ``skip`` keys, its ``!function`` hooks imported."""
    raw = _read_yaml(path)
    if "class" in raw:
        raise ValueError(
            f"base_task {name!r} is a Python-class task: its class builds its own requests and "
            "scoring, so a TraceTask cannot wrap it"
        )
    try:
        return {k: _resolved(v) for k, v in raw.items() if k not in skip}
    except (ImportError, AssertionError) as exc:  # (minerva asserts its antlr4 version)
        from .extras import MissingExtraError, missing_module, missing_package_message

        if isinstance(exc, AssertionError) and missing_module(exc) is None:
            raise
        raise MissingExtraError(missing_package_message(exc, f"{name}_tc")) from exc


def _base_yaml(base: str, ours: dict[str, Any], cfg: dict[str, Any]) -> Path:
    """The base task's YAML, found through the wrapper's own config (never the process's argv)."""
    metadata = cfg.get("metadata") or {}
    source = metadata.get("config_source")
    here = Path(source).parent if source and Path(source).is_file() else None
    given = ours.get("tc_base_yaml")
    if given:
        path = Path(given) if Path(given).is_absolute() or here is None else here / given
        if not path.is_file():
            raise ValueError(f"base_task {base!r}: tc_base_yaml {str(path)!r} is not a file")
        return path
    extra = metadata.get("tc_include_path") or ()
    roots = [*([str(here)] if here else []), *([extra] if isinstance(extra, str) else list(extra))]
    return Path(find_task_yaml(base, tuple(reversed(roots))))


#: stop strings that are turn markers, not text: they may stay on generation
_TURN_MARKER = re.compile(r"<\|[^|<>]{1,40}\|>|</?[A-Za-z_][\w.-]{0,30}>|\[/?[A-Z_]{2,20}\]")


def _delimiter_text() -> str:
    """The delimiters of the families ``fmt=auto`` reads (a by-name family such as
    ``hyperclovax``, whose trace ends at ``<|im_end|>`` plus a new turn, does not make
    ChatML's ``<|im_end|>`` stop string part of the answer for every task)."""
    return "\n".join(f"{f.open}\n{f.close}" for f in map(get_format, list_formats()) if f.auto)


def split_until(until: Any) -> tuple[list[str], list[str]]:
    """A task's stop strings as (kept on generation, applied to the answer part).

    Only turn markers that no reasoning family uses as a delimiter stay on generation.

    >>> split_until(["\\n", ".", "</s>", "<|im_end|>", "Question:"])
    (['</s>', '<|im_end|>'], ['\\n', '.', 'Question:'])
    """
    stops = [until] if isinstance(until, str) else list(until or [])
    delims = _delimiter_text()
    keep = [s for s in stops if isinstance(s, str) and _TURN_MARKER.fullmatch(s) and s not in delims]
    return keep, [s for s in stops if s not in keep]


def _wrap_pipelines(filter_list: list[dict] | None, options: dict[str, Any]) -> list[dict]:
    """Each pipeline becomes ``[trace_status(then=<its own steps>, **options)]``, same name."""
    pipelines = filter_list or [{"name": "none", "filter": [{"function": "take_first"}]}]
    wrapped = []
    for pipe in pipelines:
        steps = list(pipe.get("filter") or [])
        if steps and steps[0].get("function") == "trace_status":
            if len(steps) > 1:
                log.warning(
                    "pipeline %r: %s after trace_status replaces its answer (which carries the trace) with a plain "
                    "value, so every trace row of this pipeline comes out empty; put those steps under trace_status's "
                    "then: (docs/lm-eval.md)",
                    pipe.get("name"), ", ".join(str(st.get("function")) for st in steps[1:]),
                )  # fmt: skip
            wrapped.append(pipe)  # already traced
            continue
        step = {"function": "trace_status", **options, "then": steps}
        wrapped.append({"name": pipe["name"], "filter": [step]})
    return wrapped


def wrap_config(config: dict[str, Any]) -> dict[str, Any]:
    """The task config ``TraceTask`` builds: base task merged with overrides, pipelines traced."""
    cfg = dict(config)
    ours = {k: cfg.pop(k) for k in _OUR_KEYS if k in cfg}
    cfg.pop("class", None)
    base = ours.get("base_task")
    if base:
        # keys the wrapper replaces are never resolved: humaneval's scorer module, for
        # one, loads HF evaluate's code_eval from the hub when imported
        skip = {"tag", "group", "task_list", "class", *cfg} - {"metadata"}
        base_cfg = _load_base(_base_yaml(str(base), ours, cfg), skip, str(base))
        name = cfg.pop("task", f"{base}_tc")
        metadata = {**(base_cfg.get("metadata") or {}), **(cfg.pop("metadata", None) or {})}
        cfg = {**base_cfg, **cfg, "task": name, "metadata": metadata}
    output_type = effective_output_type(cfg)
    if output_type != "generate_until":
        raise ValueError(
            f"task {cfg.get('task')!r}: trace metrics need a generative task (output_type: generate_until), "
            f"got {output_type!r}"
        )
    # --metadata '{"tc_fmt": "gpt_oss_text", "tc_prefilled": true}' reaches every task from the CLI
    metadata = dict(cfg.get("metadata") or {})
    # the extra rows' options travel in metadata (--metadata wins over the YAML's keys)
    for key in OPTION_KEYS:
        if key in ours:
            metadata.setdefault(key, ours[key])
    if metadata:
        cfg["metadata"] = metadata
    options = {
        "fmt": metadata.get("tc_fmt", ours.get("tc_fmt", "auto")),
        "prefilled": metadata.get("tc_prefilled", ours.get("tc_prefilled")),
    }
    until_mode = metadata.get("tc_until", ours.get("tc_until", "answer"))
    if until_mode not in ("answer", "generation"):
        raise ValueError(f"tc_until must be 'answer' or 'generation', got {until_mode!r}")
    gen = dict(cfg.get("generation_kwargs") or {})
    if until_mode == "answer" and gen.get("until"):
        keep, moved = split_until(gen["until"])
        gen["until"] = keep
        cfg["generation_kwargs"] = gen
        if moved:
            options["until"] = moved
    cfg["filter_list"] = _wrap_pipelines(cfg.get("filter_list"), options)
    # bad options fail here, when the task is built, not after every request ran
    from .filters import TraceStatusFilter

    for pipe in cfg["filter_list"]:
        first = pipe["filter"][0]
        TraceStatusFilter(**{k: v for k, v in first.items() if k != "function"})
    return cfg


class TraceTask(ConfigurableTask):
    """A generative lm-eval task with trace metrics added (see the module docstring)."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not config:
            raise ValueError("TraceTask needs a task config (use it through a YAML with class: and base_task:)")
        register()  # an lm-eval that could not take our names says so here (harness/compat.py)
        super().__init__(config=wrap_config(config), **kwargs)
        metadata = self.config.metadata or {}
        self._tc_extra = extras_enabled(metadata)
        # the model's tokenizer (tc_tokenizer, else lm-eval's model args) for lengths and the budget check
        self._tc_options = failure_options(metadata, implicit_tokenizer=True)
        # (the group hooks: installed by every trace_status filter, which wrap_config builds)
        self._tc_rows: dict[str, bool | None] = {**METRICS, **(EXTRA_METRICS if self._tc_extra else {})}
        # several samples per document: the @k rows (metadata tc_k, default powers of two up to repeats),
        # none that the task names itself (humaneval_64's own pass@64 stays its own)
        self._tc_ks = k_values(int(self.config.repeats or 1), metadata.get("tc_k"))
        own = set(super().aggregation())
        self._tc_rows.update({n: hib for n, hib in at_k_names(self._tc_ks).items() if n not in own})
        metric_list = self.config.metric_list or [{"metric": "exact_match"}]
        first = metric_list[0]["metric"]
        self._tc_primary = first if isinstance(first, str) else getattr(first, "__name__", str(first))
        self._tc_said_unscored = False
        warn_thinking_args(metadata)

    def aggregation(self) -> dict[str, Any]:
        """The task's own aggregations, and ``pooled_mean`` for each of our rows."""
        return {**super().aggregation(), **dict.fromkeys(self._tc_rows, pooled_mean)}

    def higher_is_better(self) -> dict[str, Any]:
        """The task's own arrows, and ours (``None``: a length row has no arrow)."""
        return {**super().higher_is_better(), **self._tc_rows}

    def apply_filters(self) -> Any:
        """Filter as usual, each raw response carrying its request's prompt to ``trace_status``."""
        for inst in self.instances or []:
            prompt = inst.args[0] if inst.args and isinstance(inst.args[0], str) else None
            # on several ranks lm-eval pads a short rank with copies of its last request,
            # whose answers land on that request: keep the ``repeats`` it asked for
            inst.resps = [
                r
                if isinstance(r, Response)
                else Response(r, prompt, getattr(r, "finish_reason", None), getattr(r, "reasoning_tokens", None))
                for r in inst.resps[: inst.repeats or None]
            ]
        out = super().apply_filters()
        self._warn_budget()
        return out

    def _warn_budget(self) -> None:
        """One warning when responses stopped at the generation limit inside their trace."""
        items = []
        for inst in self.instances or []:
            value = next(iter(inst.filtered_resps.values()), None) if inst.filtered_resps else None
            value = value[0] if isinstance(value, list) and value else value
            if not isinstance(value, TracedAnswer):
                continue
            gen = inst.args[1] if len(inst.args) > 1 and isinstance(inst.args[1], dict) else {}
            budget = _token_budget(gen.get("max_gen_toks"))
            items += [(r, t, budget) for r, t in zip(inst.resps, value.traces, strict=False)]
        options = self._tc_options
        message = budget_warning(self.config.task or "task", items, options.length if options.tokenizer else None)
        if message:
            log.warning(message)

    def _correct(self, doc: dict, result: Any, as_list: bool) -> float | None:
        """One response scored alone, shaped as the pipeline emits (a list when it keeps
        every response: a pass@k scorer wants one)."""
        return self._correct_from(super().process_results(doc, [[result] if as_list else result]))

    def process_results(self, doc: dict, results: list[Any]) -> dict[str, Any]:
        """The task's own metrics, plus ours from the same (traced) results."""
        scores = super().process_results(doc, results)
        if not results:
            return scores
        answers = response_answers(results[0])
        as_list = isinstance(results[0], list)
        single = results[0][0] if as_list and len(results[0]) == 1 else results[0]
        if len(answers) == 1 and answers[0] is single:
            # one response, and the pipeline's output is it: the task's scores above are its own
            correct = self._correct_from(scores)
            per_response = None if correct is None else [correct]
        else:
            each = [self._correct(doc, a, as_list) for a in answers]
            per_response = None if None in each else [c for c in each if c is not None]
        scores.update(trace_metric_values(results[0], per_response))
        if self._tc_ks and len(answers) >= 2:
            valid = [r.trace is not None and r.trace.status is TraceStatus.VALID for r in answers]
            rows = at_k_values([str(a) for a in answers], valid, per_response, self._tc_ks)
            scores.update({n: v for n, v in rows.items() if n in self._tc_rows})
        if self._tc_extra:
            scores.update(extra_metric_values(results[0], per_response, self._tc_options))
            served = served_trace_tokens(results[0])
            if served is not None:  # the server's own count: exact, no re-tokenizing
                scores["trace_length_tokens"] = served
        return scores

    def _correct_from(self, scores: dict[str, Any]) -> float | None:
        """A response's correctness: the task's first metric if it scores a document by a
        number, else its first score that does (a custom ``process_results``); None when
        none does (corpus metrics such as ``bleu``: their per-document value is the item
        their aggregation takes, so no pass@1/rpass@1 rows, said once per task)."""
        correct = scores.get(self._tc_primary)
        if not is_score(correct):
            correct = next((v for v in scores.values() if is_score(v)), None)
        if correct is None:
            if scores and not self._tc_said_unscored:
                self._tc_said_unscored = True
                log.warning(
                    "%s: no pass@1/rpass@1 rows: its metrics (%s) give no per-document score (corpus-level, "
                    "such as bleu/chrf/ter); its own rows and the trace status rows are reported",
                    self.config.task, ", ".join(scores),
                )  # fmt: skip
            return None
        return float(correct)


def served_trace_tokens(pred: Any) -> Any:
    """The mean reasoning-token count the server reported (``usage.completion_tokens_details.
    reasoning_tokens``) over a document's responses with a trace, weighted by their number;
    None unless it reported one for every such response.

    >>> from lm_eval_tracecollapse.core.parse import parse_trace
    >>> ts = [parse_trace("<think>a b</think>4"), parse_trace("4")]
    >>> served_trace_tokens(TracedAnswer("4", ts, reasoning_tokens=(7, None)))
    7.0
    >>> served_trace_tokens(TracedAnswer("4", ts)) is None
    True
    """
    first = pred[0] if isinstance(pred, list) and pred else pred
    if not isinstance(first, TracedAnswer) or len(first.reasoning_tokens) != len(first.traces):
        return None
    counts = [n for t, n in zip(first.traces, first.reasoning_tokens, strict=True) if t.reasoning is not None]
    if not counts or any(n is None for n in counts):
        return None
    return Weighted(sum(n for n in counts if n is not None) / len(counts), len(counts))


def _token_budget(value: object) -> int | None:
    """``max_gen_toks`` as a positive token count (lm-eval passes it as int, float or string), else None.

    >>> _token_budget(512), _token_budget(512.0), _token_budget("512"), _token_budget("x"), _token_budget(None)
    (512, 512, 512, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        n = int(float(value))
    except (ValueError, OverflowError):  # not a number; inf
        return None
    return n if n > 0 else None
