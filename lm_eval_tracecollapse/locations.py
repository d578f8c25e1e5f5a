"""Where our files are: the task-YAML folder (installed package data or the source
checkout).  It sits below the CLI, the demo, the study and the tests that need it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["task_yamls_dir"]


def task_yamls_dir() -> Path:
    """The folder holding our task YAMLs (installed package data or the source checkout).

    >>> (task_yamls_dir() / "paper" / "tc_gsm8k_256.yaml").is_file()
    True
    """
    try:
        from importlib.resources import files

        path = Path(str(files("lm_eval_tracecollapse.task_yamls")))
        if (path / "paper").is_dir():
            return path
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - not installed as a package
        pass
    return Path(__file__).resolve().parent.parent / "task_yamls"
