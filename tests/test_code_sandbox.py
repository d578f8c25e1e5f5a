"""Generated code runs in a separate, limited process; the parent survives everything."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from lm_eval_tracecollapse.harness.grader_filters import CodeExecFilter
from lm_eval_tracecollapse.scoring.code import extract_code, run_many, run_tests

CHECK = "def check(f):\n    assert f(2, 3) == 5\n"
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (GOOD, "pass"),
        ("def add(a, b):\n    return a - b\n", "fail"),
        ("def add(a, b):\n    while True:\n        pass\n", "timeout"),
        ("x = bytearray(10**10)\n" + GOOD, "memory"),
        ("import sys\nsys.exit(0)\n" + GOOD, "fail"),  # exits before the tests: not a pass
        ("import os\nos._exit(0)\n", "fail"),
        ("import ctypes\nctypes.string_at(0)\n", "crash"),  # segfault
        ("print('x' * 10**8)\n" + GOOD, "fail"),  # output cap
        ("", "no_code"),
    ],
)
@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
def test_outcomes(code: str, status: str) -> None:
    start = time.perf_counter()
    result = run_tests(code, CHECK, "add", timeout=3)
    assert result.status == status, result.output
    assert time.perf_counter() - start < 15
    assert len(result.output) <= 4096


def test_forked_children_are_killed() -> None:
    code = "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(120)\n" + GOOD
    result = run_tests(code, CHECK, "add", timeout=3)
    assert result.status == "pass"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "solution.py" not in ps and "scoring/sandbox.py" not in ps  # gone when run_tests returns


def test_cannot_read_outside_or_use_the_network(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-42")
    secret.chmod(0o600)
    read = run_tests(f"print(open({str(secret)!r}).read())\n" + GOOD, CHECK, "add", timeout=5)
    # the host's /tmp is not even in the sandbox's filesystem
    assert read.status == "fail" and "s3cr3t-42" not in read.output
    assert "FileNotFoundError" in read.output or "PermissionError" in read.output
    net = "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n" + GOOD
    assert "Network is unreachable" in run_tests(net, CHECK, "add", timeout=5).output


@pytest.mark.serial  # timed: run alone, after the parallel run (make test)
def test_parallel_keeps_order_and_bounds_time() -> None:
    loop = "def add(a, b):\n    while True:\n        pass\n"
    problems = [(GOOD, CHECK, "add"), (loop, CHECK, "add"), (GOOD, CHECK, "add"), (loop, CHECK, "add")]
    start = time.perf_counter()
    statuses = [r.status for r in run_many(problems, workers=2, timeout=2)]
    assert statuses == ["pass", "timeout", "pass", "timeout"]
    assert time.perf_counter() - start < 10  # two at a time, not four in a row


def test_extract_code_and_filter() -> None:
    assert extract_code("a\n```py\nx = 1\n```\nb\n```python\ny = 2\n```") == "y = 2\n"
    assert extract_code("def f(): pass") == "def f(): pass"
    docs = [{"test": CHECK, "entry_point": "add", "prompt": "def add(a, b):\n"}]
    # a HumanEval-style completion gets its prompt in front
    assert CodeExecFilter(test_field="test", prompt_field="prompt").apply([["    return a + b\n"]], docs) == [["pass"]]
    mbpp = [{"test_list": ["assert add(1, 1) == 2", "assert add(0, 0) == 0"]}]
    assert CodeExecFilter(test_field="test_list", entry_point_field=None).apply([[GOOD]], mbpp) == [["pass"]]
    with pytest.raises(ValueError, match="no 'test_code' field"):
        CodeExecFilter().apply([[GOOD]], [{}])
