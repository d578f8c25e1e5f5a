"""The documented front door through the real ``tracecollapse`` command: the commands the
README and docs name run as named (``tracecollapse demo``), ``--version``, ``wrap --all``'s
exit status, the install line a missing extra names."""

from __future__ import annotations

from pathlib import Path

from testenv import run_tracecollapse


def test_demo_subcommand_takes_the_demos_flags(tmp_path: Path) -> None:
    """``tracecollapse demo`` is the demo (``python -m lm_eval_tracecollapse.demo``) with its
    own flags, not ``unrecognized arguments: demo``."""
    run = run_tracecollapse(["tracecollapse", "demo", "--help"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "usage: tracecollapse demo" in run.stdout and "--out" in run.stdout and "--write-docs" in run.stdout
    bad = run_tracecollapse(["tracecollapse", "demo", "--no-such-flag"], tmp_path)
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-flag" in bad.stderr
    assert "demo" not in bad.stderr.split("unrecognized arguments:")[1]
