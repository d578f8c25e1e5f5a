"""Run generated code against its tests in a separate, limited process — never ``exec``.

:func:`run_tests` writes the candidate and its tests into a fresh temporary folder
and runs them with the current Python in isolated mode (``-I``) as a child process:

* wall-clock timeout (the whole process group is killed), CPU-time limit;
* address-space cap (``RLIMIT_AS``), output-file cap (``RLIMIT_FSIZE``), no core dumps;
* stdout/stderr go to files in the temporary folder and only their first 4 kB are read;
* run as root (as CI is), the child drops to user ``nobody`` (so files outside its
  folder that are not world-readable stay closed and ``RLIMIT_NPROC`` stops fork
  bombs) and gets an empty network namespace (no network at all); it then runs the
  first Python that ``nobody`` may start (this one, or the system ``python3``: the
  tests must need only the standard library).  As another user those two protections
  are not available and the limits above still apply;
* success needs a fresh random token printed *after* the tests ran, so code that
  calls ``sys.exit(0)`` or ``os._exit(0)`` before them does not pass.

The parent survives anything the child does (segfault, fork, endless loop, memory
bomb, ``os._exit``).  :func:`run_many` runs problems in parallel with a bounded
worker count.

Example:
    >>> run_tests("def add(a, b):\\n    return a + b", "def check(f):\\n    assert f(2, 3) == 5", "add").status
    'pass'
    >>> run_tests("def add(a, b):\\n    return a - b", "def check(f):\\n    assert f(2, 3) == 5", "add").status
    'fail'
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lm_eval.api.filter import Filter

__all__ = [
    "CodeExecFilter",
    "CodeResult",
    "code_timeout_metric",
    "extract_code",
    "reindent_body",
    "run_many",
    "run_tests",
    "with_prompt",
]

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_OUTPUT_CAP = 4096
_CLONE_NEWNET = 0x40000000
_NOBODY = 65534


@dataclass(frozen=True)
class CodeResult:
    """Outcome of one problem.

    Attributes:
        status: ``pass``, ``fail`` (tests failed or the program exited early),
            ``timeout``, ``memory`` (hit the memory cap), ``crash`` (killed by a
            signal, e.g. a segfault) or ``no_code``.
        returncode: the child's exit status (negative: the signal that ended it).
        output: the first 4 kB of its stderr then stdout, for inspection.
    """

    status: str
    returncode: int | None = None
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def extract_code(answer: str) -> str:
    """The last fenced code block of ``answer`` (```python … ```), else the whole answer.

    >>> extract_code("Here:\\n```python\\nprint(1)\\n```\\nDone")
    'print(1)\\n'
    """
    blocks = _FENCE.findall(answer)
    return blocks[-1] if blocks else answer


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _body_indent(prompt: str, entry: str | None = None) -> str:
    """The indentation of the body of the prompt's last ``def`` (of ``entry`` if it has
    one): its first line after the signature, else the ``def``'s own plus four spaces;
    ``""`` when the prompt defines no function.

    >>> _body_indent("def f(a,\\n      b):\\n    'Doc.'\\n")
    '    '
    """
    lines = prompt.split("\n")
    name = re.escape(entry) if entry else r"\w+"
    starts = [i for i, ln in enumerate(lines) if re.match(rf"\s*(?:async\s+)?def\s+{name}\s*\(", ln)]
    if not starts and entry:
        return _body_indent(prompt)
    if not starts:
        return ""
    i = starts[-1]
    own = _indent(lines[i])
    header_end = next((j for j in range(i, len(lines)) if lines[j].split("#")[0].rstrip().endswith(":")), i)
    body = next((ln for ln in lines[header_end + 1 :] if ln.strip()), None)
    if body is not None and len(_indent(body)) > len(own):
        return _indent(body)
    return own + "    "


def reindent_body(code: str, indent: str) -> str:
    """``code`` as a function body indented by ``indent``, when its first line is less
    indented than that (a completion whose leading indentation was stripped, as the
    trace parser strips the answer part: ``"    return a * b"`` arrives as
    ``"return a * b"``; only the first line lost its indentation, the others keep theirs)
    or when the whole body was written from column 0.  Relative indentation is kept.

    >>> reindent_body("return a * b", "    ")
    '    return a * b'
    >>> reindent_body("x = a * b\\n    return x", "    ")
    '    x = a * b\\n    return x'
    >>> reindent_body("for x in a:\\n    t += x\\nreturn t", "    ")
    '    for x in a:\\n        t += x\\n    return t'
    """
    lines = code.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or len(_indent(lines[first])) >= len(indent):
        return code
    head = lines[first].strip()
    rest = [ln for ln in lines[first + 1 :] if ln.strip()]
    # where the first line stood before its indentation was lost: at the level of the
    # rest, or (a first line opening a block over all of the rest) one level up from it
    lost = min((len(_indent(ln)) for ln in rest), default=0)
    opens = head.split("#")[0].rstrip().endswith(":")
    if rest and opens and len(_indent(rest[0])) == lost:
        lost = len(indent) if len(indent) < lost else 0
    shift = len(indent) - lost
    out = [*lines[:first], indent + head]
    for ln in lines[first + 1 :]:
        if not ln.strip() or shift == 0:
            out.append(ln)
        elif shift > 0:
            out.append(" " * shift + ln)
        else:
            out.append(ln[min(-shift, len(_indent(ln))) :])
    return "\n".join(out)


def with_prompt(prompt: str, code: str, entry: str | None = None) -> str:
    """A completion put after its code prompt (HumanEval): the prompt, then ``code``
    re-indented as the body of the prompt's function (see :func:`reindent_body`).

    >>> with_prompt("def mul(a, b):\\n    'a times b'\\n", "return a * b", "mul")
    "def mul(a, b):\\n    'a times b'\\n    return a * b"
    """
    body = reindent_body(code, _body_indent(prompt, entry))
    if body != code and prompt and not prompt.endswith("\n") and not body.startswith("\n"):
        body = "\n" + body  # the stripped completion also lost the newline that began it
    return prompt + body


def _limits(timeout: float, memory_mb: int, drop: bool) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        import resource

        if drop:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.unshare(_CLONE_NEWNET)  # best effort: an empty network namespace
        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (10 * 1024 * 1024, 10 * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
            os.setgroups([])
            os.setgid(_NOBODY)
            os.setuid(_NOBODY)

    return apply


@lru_cache(maxsize=1)
def _sandbox_python() -> tuple[str, bool]:
    """(interpreter, drop privileges?): as root, the first Python that user ``nobody``
    can start (this venv's usually lives under /root, which nobody cannot enter)."""
    if os.geteuid() != 0:
        return sys.executable, False
    candidates = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    for exe in dict.fromkeys(c for c in candidates if os.path.isfile(c)):
        try:
            probe = subprocess.run(
                [exe, "-I", "-c", "import json, math, re, collections"],
                cwd="/",
                capture_output=True,
                timeout=30,
                preexec_fn=_limits(30, 512, True),
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return exe, True
    return sys.executable, False


def _read(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(_OUTPUT_CAP).decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_tests(
    code: str, test_code: str, entry_point: str | None, timeout: float = 10.0, memory_mb: int = 512
) -> CodeResult:
    """Run ``code`` then ``test_code`` (and ``check(<entry_point>)``) in a sandboxed child."""
    if not code.strip():
        return CodeResult("no_code")
    token = secrets.token_hex(16)
    call = f"\ncheck({entry_point})\n" if entry_point else "\n"
    program = f"{code}\n\n{test_code}\n{call}print({token!r}, flush=True)\n"
    python, drop = _sandbox_python()
    with tempfile.TemporaryDirectory(prefix="tc_code_") as tmp:
        folder = Path(tmp)
        (folder / "prog.py").write_text(program, encoding="utf-8")
        out, err = folder / "stdout.txt", folder / "stderr.txt"
        if drop:
            os.chmod(folder, 0o777)
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                [python, "-I", "-B", "prog.py"],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "HOME": str(folder)},
                preexec_fn=_limits(timeout, memory_mb, drop),
                start_new_session=True,
                close_fds=True,
            )
            try:
                rc = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                rc = None
            finally:
                _kill_group(proc.pid)  # forked children too
                proc.wait()
        stdout, stderr = _read(out), _read(err)
    output = (stderr + stdout)[:_OUTPUT_CAP]
    if timed_out or (rc is not None and rc == -signal.SIGXCPU):
        return CodeResult("timeout", rc, output)
    if rc == 0 and token in stdout:
        return CodeResult("pass", rc, output)
    if "MemoryError" in stderr:
        return CodeResult("memory", rc, output)
    if rc is not None and rc < 0:
        return CodeResult("crash", rc, output)
    return CodeResult("fail", rc, output)


def run_many(
    problems: Sequence[tuple[str, str, str | None]],
    workers: int | None = None,
    timeout: float = 10.0,
    memory_mb: int = 512,
) -> list[CodeResult]:
    """:func:`run_tests` over ``(code, test_code, entry_point)`` triples, in order,
    with at most ``workers`` children at once (default: the number of CPUs)."""
    workers = max(1, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_tests(p[0], p[1], p[2], timeout, memory_mb), problems))


class CodeExecFilter(Filter):
    """lm-eval filter ``code_exec``: each response → the status of its code's test run.

    Put it in ``trace_status``'s ``then:`` so only the answer part's code runs, and score
    with ``exact_match`` against ``doc_to_target: pass``.  Statuses: see :class:`CodeResult`.

    Args:
        test_field: document field with the test code (a list, as in MBPP's
            ``test_list``, is joined line by line).
        entry_point_field: field naming the function passed to ``check()`` (``null``:
            the tests call it themselves).
        prompt_field: field holding a code prompt (HumanEval) to put before an answer
            that does not define the entry point itself (a completion).
        timeout / memory_mb / workers: per-problem wall-clock seconds, address-space
            cap, and how many problems run at once (default: CPU count).
    """

    def __init__(
        self,
        test_field: str = "test_code",
        entry_point_field: str | None = "entry_point",
        prompt_field: str | None = None,
        timeout: float = 10.0,
        memory_mb: int = 512,
        workers: int | None = None,
    ) -> None:
        self.test_field, self.entry_point_field, self.prompt_field = test_field, entry_point_field, prompt_field
        self.timeout, self.memory_mb, self.workers = float(timeout), int(memory_mb), workers

    def _problem(self, response: object, doc: dict) -> tuple[str, str, str | None]:
        if self.test_field not in doc:
            raise ValueError(f"code_exec: the document has no {self.test_field!r} field (set test_field)")
        tests = doc[self.test_field]
        tests = "\n".join(tests) if isinstance(tests, list) else str(tests)
        entry = str(doc[self.entry_point_field]) if self.entry_point_field else None
        code = extract_code(str(response))
        if not code.strip():
            return "", tests, entry  # no answer (a truncated trace): no_code, not the bare prompt run
        if self.prompt_field and entry and not re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE):
            # a completion: its indentation may have been stripped with the answer part
            code = with_prompt(str(doc.get(self.prompt_field, "")), code, entry)
        return code, tests, entry

    def apply(self, resps: Sequence[Sequence[object]], docs: Sequence[dict]) -> list[list[str]]:
        shape = [len(rs) for rs in resps]
        problems = [self._problem(r, doc) for rs, doc in zip(resps, docs, strict=True) for r in rs]
        results = iter(run_many(problems, self.workers, self.timeout, self.memory_mb))
        return [[next(results).status for _ in range(k)] for k in shape]


def code_timeout_metric(references: list[object], predictions: list[object], **_: object) -> dict[str, float]:
    """lm-eval metric ``code_timeout``: 1.0 when the run hit its time limit (scored wrong).

    >>> code_timeout_metric(references=["pass"], predictions=["timeout"])
    {'code_timeout': 1.0}
    """
    return {"code_timeout": float(str(predictions[0]) == "timeout")}
