"""Extras and the stock tasks we wrap: the missing-package message, the antlr4 pin that lets
lm-eval's minerva_math utils and our math grader live in one venv, and every wrapper's base
task hooks importable in this venv."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lm_eval.tasks
import pytest
import tomllib
from lm_eval.tasks._yaml_loader import load_yaml
from packaging.requirements import Requirement as PipRequirement

from lm_eval_tracecollapse.harness.extras import (
    MODULE_REQUIREMENTS,
    extra_packages,
    missing_module,
    missing_package_message,
)
from lm_eval_tracecollapse.scoring.math_grade import grade_math

ROOT = Path(__file__).resolve().parent.parent
WRAPPERS = sorted((ROOT / "task_yamls" / "wrappers").glob("*.yaml"))
STOCK = Path(lm_eval.tasks.__file__).resolve().parent
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
# humaneval's and mbpp's stock utils.py load HF evaluate's code_eval from the hub when
# imported; our wrappers replace every key whose hooks live there (metric_list, and
# humaneval's filter_list / mbpp's fewshot_config), so those hooks are never resolved
HUB_HOOK_TASKS = {"humaneval", "mbpp"}


# --- the message ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("langdetect", "ifeval"),
        ("immutabledict", "ifeval"),
        ("nltk", "ifeval"),
        ("antlr4", "math"),
        ("jieba", "longbench"),
        ("fuzzywuzzy", "longbench"),
        ("wonderwords", "ruler"),
        ("jsonschema", "jsonschema"),
    ],
)
def test_message_names_our_extra(module: str, extra: str) -> None:
    msg = missing_package_message(ModuleNotFoundError(f"No module named '{module}'", name=module), "some_tc")
    assert "\n" not in msg
    assert "some_tc" in msg and f"module {module} " in msg
    # lm-eval-tracecollapse is on no index: the extra's packages by name, and the extra from a checkout
    assert msg.endswith(f'(our [{extra}] extra; from a checkout: pip install -e ".[{extra}]")'), msg
    packages = " ".join(f'"{p}"' for p in extra_packages(extra))
    assert packages and f": pip install {packages} (our" in msg
    assert f"lm-eval-tracecollapse[{extra}]" not in msg


def test_message_lm_eval_extra_and_plain_package() -> None:
    msg = missing_package_message(ModuleNotFoundError("x", name="fugashi"), "ja_tc")
    assert msg.endswith('pip install "lm-eval[japanese_leaderboard]"')
    msg = missing_package_message(ModuleNotFoundError("x", name="iso639.language"), "ifeval_es_tc")
    assert "module iso639 " in msg and msg.endswith('pip install "python-iso639"')
    msg = missing_package_message(ModuleNotFoundError("x", name="someunknownpkg"), "t")
    assert "PyPI name may differ" in msg and msg.endswith('pip install "someunknownpkg"')


def test_message_sees_through_lm_evals_reraise() -> None:
    """longbench's metrics.py and minerva's utils.py re-raise with their own message."""
    try:
        try:
            import jieba_not_here  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise ImportError("Please install the required dependencies for this task") from None
    except ImportError as exc:
        # `from None` hides the cause from tracebacks but it is still __context__
        assert missing_module(exc) == "jieba_not_here"
    try:
        try:
            import langdetect_not_here  # type: ignore[import-not-found]  # noqa: F401
        except ModuleNotFoundError as e:
            raise type(e)("`sympy`, `math_verify` and ... are required") from e
    except ModuleNotFoundError as exc:
        assert exc.name is None and missing_module(exc) == "langdetect_not_here"


def test_message_wrong_antlr4_version() -> None:
    exc = AssertionError("`sympy`, `math_verify` and `antlr4-python3-runtime==4.11` are required for ...")
    msg = missing_package_message(exc, "minerva_math500_tc")
    assert "antlr4-python3-runtime==4.11.0" in msg and msg.endswith('pip install -e ".[math]")')
    assert 'pip install "sympy>=1.12" "antlr4-python3-runtime==4.11.0"' in msg


def test_message_without_module_is_one_line() -> None:
    msg = missing_package_message(ImportError("cannot import\nname 'x'"), "t")
    assert "\n" not in msg and "t failed to import" in msg


def _name(req: str) -> str:
    return PipRequirement(req).name.lower().replace("_", "-")


def test_mapping_matches_pyproject_extras() -> None:
    for module, req in MODULE_REQUIREMENTS.items():
        if req.extra is None or req.lm_eval_extra:
            continue
        assert req.extra in EXTRAS, f"{module}: extra {req.extra!r} missing from pyproject.toml"
        assert _name(req.package) in {_name(r) for r in EXTRAS[req.extra]}, (module, req)
    families = ("math", "ifeval", "leaderboard", "longbench", "ruler", "jsonschema")
    union = {_name(r) for fam in families for r in EXTRAS[fam]}
    assert {_name(r) for r in EXTRAS["all-tasks"]} == union


# --- math: lm-eval's minerva utils and our grader in the same venv --------------------------


def test_antlr4_pin() -> None:
    assert version("antlr4-python3-runtime").startswith("4.11")


def test_minerva_utils_import_and_grade() -> None:
    import datasets
    from lm_eval.tasks.minerva_math import utils

    assert utils.is_equiv("\\frac{1}{2}", "0.5")
    assert utils.is_equiv("\\frac12", "\\frac{1}{2}")
    assert not utils.is_equiv("\\frac{1}{3}", "0.5")
    raw = {"problem": "What is 1/2?", "solution": "It is $\\boxed{\\frac{1}{2}}$."}
    doc = utils.process_docs(datasets.Dataset.from_list([raw]))[0]
    assert doc["answer"] == "\\frac{1}{2}"
    good = utils.process_results(doc, ["Final Answer: The final answer is $\\frac12$. I hope it is correct."])
    assert good == {"exact_match": 1, "math_verify": 1}
    assert utils.process_results(doc, ["so \\boxed{0.5}"])["math_verify"] == 1
    assert utils.process_results(doc, ["Final Answer: The final answer is $3$. I hope it is correct."]) == {
        "exact_match": 0,
        "math_verify": 0,
    }


def test_hendrycks_utils_grade() -> None:
    from lm_eval.tasks.hendrycks_math import utils

    doc = {"problem": "x", "solution": "So $\\boxed{\\frac{1}{2}}$."}
    assert utils.process_results(doc, ["The answer is $\\frac{1}{2}$"]) == {"exact_match": 1}


def test_our_math_grader_same_venv() -> None:
    from lm_eval.tasks.minerva_math import utils  # noqa: F401  (both loaded in one process)

    grade = grade_math("\\boxed{\\frac12}", "0.5")
    assert grade.correct and grade.method == "math-verify"
    assert grade_math("\\boxed{2\\sqrt{2}}", "\\sqrt{8}").correct
    assert not grade_math("\\boxed{\\frac13}", "0.5").correct


# --- every wrapper's base task resolves its hooks here --------------------------------------


def _stock_yaml(task: str) -> Path:
    pattern = re.compile(rf"^task:\s*['\"]?{re.escape(task)}['\"]?\s*$", re.MULTILINE)
    hits = [p for p in STOCK.rglob("*.yaml") if pattern.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert len(hits) == 1, f"{task}: stock YAML {hits}"
    return hits[0]


def _hooks(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(key path, module.function) of each ``!function`` in a config loaded unresolved."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _hooks(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _hooks(v, f"{where}[{i}]")
    elif isinstance(node, str) and node.startswith(str(STOCK)):
        yield where, node


def _resolved(node: Any, where: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", where):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=[p.stem for p in WRAPPERS])
def test_wrapper_base_task_hooks_import(wrapper: Path) -> None:
    ours = load_yaml(wrapper, resolve_func=False)
    base = str(ours["base_task"])
    stock = _stock_yaml(base)
    hooks = list(_hooks(load_yaml(stock, resolve_func=False)))
    if base in HUB_HOOK_TASKS:
        replaced = set(ours) - {"metadata"}
        kept = [(where, fn) for where, fn in hooks if where.split(".")[0].split("[")[0] not in replaced]
        assert kept == [], f"{base}: hooks outside the keys {wrapper.name} replaces: {kept}"
        pytest.skip(f"{base}: its hooks import HF evaluate's code_eval from the hub; {wrapper.name} replaces them")
    try:
        config = load_yaml(stock, resolve_func=True)
    except ImportError as exc:
        pytest.fail(missing_package_message(exc, str(ours["task"])))
    for where, fn in hooks:
        assert callable(_resolved(config, where)), f"{base}: {where} = {fn}"
