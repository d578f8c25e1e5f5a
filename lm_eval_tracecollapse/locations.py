"""Where our files are: the task-YAML and study-config folders (installed package data or
the source checkout).  It sits below the CLI, the demo, the study and the tests that need it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["studies_dir", "task_yamls_dir"]


def _folder(package: str, top: str, probe: str) -> Path:
    """Package data ``package`` when installed (it holds ``probe``), else the checkout's ``top/``."""
    try:
        from importlib.resources import files

        path = Path(str(files(package)))
        if (path / probe).exists():
            return path
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - not installed as a package
        pass
    return Path(__file__).resolve().parent.parent / top


def task_yamls_dir() -> Path:
    """The folder holding our task YAMLs (installed package data or the source checkout).

    >>> (task_yamls_dir() / "paper" / "tc_gsm8k_256.yaml").is_file()
    True
    """
    return _folder("lm_eval_tracecollapse.task_yamls", "task_yamls", "paper")


def studies_dir() -> Path:
    """The folder holding the shipped study configs (``studies/``: the paper's models, ``tiny_cpu``).

    >>> (studies_dir() / "tiny_cpu.yaml").is_file()
    True
    """
    return _folder("lm_eval_tracecollapse.studies", "studies", "tiny_cpu.yaml")
