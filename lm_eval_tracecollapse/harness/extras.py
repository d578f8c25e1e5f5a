"""Which pip extra a base task needs when its hook modules fail to import.

lm-eval keeps the third-party packages of many task families out of its core
dependencies and behind extras (``lm-eval[ifeval]``, ``lm-eval[longbench]``, ...).
A wrapped task whose base task's ``!function`` hooks cannot be imported then fails
with a bare ``ModuleNotFoundError`` deep inside lm-eval's YAML loader.
:func:`missing_package_message` turns that error into one line naming the package,
the task and the install command; our extras mirror lm-eval 0.4.13's (see
``docs/extras.md`` and ``[project.optional-dependencies]`` in ``pyproject.toml``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["MODULE_REQUIREMENTS", "MissingExtraError", "Requirement", "extra_install", "extra_packages",
           "missing_module", "missing_package_message"]  # fmt: skip


class MissingExtraError(ImportError):
    """A wrapped task's hooks need a package that is not installed; the message is
    :func:`missing_package_message`'s one line (``tracecollapse eval`` prints just it)."""


DIST = "lm-eval-tracecollapse"


class Requirement(NamedTuple):
    """What provides an importable module: the PyPI package and the extra carrying it."""

    package: str
    """pip requirement that provides the module (the PyPI name may differ from the module's)"""
    extra: str | None
    """extra that installs it, or ``None`` when no extra does (a plain ``pip install``)"""
    lm_eval_extra: bool = False
    """``True``: ``extra`` is lm-eval's (a family we do not mirror), not ours"""


# top-level import name -> what installs it.  Ours mirror lm-eval 0.4.13's extras for the
# families our users run; the rest point at lm-eval's own extra, or at the bare package.
MODULE_REQUIREMENTS: dict[str, Requirement] = {
    # math (minerva_math*, hendrycks_math*, leaderboard_math): in our core dependencies too
    "antlr4": Requirement("antlr4-python3-runtime==4.11.0", "math"),
    "sympy": Requirement("sympy>=1.12", "math"),
    "math_verify": Requirement("math-verify[antlr4_11_0]", "math"),
    "latex2sympy2_extended": Requirement("math-verify[antlr4_11_0]", "math"),
    # ifeval
    "langdetect": Requirement("langdetect", "ifeval"),
    "immutabledict": Requirement("immutabledict", "ifeval"),
    "nltk": Requirement("nltk>=3.9.1", "ifeval"),
    "absl": Requirement("absl-py", None),  # ifeval; lm-eval core has it (through rouge-score)
    # leaderboard_ifeval imports pkg_resources, which setuptools 82 removed
    "pkg_resources": Requirement("setuptools<82", "leaderboard"),
    # longbench
    "jieba": Requirement("jieba", "longbench"),
    "fuzzywuzzy": Requirement("fuzzywuzzy", "longbench"),
    "rouge": Requirement("rouge", "longbench"),
    # ruler
    "wonderwords": Requirement("wonderwords", "ruler"),
    "scipy": Requirement("scipy", "ruler"),
    # jsonschema_bench
    "jsonschema": Requirement("jsonschema", "jsonschema"),
    # families we do not mirror: lm-eval's own extras
    "emoji": Requirement("emoji", "japanese_leaderboard", lm_eval_extra=True),
    "neologdn": Requirement("neologdn", "japanese_leaderboard", lm_eval_extra=True),
    "fugashi": Requirement("fugashi[unidic-lite]", "japanese_leaderboard", lm_eval_extra=True),
    "nagisa": Requirement("nagisa", "multilingual", lm_eval_extra=True),
    "pycountry": Requirement("pycountry", "multilingual", lm_eval_extra=True),
    "statsmodels": Requirement("statsmodels", "discrim_eval", lm_eval_extra=True),
    "unitxt": Requirement("unitxt", "unitxt", lm_eval_extra=True),
    "lark": Requirement("lark", "acpbench", lm_eval_extra=True),
    "tarski": Requirement("tarski[clingo]", "acpbench", lm_eval_extra=True),
    "pddl": Requirement("pddl", "acpbench", lm_eval_extra=True),
    "kstar_planner": Requirement("kstar-planner", "acpbench", lm_eval_extra=True),
    # no extra anywhere: the package itself (names that differ from the module's)
    "pymorphy3": Requirement("pymorphy3", None),  # libra; lm-eval's [libra] installs pymorphy2
    "spacy": Requirement("spacy", None),  # ifeval_ca / ifeval_es
    "iso639": Requirement("python-iso639", None),  # ifeval_ca / ifeval_es
    "bert_score": Requirement("bert-score", None),
    "bs4": Requirement("beautifulsoup4", None),
    "sklearn": Requirement("scikit-learn", None),
    "yaml": Requirement("pyyaml", None),
    "evaluate": Requirement("evaluate", None),
}

_NO_MODULE = re.compile(r"No module named '([^']+)'")
# lm-eval's minerva_math utils re-raise a wrong antlr4 version as this (an AssertionError)
_ANTLR_PIN = re.compile(r"antlr4-python3-runtime\s*==\s*4\.11")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during (``__cause__``/``__context__``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo += [cur.__cause__, cur.__context__]
    return seen


def missing_module(exc: BaseException) -> str | None:
    """The top-level module ``exc`` (or an exception it chains) failed to import, if it names one.

    lm-eval often re-raises with a message of its own (``raise ImportError("...") from e``,
    or ``raise type(e)(...)``, which loses ``.name``), so the whole chain is searched.
    A wrong ``antlr4-python3-runtime`` version (minerva_math's assert) counts as ``antlr4``.
    """
    chain = _chain(exc)
    for e in chain:
        name = getattr(e, "name", None) if isinstance(e, ImportError) else None
        if name:
            return str(name).split(".")[0]
    for e in chain:
        found = _NO_MODULE.search(str(e))
        if found:
            return found.group(1).split(".")[0]
    for e in chain:
        if _ANTLR_PIN.search(str(e)):
            return "antlr4"
    return None


def missing_package_message(exc: BaseException, task: str) -> str:
    """One line: which package ``task`` is missing, and the pip command that installs it.

    ``exc`` is what importing the base task's hooks raised: usually a
    ``ModuleNotFoundError``/``ImportError``; minerva_math's wrong-antlr4 ``AssertionError``
    is recognised too.  Modules without a known extra get a plain ``pip install``.
    (The examples wrap the line in two; the message itself has no newline.)

    lm-eval-tracecollapse is on no package index, so an extra of ours is named by its
    packages (:func:`extra_install`), which ``pip install`` finds however this package was
    installed, with the extra itself for a checkout.

    >>> exc = ModuleNotFoundError("No module named 'langdetect'", name="langdetect")
    >>> print(missing_package_message(exc, "ifeval_tc"))
    task ifeval_tc needs the Python package langdetect (module langdetect is not installed):
    pip install "langdetect" "immutabledict" "nltk>=3.9.1" (our [ifeval] extra; from a checkout:
    pip install -e ".[ifeval]")
    >>> print(missing_package_message(ImportError("No module named 'emoji'"), "ja_leaderboard_tc"))
    task ja_leaderboard_tc needs the Python package emoji (module emoji is not installed):
    pip install "lm-eval[japanese_leaderboard]"
    """
    module = missing_module(exc)
    if module is None:
        detail = " ".join(str(exc).split())  # one line, whatever the message holds
        return f"task {task} failed to import one of its hooks ({type(exc).__name__}: {detail})"
    req = MODULE_REQUIREMENTS.get(module)
    if module == "antlr4" and not isinstance(exc, ImportError):
        what = "antlr4-python3-runtime==4.11.0 (another antlr4 version is installed)"
    elif req is None:
        what = f"{module} (module {module} is not installed; its PyPI name may differ)"
    else:
        what = f"{req.package} (module {module} is not installed)"
    if req is None or req.extra is None:
        pkg = req.package if req is not None else module
        cmd = f'pip install "{pkg}"'
    elif req.lm_eval_extra:
        cmd = f'pip install "lm-eval[{req.extra}]"'
    else:
        cmd = extra_install(req.extra, req.package)
    return f"task {task} needs the Python package {what}: {cmd}"


def extra_packages(extra: str) -> list[str]:
    """The requirements our extra ``extra`` installs, from this package's metadata ([] when
    the metadata is not there: run from a source tree that was never installed).

    >>> extra_packages("ifeval")
    ['langdetect', 'immutabledict', 'nltk>=3.9.1']
    """
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement as PipRequirement

    try:
        listed = requires(DIST) or []
    except PackageNotFoundError:
        return []
    found = []
    for line in listed:
        req = PipRequirement(line)
        if req.marker is not None and req.marker.evaluate({"extra": extra}) and not req.marker.evaluate({"extra": ""}):
            req.marker = None
            found.append(str(req))
    return found


def extra_install(extra: str, package: str) -> str:
    """The install line of our extra ``extra`` (``package``: the one a task misses, when the
    metadata cannot list the extra's).

    >>> extra_install("ruler", "wonderwords")
    'pip install "nltk" "wonderwords" "scipy" (our [ruler] extra; from a checkout: pip install -e ".[ruler]")'
    """
    packages = extra_packages(extra) or [package]
    listed = " ".join(f'"{p}"' for p in packages)
    return f'pip install {listed} (our [{extra}] extra; from a checkout: pip install -e ".[{extra}]")'
