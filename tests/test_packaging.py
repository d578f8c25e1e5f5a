"""The installed package must contain every sub-package (the editable install used by
``make test`` would hide a sub-package missing from ``pyproject.toml``)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "lm_eval_tracecollapse").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk - listed == set(), f"add these to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_importing_for_the_parser_loads_no_model_code() -> None:
    """Registration is lazy: lm-eval's model classes, our API models and aiohttp load only
    when lm-eval asks for a model, not on ``import lm_eval_tracecollapse``."""
    import subprocess
    import sys

    code = (
        "import sys, lm_eval_tracecollapse as tc\n"
        "assert tc.parse_trace('<think>a</think>b').answer == 'b'\n"
        "heavy = [m for m in ('aiohttp', 'lm_eval.models.huggingface', 'lm_eval_tracecollapse.harness.models.api',"
        " 'torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from lm_eval.api.registry import get_filter, get_model\n"
        "assert get_model('tc_replay').__name__ == 'ReplayLM' and get_model('hf').__name__ == 'HFLM'\n"
        "assert get_filter('trace_status').__name__ == 'TraceStatusFilter'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
