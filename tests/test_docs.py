"""Every command and Python block of the README and ``docs/*.md`` is exercised, so the docs
cannot go stale.

The snippets that run here carry ``<!-- readme-test: … -->`` markers and are run by
``tests/test_readme.py`` (``command``: run, output compared; ``pycon``: doctest; the YAML
and masking snippets).  This module adds the markers for what cannot run on a CPU in a
test (a GPU, the dataset/model hub, a server, minutes of training):

* ``<!-- readme-test: runs -->`` — each line runs (``tracecollapse …``) and exits 0; its
  output is not compared;
* ``<!-- readme-test: not run: <why> -->`` — nothing runs, but each command is checked as
  far as a CPU allows: ``tracecollapse`` and ``lm_eval`` arguments parse with their real
  parsers, ``--model`` names are registered with lm-eval, every ``--tasks`` name resolves
  (``*_tc`` names through :func:`lm_eval_tracecollapse.harness.wrap.resolve_wrapped`), a study
  config loads, a ``pip install`` extra exists, a ``make`` target exists; ``vllm serve``
  lines are only counted.  Each command is its own test case (``not run: …`` in its id),
  so ``pytest -v`` lists them and the count is in the summary;
* ``<!-- readme-test: imports -->`` — a Python block that needs your model and data: it
  compiles and its imports run.

``test_every_command_and_python_block_is_marked`` fails on any shell or Python block of
the README or ``docs/`` without a marker.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import sys
from importlib.metadata import metadata
from pathlib import Path
from typing import Any

import pytest
from testenv import REPO, run_tracecollapse, seeded_cache

#: docs/study.md is being written by the study's author; its commands are tested in tests/test_study.py
UNMARKED_OK = {"docs/study.md"}
PAGES = {
    str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
    for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
}
FENCE = re.compile(
    r"(?:<!-- readme-test: (?P<kind>[^>]*?) -->\n)?^(?P<indent> *)```(?P<lang>[a-z]*)\n(?P<body>.*?)\n(?P=indent)```",
    re.S | re.M,
)
SHELL = {"bash", "sh", "shell", "console"}


def fenced(kind: str | None = None) -> list[tuple[str, str, str, str | None]]:
    """(page, lang, body, marker) of every fenced block, or of those marked ``kind…``."""
    found = []
    for page, text in PAGES.items():
        for m in FENCE.finditer(text):
            body = "\n".join(line[len(m["indent"]) :] for line in m["body"].split("\n"))
            if kind is None or (m["kind"] or "").startswith(kind):
                found.append((page, m["lang"], body, m["kind"]))
    return found


def shell_lines(body: str) -> list[str]:
    """The commands of a shell block: continuations joined, comments and prompts dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.split("\n"):
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        out.append(re.split(r"\s+#\s", line)[0].strip())
    return out


def _is_command_block(lang: str, body: str) -> bool:
    return lang in SHELL or any(line.startswith("$ ") for line in body.split("\n"))


#: marker kinds: run by tests/test_readme.py, checked here, or a quotation (nothing to run)
KINDS = (
    "command",
    "pycon",
    "wrapper-yaml",
    "edited-yaml",
    "python (tokenizer, model: yours)",
    "python (data, tokenizer, model, args, prompts, golds: yours)",
    "runs",
    "imports",
    "not run: ",
    "quoted from ",
)


def test_every_marker_is_known() -> None:
    unknown = [f"{page}: {kind}" for page, _, _, kind in fenced() if kind and not kind.startswith(KINDS)]
    assert not unknown, unknown


def test_every_command_and_python_block_is_marked() -> None:
    unmarked = [
        f"{page}: {body.splitlines()[0][:70]}"
        for page, lang, body, kind in fenced()
        if kind is None and page not in UNMARKED_OK and (lang in {"python", "pycon"} or _is_command_block(lang, body))
    ]
    assert not unmarked, "blocks without a readme-test marker:\n" + "\n".join(unmarked)


# --- not run: parse and resolve -----------------------------------------------------------


def _not_run() -> list[Any]:
    cases = []
    for page, _, body, kind in fenced("not run"):
        for command in shell_lines(body):
            # resolving task names builds lm-eval's task index once (seconds): slow
            slow = " eval " in f" {command} " or command.startswith("lm_eval ")
            marks = [pytest.mark.slow] if slow else []
            cases.append(pytest.param(command, id=f"{kind} | {page} | {command[:60]}", marks=marks))
    return cases


class _Parsed(Exception):
    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_cache(tmp_path_factory.mktemp("tc_cache"))


def _parse_tracecollapse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """The namespace the first ``parse_args`` of ``tracecollapse ARGV`` gives; nothing runs."""
    from lm_eval_tracecollapse import cli

    original = argparse.ArgumentParser.parse_args

    def parse_and_stop(self: argparse.ArgumentParser, *a: Any, **kw: Any) -> argparse.Namespace:
        raise _Parsed(original(self, *a, **kw))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(_Parsed) as parsed:
        cli.main(argv)
    return parsed.value.ns


def _models() -> set[str]:
    import lm_eval.models  # noqa: F401  (lm-eval's own names)
    from lm_eval.api.registry import model_registry

    import lm_eval_tracecollapse  # noqa: F401  (ours)

    return set(model_registry.keys())


def _check_tasks(tasks: str, include: list[str]) -> None:
    from lm_eval_tracecollapse.cli import task_yamls_dir
    from lm_eval_tracecollapse.harness.task_index import task_index
    from lm_eval_tracecollapse.harness.wrap import resolve_wrapped

    roots = [str(task_yamls_dir()), *include]
    names = [t for t in tasks.split(",") if t]
    index = task_index(roots)
    resolve_wrapped(names, roots)  # raises naming a _tc name that cannot be wrapped
    for name in names:
        assert name in index or name.endswith("_tc"), f"task {name} is not in lm-eval's index"


def _check_eval(ns: argparse.Namespace, wrapped: dict[str, list[str]]) -> None:
    assert ns.command == "run"
    assert ns.model in _models(), f"--model {ns.model} is not registered"
    include = [ns.include_path] if getattr(ns, "include_path", None) else []
    # a folder a `tracecollapse wrap … --out DIR` line of the same page wrote
    include = [p for p in include if p not in wrapped]
    tasks = ns.tasks if isinstance(ns.tasks, str) else ",".join(ns.tasks)
    _check_tasks(tasks, include)


@pytest.mark.parametrize("command", _not_run())
def test_not_run_command_parses_and_resolves(command: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECOLLAPSE_CACHE", str(cache))
    argv = shlex.split(command)
    if argv[:2] == ["accelerate", "launch"]:
        i = argv.index("-m")
        assert argv[i + 1] == "lm_eval_tracecollapse"
        argv = ["tracecollapse", *argv[i + 2 :]]
    head = argv[0]
    if head == "vllm":
        assert argv[1] == "serve"  # a server: counted, not run
    elif head == "pip":
        extras = metadata("lm-eval-tracecollapse").get_all("Provides-Extra") or []
        for spec in [a for a in argv[2:] if a != "-e"]:
            # from a checkout (".", ".[extra]": the package is on no index), or by name with an extra
            m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?|lm-eval-tracecollapse\[([\w,-]+)\]", spec)
            assert m, spec
            for extra in filter(None, (m[1] or m[2] or "").split(",")):
                assert extra in extras, f"no extra {extra!r}"
    elif head == "make":
        makefile = (REPO / "Makefile").read_text()
        for target in [a for a in argv[1:] if "=" not in a]:
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target}"
    elif head == "lm_eval":
        from lm_eval._cli import HarnessCLI

        monkeypatch.setattr(sys, "argv", ["lm_eval", *(["run"] if argv[1].startswith("-") else []), *argv[1:]])
        _check_eval(HarnessCLI().parse_args(), {"my_tc": []})
    elif head == "tracecollapse":
        ns = _parse_tracecollapse(argv[1:], monkeypatch)
        if argv[1] == "eval":
            _check_eval(ns, {})
        elif argv[1] == "study":
            from lm_eval_tracecollapse.study import load_config

            load_config(ns.config)
        elif argv[1] == "probe" and ns.paraphrase_model:
            assert ns.paraphrase_model in _models()
    else:
        pytest.fail(f"a not-run command this test does not know how to check: {command}")


# --- runs: exit 0 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [c for _, _, body, _ in fenced("runs") for c in shell_lines(body)], ids=lambda c: c[:60]
)
def test_runs_command_exits_0(command: str, tmp_path: Path) -> None:
    run = run_tracecollapse(shlex.split(command), tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


# --- imports: compiles, imports run --------------------------------------------------------


@pytest.mark.parametrize(
    "page,body",
    [(page, body) for page, _, body, _ in fenced("imports")],
    ids=lambda x: x.splitlines()[0][:50] if "\n" in x else x,
)
def test_python_block_compiles_and_imports(page: str, body: str) -> None:
    tree = ast.parse(body, filename=page)
    imports = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    namespace: dict[str, Any] = {}
    exec(compile(imports, page, "exec"), namespace)
    if not imports.body:  # a signature block: the functions it calls are the package's
        import lm_eval_tracecollapse

        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert called and all(hasattr(lm_eval_tracecollapse, name) for name in called), called


def test_performance_figures_are_the_last_bench_run() -> None:
    """docs/performance.md shows, for every benchmark, exactly the output ``make bench`` last
    wrote to benchmarks/results/ (committed): no figure there is typed or stale."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import run_all

    page = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    for name in run_all.benchmarks():
        result = REPO / "benchmarks" / "results" / f"{name}.txt"
        assert result.is_file(), f"{name}: no benchmarks/results/{name}.txt: run `make bench`"
        if name in run_all.OWN_DOCS:
            continue  # it writes its own tables (--write-docs)
        shown = run_all.block(page, name)
        assert shown is not None, f"docs/performance.md has no block for {name}"
        assert shown == run_all.fence(result.read_text(encoding="utf-8")), (
            f"docs/performance.md's {name} block is not benchmarks/results/{name}.txt: run `make bench`"
        )


#: a duration as a page would type one: a number and a unit of time
DURATION = re.compile(r"(?<![\w.])\d[\d,.]*\s?(?:s|secs?|seconds?|min|minutes?|h|hours?)(?![\w-])", re.I)
#: a sentence about running the demo
DEMO = re.compile(r"make demo|tracecollapse demo|lm_eval_tracecollapse\.demo|demo_out")


def test_demo_run_time_is_only_the_generated_one() -> None:
    """The demo's run time is written by the demo (the last line of its generated block in
    docs/demo.md, from the study's run log): no sentence about running the demo, on any page,
    types a duration of its own."""
    from lm_eval_tracecollapse.demo.results import README_BEGIN, README_END

    typed = []
    for page, text in PAGES.items():
        if README_BEGIN in text:
            text = text.split(README_BEGIN)[0] + text.split(README_END)[1]
        for sentence in re.split(r"(?<=[.;!?])\s+(?=[A-Z`*(])", re.sub(r"\s+", " ", text)):
            if DEMO.search(sentence) and DURATION.search(sentence):
                typed.append(f"{page}: {DURATION.findall(sentence)} in {sentence[:160]!r}")
    assert not typed, "a typed demo run time (the demo's block holds the measured one):\n" + "\n".join(typed)
    block = PAGES["docs/demo.md"].split(README_BEGIN)[1].split(README_END)[0]
    assert re.search(r"Run time of this study \(its `run_log.jsonl`.*\*\*\d+ s\*\* wall", block)
