"""Synthetic, offline stand-ins for the Hugging Face data behind lm-eval's stock tasks.

``write_offline_hub(root)`` lays small synthetic datasets out so that lm-eval's *unchanged*
stock YAMLs (``ifeval``, the ``minerva_math``, ``bbh_cot_zeroshot`` and ``mmlu_pro`` groups,
``humaneval`` and ``humaneval_64``) load them with no network; ``offline_env(root)`` gives the
environment to run ``lm_eval`` under.  ``TASK_ROWS[task]`` lists the rows lm-eval evaluates, in
``doc_id`` order, and ``GOLD[task]`` the gold answer of each, so a test can hand-write replies.

Why the *datasets* cache and not the hub cache: with ``HF_HUB_OFFLINE=1`` (which is what
``HF_DATASETS_OFFLINE=1`` sets, ``datasets/config.py``), ``dataset_module_factory`` in
``datasets/load.py`` calls ``_raise_if_offline_mode_is_enabled()`` *before* it would look up a
hub snapshot, so ``datasets--ORG--NAME/snapshots/...`` is never read; the error falls through to
``CachedDatasetModuleFactory``, which hands the ``cache`` builder
(``datasets/packaged_modules/cache/cache.py``) a folder
``HF_DATASETS_CACHE/<org>___<snake name>/<config>/<version>/<hash>/`` holding
``dataset_info.json`` and one ``<snake name>-<split>.arrow`` (Arrow stream) per split.  That is
the layout written here, by ``datasets``' own ``ArrowWriter`` and ``DatasetInfo``.

Two more things the stock tasks fetch at run time are stubbed, and documented as such:

* ``humaneval``'s ``utils.py`` calls ``evaluate.load("code_eval")``, a metric script on the hub.
  Offline, ``evaluate`` falls back to ``HF_MODULES_CACHE/evaluate_modules/metrics/
  evaluate-metric--code_eval/<64-hex>/code_eval.py``; a compact re-implementation of
  ``code_eval`` (same inputs, same unbiased pass@k, each program run in a subprocess with a
  timeout, refused unless ``HF_ALLOW_CODE_EVAL=1``) is written there.  It is *not* the hub's file.
* ``ifeval`` imports ``instructions_util``, which calls ``nltk.download("punkt_tab")`` unless
  ``nltk.data.find("tokenizers/punkt_tab")`` succeeds; an *empty* ``punkt_tab`` folder under
  ``NLTK_DATA`` stops that download.  The rows below only use instructions whose checkers need no
  punkt model (``change_case:capital_word_frequency`` would) and no ``langdetect``.

``write_slr_judge(root)`` stubs a third, on request: the SLR-Bench judge ``slr_bench_*`` loads
with ``evaluate.load`` (a compact re-implementation that runs the rule with ``swipl``; see there).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DATASETS",
    "GOLD",
    "IFEVAL_COMPLIANT",
    "SLR_JUDGE",
    "TASKS",
    "TASK_ROWS",
    "offline_env",
    "slr_judge_score",
    "write_offline_hub",
    "write_slr_judge",
]

Row = dict[str, Any]
Splits = dict[str, list[Row]]

# --------------------------------------------------------------------------- ifeval
# every key of the real google/IFEval ``kwargs`` struct; Arrow fills the unused ones with None
_IFEVAL_KWARGS = (
    "num_highlights relation num_words num_placeholders prompt_to_repeat num_paragraphs nth_paragraph first_word "
    "num_bullets section_spliter num_sections capital_relation capital_frequency keywords num_sentences "
    "forbidden_words end_phrase letter let_frequency let_relation postscript_marker language"
).split()


def _kw(**given: Any) -> Row:
    return {k: given.get(k) for k in _IFEVAL_KWARGS}


_END = "Is there anything else I can help with?"
IFEVAL_ROWS: list[Row] = [
    {
        "key": 1000,
        "prompt": "Write one sentence about the sea. Use no commas. Wrap your entire response in double quotes.",
        "instruction_id_list": ["punctuation:no_comma", "startend:quotation"],
        "kwargs": [_kw(), _kw()],
    },
    {
        "key": 1001,
        "prompt": "Write a short poem that mentions sunrise and coffee. Give it a title in double angular brackets.",
        "instruction_id_list": ["detectable_format:title", "keywords:existence"],
        "kwargs": [_kw(), _kw(keywords=["sunrise", "coffee"])],
    },
    {
        "key": 1002,
        "prompt": f"Describe a cat in at least 8 words. Finish your response with this exact phrase: {_END}",
        "instruction_id_list": ["length_constraints:number_words", "startend:end_checker"],
        "kwargs": [_kw(relation="at least", num_words=8), _kw(end_phrase=_END)],
    },
]
# a reply per row that follows every instruction (ifeval has no gold target: doc_to_target is 0)
IFEVAL_COMPLIANT = [
    '"The sea is calm and blue and quiet today."',
    "<<Morning>>\nAt sunrise I pour my coffee\nand watch the light arrive.",
    f"A cat is a small soft animal that loves long naps. {_END}",
]

# --------------------------------------------------------------------------- minerva_math
# task -> (EleutherAI/hendrycks_math config, its ``type`` column)
MATH_CONFIGS = {
    "minerva_math_algebra": ("algebra", "Algebra"),
    "minerva_math_counting_and_prob": ("counting_and_probability", "Counting & Probability"),
    "minerva_math_geometry": ("geometry", "Geometry"),
    "minerva_math_intermediate_algebra": ("intermediate_algebra", "Intermediate Algebra"),
    "minerva_math_num_theory": ("number_theory", "Number Theory"),
    "minerva_math_prealgebra": ("prealgebra", "Prealgebra"),
    "minerva_math_precalc": ("precalculus", "Precalculus"),
}


def _math_rows(kind: str, seed: int) -> list[Row]:
    rows = []
    for j in range(2):
        a, b = seed + j + 2, 3 * seed + j + 1
        rows.append(
            {
                "problem": f"What is ${a} + {b}$? ({kind})",
                "level": f"Level {j + 1}",
                "type": kind,
                "solution": f"Adding gives ${a} + {b} = {a + b}$, so the answer is $\\boxed{{{a + b}}}$.",
            }
        )
    return rows


# --------------------------------------------------------------------------- bbh (SaylorTwift/bbh, split test)
_BBH_INPUTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "bool": (("not ( True ) and ( True ) is", "False"), ("True or not False and False is", "True")),
    "yesno": (("Is the statement in this synthetic story true?", "Yes"), ("Does the synthetic plan succeed?", "No")),
    "sports": (
        ('Is the sentence plausible? "Lionel Messi scored a goal."', "yes"),
        ('Plausible? "A goalie dunked."', "no"),
    ),
    "valid": (("Is the synthetic argument deductively valid?", "valid"), ("Is this other argument valid?", "invalid")),
    "mc": (
        ("Which option is right?\nOptions:\n(A) first\n(B) second", "(A)"),
        ("Pick one.\nOptions:\n(A) x\n(B) y", "(B)"),
    ),
    "arith": (("((1 + 2) * 3 - 4) =", "5"), ("((-2 * 3) + (7 - 1)) =", "0")),
    "count": (
        ("I have an apple, a plum, and two pears. How many fruits do I have?", "4"),
        ("I have a cat. How many?", "1"),
    ),
    "dyck": (("Complete the sequence, closing all parentheses properly. Input: [ (", ") ]"), ("Input: < { [", "] } >")),
    "words": (
        ("Sort the following words alphabetically: List: pear apple fig", "apple fig pear"),
        ("List: b a", "a b"),
    ),
}
_MC = "mc"
BBH_KINDS = {
    "boolean_expressions": "bool",
    "causal_judgement": "yesno",
    "date_understanding": _MC,
    "disambiguation_qa": _MC,
    "dyck_languages": "dyck",
    "formal_fallacies": "valid",
    "geometric_shapes": _MC,
    "hyperbaton": _MC,
    "logical_deduction_five_objects": _MC,
    "logical_deduction_seven_objects": _MC,
    "logical_deduction_three_objects": _MC,
    "movie_recommendation": _MC,
    "multistep_arithmetic_two": "arith",
    "navigate": "yesno",
    "object_counting": "count",
    "penguins_in_a_table": _MC,
    "reasoning_about_colored_objects": _MC,
    "ruin_names": _MC,
    "salient_translation_error_detection": _MC,
    "snarks": _MC,
    "sports_understanding": "sports",
    "temporal_sequences": _MC,
    "tracking_shuffled_objects_five_objects": _MC,
    "tracking_shuffled_objects_seven_objects": _MC,
    "tracking_shuffled_objects_three_objects": _MC,
    "web_of_lies": "yesno",
    "word_sorting": "words",
}

# --------------------------------------------------------------------------- mmlu_pro (TIGER-Lab/MMLU-Pro)
MMLU_PRO_CATEGORIES = {
    f"mmlu_pro_{c.replace(' ', '_')}": c
    for c in [
        "biology",
        "business",
        "chemistry",
        "computer science",
        "economics",
        "engineering",
        "health",
        "history",
        "law",
        "math",
        "other",
        "philosophy",
        "physics",
        "psychology",
    ]
}
_LETTERS = "ABCDEFGHIJ"


def _mmlu_pro_split(split: str, per_category: int) -> list[Row]:
    rows: list[Row] = []
    for category in MMLU_PRO_CATEGORIES.values():
        for j in range(per_category):
            qid = len(rows) + (0 if split == "test" else 10_000)
            idx = (qid + j) % 4
            letter = _LETTERS[idx]
            cot = f"A: Let's think step by step. Option {letter} is the synthetic fact. The answer is ({letter})."
            rows.append(
                {
                    "question_id": qid,
                    "question": f"Synthetic {category} question {qid}: which option is marked correct?",
                    "options": [f"{category} option {k}" + (" (correct)" if k == idx else "") for k in range(4)],
                    "answer": letter,
                    "answer_index": idx,
                    "cot_content": cot if split == "validation" else "",
                    "category": category,
                    "src": f"synthetic-{category.replace(' ', '_')}",
                }
            )
    return rows


# --------------------------------------------------------------------------- humaneval (openai/openai_humaneval)
HUMANEVAL_ROWS: list[Row] = [
    {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(2, 3)\n'
        '    5\n    """\n',
        "canonical_solution": "    return a + b\n",
        "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n"
        "    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
        "entry_point": "add",
    },
    {
        "task_id": "HumanEval/1",
        "prompt": 'def reverse(s: str) -> str:\n    """Return s reversed.\n    >>> reverse("ab")\n'
        '    \'ba\'\n    """\n',
        "canonical_solution": "    return s[::-1]\n",
        "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n"
        "    assert candidate('ab') == 'ba'\n    assert candidate('') == ''\n",
        "entry_point": "reverse",
    },
]

# --------------------------------------------------------------------------- the datasets and the per-task view
_MMLU_PRO_TEST = _mmlu_pro_split("test", 2)
# (repo, config, {split: rows}); lm-eval passes config None for google/IFEval, TIGER-Lab/MMLU-Pro and
# openai/openai_humaneval, and the cache builder then takes the only config cached for that repo
DATASETS: list[tuple[str, str, Splits]] = [
    ("google/IFEval", "default", {"train": IFEVAL_ROWS}),
    *(
        ("EleutherAI/hendrycks_math", cfg, {"train": _math_rows(kind, 10 + i), "test": _math_rows(kind, i)})
        for i, (cfg, kind) in enumerate(MATH_CONFIGS.values())
    ),
    *(
        ("SaylorTwift/bbh", name, {"test": [{"input": text, "target": t} for text, t in _BBH_INPUTS[kind]]})
        for name, kind in BBH_KINDS.items()
    ),
    ("TIGER-Lab/MMLU-Pro", "default", {"test": _MMLU_PRO_TEST, "validation": _mmlu_pro_split("validation", 5)}),
    ("openai/openai_humaneval", "openai_humaneval", {"test": HUMANEVAL_ROWS}),
]

_BY_CONFIG = {(repo, cfg): splits for repo, cfg, splits in DATASETS}
TASK_ROWS: dict[str, list[Row]] = {
    "ifeval": IFEVAL_ROWS,
    **{t: _BY_CONFIG["EleutherAI/hendrycks_math", cfg]["test"] for t, (cfg, _) in MATH_CONFIGS.items()},
    **{f"bbh_cot_zeroshot_{n}": _BY_CONFIG["SaylorTwift/bbh", n]["test"] for n in BBH_KINDS},
    **{t: [r for r in _MMLU_PRO_TEST if r["category"] == c] for t, c in MMLU_PRO_CATEGORIES.items()},
    "humaneval": HUMANEVAL_ROWS,
    "humaneval_64": HUMANEVAL_ROWS,
}
# gold per row: minerva's normalised answer, bbh's target, mmlu_pro's letter, humaneval's
# canonical completion, ifeval's compliant reply
GOLD: dict[str, list[str]] = {
    "ifeval": IFEVAL_COMPLIANT,
    **{t: [re.findall(r"\\boxed\{(.*?)\}", r["solution"])[-1] for r in TASK_ROWS[t]] for t in MATH_CONFIGS},
    **{t: [r["target"] for r in TASK_ROWS[t]] for t in TASK_ROWS if t.startswith("bbh_")},
    **{t: [r["answer"] for r in TASK_ROWS[t]] for t in MMLU_PRO_CATEGORIES},
    "humaneval": [r["canonical_solution"] for r in HUMANEVAL_ROWS],
    "humaneval_64": [r["canonical_solution"] for r in HUMANEVAL_ROWS],
}
# what to pass to --tasks: the groups expand to the subtasks above
TASKS = ["ifeval", "minerva_math", "bbh_cot_zeroshot", "mmlu_pro", "humaneval", "humaneval_64"]

# --------------------------------------------------------------------------- the code_eval stand-in
_CODE_EVAL = '''"""Offline stand-in for the hub's evaluate-metric/code_eval (tests only)."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import datasets
import evaluate
import numpy as np


def _passes(program, timeout):
    try:
        done = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _pass_at_k(n, c, k):
    """The unbiased estimator 1 - C(n-c, k) / C(n, k), per problem."""
    return np.array(
        [1.0 if ni - ci < k else 1.0 - np.prod(1.0 - k / np.arange(ni - ci + 1, ni + 1)) for ni, ci in zip(n, c)]
    )


class CodeEval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="offline stand-in for code_eval", citation="", inputs_description="",
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("string")), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, k=[1, 10, 100], num_workers=4, timeout=3.0):
        if os.getenv("HF_ALLOW_CODE_EVAL", "0") != "1":
            raise ValueError("code_eval runs untrusted code: set HF_ALLOW_CODE_EVAL=1 to allow it")
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            futures = [[pool.submit(_passes, c + "\\n" + ref, timeout) for c in cands]
                       for cands, ref in zip(predictions, references)]
            passed = [[f.result() for f in row] for row in futures]
        n = np.array([len(p) for p in passed])
        c = np.array([sum(p) for p in passed])
        ks = [k] if isinstance(k, int) else k
        scores = {f"pass@{x}": _pass_at_k(n, c, x).mean() for x in ks if (n >= x).all()}
        results = {i: [(j, {"task_id": i, "completion_id": j, "passed": ok}) for j, ok in enumerate(p)]
                   for i, p in enumerate(passed)}
        return scores, results
'''


# --------------------------------------------------------------------------- writing
def _write_cached_dataset(cache_dir: Path, repo: str, config: str, splits: Splits) -> Path:
    """Write one config of ``repo`` where ``datasets``' offline ``cache`` builder finds it."""
    import datasets
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter
    from datasets.naming import camelcase_to_snakecase, filename_prefix_for_split

    org, name = repo.split("/")
    snake = camelcase_to_snakecase(name)  # what CachedDatasetModuleFactory and the builder both use
    commit = hashlib.sha1(f"{repo}@{config}".encode()).hexdigest()  # stands in for the hub commit
    folder = cache_dir / f"{org}___{snake}" / config / "0.0.0" / commit
    folder.mkdir(parents=True, exist_ok=True)
    split_dict = datasets.SplitDict(dataset_name=snake)
    schema: pa.Schema | None = None
    for split, rows in splits.items():
        table = pa.Table.from_pylist(rows, schema=schema)  # every split shares the first one's schema
        schema = table.schema
        features = datasets.Features.from_arrow_schema(schema)
        with ArrowWriter(features=features, path=str(folder / f"{filename_prefix_for_split(snake, split)}.arrow")) as w:
            w.write_table(table)
            count, size = w.finalize()
        split_dict.add(datasets.SplitInfo(name=split, num_bytes=size, num_examples=count, dataset_name=snake))
    info = datasets.DatasetInfo(
        description="synthetic offline test data", features=features, config_name=config, dataset_name=snake
    )
    info.splits = split_dict
    info.write_to_directory(str(folder))
    return folder


def _write_code_eval(modules_cache: Path) -> Path:
    """Put the ``code_eval`` stand-in where ``evaluate``'s ``CachedEvaluationModuleFactory`` looks."""
    base = modules_cache / "evaluate_modules"
    folder = base / "metrics" / "evaluate-metric--code_eval" / hashlib.sha256(_CODE_EVAL.encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    for init in (base, base / "metrics", folder.parent, folder):
        (init / "__init__.py").touch()
    (folder / "code_eval.py").write_text(_CODE_EVAL, encoding="utf-8")
    return folder


def write_offline_hub(root: Path, datasets: list[tuple[str, str, Splits]] | None = None) -> Path:
    """Write every dataset in ``datasets`` (default ``DATASETS``; ``(repo, config, {split:
    rows})``) and the two stubs under ``root``; return ``root``.

    Run it once per root; ``offline_env(root)`` then points lm-eval at it.
    """
    env = offline_env(root, base={})
    for repo, config, splits in DATASETS if datasets is None else datasets:
        _write_cached_dataset(Path(env["HF_DATASETS_CACHE"]), repo, config, splits)
    _write_code_eval(Path(env["HF_MODULES_CACHE"]))
    (Path(env["NLTK_DATA"]) / "tokenizers" / "punkt_tab").mkdir(parents=True, exist_ok=True)  # see module doc
    Path(env["HF_HUB_CACHE"]).mkdir(parents=True, exist_ok=True)
    return root


def offline_env(root: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment under which lm-eval reads only ``root`` (``base`` defaults to ``os.environ``).

    ``datasets``, ``huggingface_hub`` and ``evaluate`` read these when first imported, so give them
    to a subprocess (``lm_eval run ...``), not to ``os.environ`` of a process that imported them.
    ``HF_ALLOW_CODE_EVAL=1`` is set because humaneval's scorer refuses to run without it; lm-eval
    still wants ``--confirm_run_unsafe_code`` for humaneval.
    """
    home = Path(root) / "hf_home"
    env = dict(os.environ if base is None else base)
    env.update(
        HF_HOME=str(home),
        HF_HUB_CACHE=str(home / "hub"),
        HF_DATASETS_CACHE=str(home / "datasets"),
        HF_MODULES_CACHE=str(home / "modules"),
        HF_EVALUATE_CACHE=str(home / "evaluate"),
        HF_METRICS_CACHE=str(home / "metrics"),
        NLTK_DATA=str(Path(root) / "nltk_data"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_EVALUATE_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_ALLOW_CODE_EVAL="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


# --------------------------------------------------------------------------- the SLR-Bench judge stand-in
#: the evaluate module lm-eval's slr_bench tasks load (``lm_eval/tasks/slr_bench/lm_eval_slr_bench.py``)
SLR_JUDGE = "AIML-TUDA/VerifiableRewardsForScalableLogicalReasoning"
# appended to the validation program, whose examples are renamed tc_pos/tc_neg (POS: the positive predicate)
_SLR_CHECK = """
:- dynamic(POS/1).
tc_example(T) :- tc_pos(T).
tc_example(T) :- tc_neg(T).
tc_right(T) :- tc_pos(T), POS(T).
tc_right(T) :- tc_neg(T), not(POS(T)).
tc_main :- aggregate_all(count, tc_example(_), N),
    aggregate_all(count, (tc_example(T), once(tc_right(T))), C),
    format("tc_result ~w ~w~n", [C, N]).
"""


def _slr_clauses(text: str, positive: str) -> list[str]:
    """Every clause ``positive(...) :- ... .`` in ``text`` (Prolog comments dropped), in order."""
    text = re.sub(r"%[^\n]*", "", text)
    return re.findall(r"\b" + re.escape(positive) + r"\([^()]*\)\s*:-.*?\.(?=\s|$)", text, re.S)


def slr_judge_score(prediction: str, reference: Mapping[str, Any], timeout: float) -> tuple[float, bool]:
    """(share of the examples classified right, all of them right) of one prediction: its clauses
    for the positive predicate, run by ``swipl`` against the reference's validation program."""
    import os
    import subprocess
    import tempfile

    config = reference.get("evaluation_config") or {}
    pos = config.get("positive_predicate") or "eastbound"
    neg = config.get("negative_predicate") or "westbound"
    rules = _slr_clauses(prediction, pos)
    if not rules:
        return 0.0, False
    program = re.sub(r"\b" + re.escape(pos) + r"\(", "tc_pos(", reference["validation_program"])
    program = re.sub(r"\b" + re.escape(neg) + r"\(", "tc_neg(", program)
    source = ":- style_check(-singleton).\n:- style_check(-discontiguous).\n" + program
    source += _SLR_CHECK.replace("POS", pos) + "\n".join(rules) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "judge.pl")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(source)
        try:
            cmd = ["swipl", "-q", "-g", "tc_main", "-t", "halt", path]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 0.0, False
    found = re.search(r"tc_result (\d+) (\d+)", done.stdout)
    if not found or int(found.group(2)) == 0:
        return 0.0, False
    right, total = int(found.group(1)), int(found.group(2))
    return right / total, right == total


_SLR_METRIC = """
class VerifiableRewardsForScalableLogicalReasoning(evaluate.Metric):
    def _info(self):
        config = {"positive_predicate": datasets.Value("string"), "negative_predicate": datasets.Value("string")}
        return evaluate.MetricInfo(
            description="offline stand-in for the SLR symbolic judge", citation="", inputs_description="",
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": {"validation_program": datasets.Value("string"), "evaluation_config": config},
                }
            ),
        )

    def _compute(self, predictions, references, timeout=10):
        scores = [slr_judge_score(p, r, timeout) for p, r in zip(predictions, references)]
        n = max(len(scores), 1)
        return {
            "accuracy": sum(float(ok) for _, ok in scores) / n,
            "partial_score": sum(share for share, _ in scores) / n,
        }
"""


def _slr_judge_source() -> str:
    """The stand-in's module: the two functions above, verbatim, in an ``evaluate.Metric``."""
    import inspect

    head = (
        f'"""Offline stand-in for the hub\'s {SLR_JUDGE}\n'
        "(tests only, written by tests/offline_hub.py).  Same inputs as the hub's symbolic judge\n"
        '(predictions: text holding a Prolog rule; references: {"validation_program", "evaluation_config":\n'
        '{"positive_predicate", "negative_predicate"}}) and its "accuracy": the share of predictions whose\n'
        'rule, run by SWI-Prolog, holds for every positive example and for no negative one."""\n\n'
        "from __future__ import annotations\n\nimport re\nfrom collections.abc import Mapping\n"
        "from typing import Any\n\nimport datasets\nimport evaluate\n\n"
    )
    body = "\n\n".join(inspect.getsource(f) for f in (_slr_clauses, slr_judge_score))
    return head + f"_SLR_CHECK = {_SLR_CHECK!r}\n\n\n" + body + "\n" + _SLR_METRIC


def write_slr_judge(root: Path) -> Path:
    """Put the SLR-Bench judge stand-in where ``evaluate.load(SLR_JUDGE)`` finds it offline.

    lm-eval's ``slr_bench_*`` tasks load the hub's judge when their hook module is imported
    (and fall back to exact match on the ground-truth rule, printing a warning, if that fails).
    Offline, ``evaluate``'s ``CachedEvaluationModuleFactory`` reads a community module from
    ``HF_MODULES_CACHE/evaluate_modules/metrics/<org>--<name>/<64-hex>/<name>.py``: a compact
    re-implementation (:func:`slr_judge_score`: the rule's clauses run by ``swipl`` against the
    validation program) is written there.  It is *not* the hub's file.  Returns its folder.
    """
    source = _slr_judge_source()
    org, name = SLR_JUDGE.split("/")
    base = Path(offline_env(root, base={})["HF_MODULES_CACHE"]) / "evaluate_modules"
    folder = base / "metrics" / f"{org}--{name}" / hashlib.sha256(source.encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    for init in (base, base / "metrics", folder.parent, folder):
        (init / "__init__.py").touch()
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return folder
