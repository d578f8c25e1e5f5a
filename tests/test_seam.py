"""The one seam with lm-eval, checked (issue 31).

- importing the package patches nothing of lm-eval (its function objects are the same
  before and after ``import lm_eval_tracecollapse``); building a traced task extends the
  two group functions, once;
- the package imports, and the parser, reports, masking and monitor work, when lm-eval
  cannot be imported; a traced run then fails with one message naming lm-eval;
- every lm-eval function we wrap or copied from has the source we checked
  (``compat.HOOKED``): an lm-eval release that changes one fails here, "re-check the hook";
- the layers: ``lm_eval`` is imported only under ``harness/``; a subpackage imports only
  its own layer or lower ones (``demo → study → builtin → {training, harness, report,
  probes} → samples → {metrics, scoring} → core``); no import cycle between modules,
  imports inside functions included.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from testenv import REPO, offline_env

PKG = REPO / "lm_eval_tracecollapse"

#: subpackage -> layer; a module may import from its own layer or a lower one
LAYERS = {
    "core": 0,
    "metrics": 1,
    "scoring": 1,
    "samples": 2,
    "training": 3,
    "harness": 3,
    "report": 3,
    "probes": 3,
    "builtin": 4,
    "study": 5,
    "demo": 6,
}
#: top-level modules any layer may use (no import of ours beyond the package's own leaves)
LEAVES = {"atomic", "locations", "paper_data"}


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(), timeout=300)


def test_importing_the_package_patches_nothing_of_lm_eval() -> None:
    proc = _python(
        "import lm_eval.api.group as g, lm_eval.evaluator_utils as e\n"
        "before = (g.Group.aggregate, e.stderr_for_metric)\n"
        "import lm_eval_tracecollapse\n"
        "from lm_eval_tracecollapse import parse_trace, report, masking, monitor, wrap, tasks\n"
        "assert (g.Group.aggregate, e.stderr_for_metric) == before, 'patched on import'\n"
        "from lm_eval_tracecollapse.harness.task import TraceTask\n"
        "from lm_eval_tracecollapse.harness import groups\n"
        "groups.install(); first = (g.Group.aggregate, e.stderr_for_metric); groups.install()\n"
        "assert (g.Group.aggregate, e.stderr_for_metric) == first != before, 'install is not idempotent'\n"
        "assert g.Group.aggregate.__wrapped__ is before[0]\n"
        "print('ok')\n"
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


#: a meta-path finder that makes every ``lm_eval`` import fail, as when it is not installed
_BLOCK = """
import importlib.machinery, sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def test_the_package_works_without_lm_eval_and_a_traced_run_says_why_not() -> None:
    proc = _python(
        _BLOCK + "import lm_eval_tracecollapse as tc\n"
        "from lm_eval_tracecollapse import detect_format, parse_trace\n"
        "from lm_eval_tracecollapse import masking, monitor, report\n"
        "from lm_eval_tracecollapse.report.summary import summarize\n"
        "assert parse_trace('<think>a</think>b').status.value == 'valid'\n"
        "try:\n"
        "    tc.register()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("LmEvalCompatError lm-eval "), proc.stdout
    assert "pip install 'lm_eval>=0.4.12,<0.5'" in proc.stdout


def test_every_hooked_lm_eval_function_has_the_source_we_checked() -> None:
    from lm_eval_tracecollapse.harness import compat

    version = compat.version()
    for target, known in compat.HOOKED.items():
        got = compat.source_hash(target)
        assert got in known.values(), (
            f"re-check the hook: lm-eval {version}'s {target} has source {got}, not one we checked "
            f"({known}); read the change, adapt harness/ (groups.py, models/api.py), then record it in compat.HOOKED"
        )
        if version in known:
            assert got == known[version], f"re-check the hook: {target} changed within lm-eval {version}"


def test_a_missing_lm_eval_name_is_one_clear_error() -> None:
    from lm_eval_tracecollapse.harness import compat

    with pytest.raises(compat.LmEvalCompatError, match=r"lm-eval \S+ has no lm_eval\.tasks\._index\.NoSuchThing"):
        compat.require("tasks._index.NoSuchThing")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module, line) of every import in ``path`` (function bodies included)."""
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1]  # a module's package; an __init__'s is its own folder, the same slice
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                # "from . import x": x may be a module
                out += (
                    [(f"{mod}.{a.name}", node.lineno) for a in node.names] if not node.module else [(mod, node.lineno)]
                )
            else:
                out.append((node.module or "", node.lineno))
    return out


def _ours(mod: str) -> str | None:
    """The module of ours ``mod`` names (a submodule or attribute import resolved to a file)."""
    parts = mod.split(".")
    if parts[0] != "lm_eval_tracecollapse":
        return None
    for n in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:n])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts[:n])
    return None


def _layer(mod: str) -> tuple[str, int | None]:
    parts = mod.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return top, LAYERS.get(top)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("").parts
        out[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = path
    return out


def test_lm_eval_is_imported_only_under_harness() -> None:
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {mod}"
        for name, path in _modules().items()
        for mod, line in _imports(path)
        if (mod == "lm_eval" or mod.startswith("lm_eval.")) and _layer(name)[0] != "harness"
    ]
    assert not bad, "lm_eval outside harness/:\n" + "\n".join(bad)


def test_each_layer_imports_only_its_own_or_lower_layers() -> None:
    bad = []
    for name, path in _modules().items():
        top, layer = _layer(name)
        if layer is None:
            continue  # the top-level modules: the package's API, the CLI and the kept paths
        for mod, line in _imports(path):
            target = _ours(mod)
            if target is None:
                continue
            ttop, tlayer = _layer(target)
            if tlayer is None and ttop not in LEAVES and target != "lm_eval_tracecollapse":
                bad.append(f"{path.relative_to(REPO)}:{line} imports the top-level {target}")
            elif tlayer is not None and tlayer > layer:
                bad.append(f"{path.relative_to(REPO)}:{line} ({top}, layer {layer}) imports {target} (layer {tlayer})")
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for mod, _ in _imports(path):
            target = _ours(mod)
            # a package's __init__ importing its own modules (re-exports) is not a cycle of the design
            if target and target != name and not name.startswith(target + ".") and not target.startswith(name + "."):
                graph[name].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(modules):
        if v not in index:
            strong(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_entry_points_name_what_the_registry_registers() -> None:
    """pyproject's lm-eval plugin entry points (for an lm-eval that reads them) resolve to the
    very objects ``register()`` puts in lm-eval 0.4.13's registries."""
    import importlib

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    from lm_eval.api.registry import get_aggregation, get_filter, get_model

    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    getters = {"lm_eval.models": get_model, "lm_eval.filters": get_filter, "lm_eval.aggregations": get_aggregation}
    assert set(eps) == set(getters)
    for group, names in eps.items():
        for name, target in names.items():
            module, _, attr = target.partition(":")
            assert getattr(importlib.import_module(module), attr) is getters[group](name), (group, name)


def test_a_stock_step_after_trace_status_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    """A pipeline that already starts with trace_status but has stock steps after it (not
    under ``then:``) loses every trace row: the wrapper says so, naming the steps."""
    from lm_eval_tracecollapse.harness.task import _wrap_pipelines

    pipes = [{"name": "strict", "filter": [{"function": "trace_status"}, {"function": "take_first"}]}]
    with caplog.at_level("WARNING"):
        assert _wrap_pipelines(pipes, {}) == pipes
    assert "pipeline 'strict': take_first after trace_status" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        _wrap_pipelines([{"name": "ok", "filter": [{"function": "trace_status", "then": []}]}], {})
    assert caplog.text == ""


def test_the_paper_group_lists_every_row() -> None:
    """tc_paper.yaml's group rows are the paper's seven and every extra row, in table order
    (adding a failure-kind row: metrics/failure_kinds.py ROWS, then this YAML)."""
    import yaml

    from lm_eval_tracecollapse.metrics.failure_kinds import EXTRA_METRICS

    cfg = yaml.safe_load((REPO / "task_yamls" / "paper" / "tc_paper.yaml").read_text())
    listed = [entry["metric"] for entry in cfg["aggregate_metric_list"]]
    assert listed[7:] == list(EXTRA_METRICS), "tc_paper.yaml's extra rows differ from failure_kinds.ROWS"
