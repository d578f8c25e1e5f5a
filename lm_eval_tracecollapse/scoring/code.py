"""Run generated code against its tests in a sandboxed process — never ``exec`` here.

:func:`run_tests` hands the answer and its tests to a supervisor process
(``sandbox.py``) that runs them in fresh PID, mount, network, IPC and UTS namespaces
(as root; otherwise inside a user namespace as well) and reports the verdict back;
docs/sandbox.md has the threat model.  In short:

* every process the answer starts dies with the run (it is PID 1's namespace), and
  nothing it writes survives (its whole filesystem is a 64 MB tmpfs with read-only
  binds of /usr, /etc and the interpreter; the host's /tmp, /run, /root are not there);
* no network, no host unix socket, its own /proc; a fresh uid per run (as root), no
  capabilities, ``no_new_privs``; wall-clock and CPU limits; memory and task count are
  capped over the whole run, not per process;
* the verdict is a nonce the harness writes on a pipe after the tests ran; it is
  never in a file, argv, the environment or a code object, and stdout/stderr (read
  from pipes, 4 kB of each kept) play no part in it;
* when the isolation cannot be set up, :class:`SandboxUnavailable` is raised and
  nothing runs.

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

import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "CodeResult",
    "SandboxUnavailable",
    "code_timeout_metric",
    "extract_code",
    "reindent_body",
    "run_many",
    "run_tests",
    "with_prompt",
]

_FENCE_LANGS = frozenset({"", "python", "py", "python3"})
_WORD = re.compile(r"[A-Za-z0-9]*")
_BLANKS = re.compile(r"[ \t]*")
_TMPFS_MB = 64  # all the answer may write: /tmp, /dev/shm, its folder together
_MAX_TASKS = 64  # processes + threads of one run


#: the outcome of running one answer's tests
CodeStatus = Literal["pass", "fail", "timeout", "memory", "crash", "no_code"]
_STATUSES: tuple[CodeStatus, ...] = get_args(CodeStatus)


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

    status: CodeStatus
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
    blocks = _fenced_blocks(answer)
    return blocks[-1] if blocks else answer


def _fenced_blocks(text: str) -> list[str]:
    """The bodies the regex ``````[ \\t]*(?:python|py|python3)?[ \\t]*\\n(.*?)`````` (DOTALL,
    IGNORECASE) finds, in linear time (that regex backtracks quadratically on blanks)."""
    blocks: list[str] = []
    i = text.find("```")
    while i >= 0:
        k = _BLANKS.match(text, i + 3).end()  # type: ignore[union-attr]
        word = _WORD.match(text, k).end()  # type: ignore[union-attr]
        k2 = _BLANKS.match(text, word).end()  # type: ignore[union-attr]
        if text[k:word].lower() in _FENCE_LANGS and text.startswith("\n", k2):
            end = text.find("```", k2 + 1)
            if end < 0:
                break  # no later opening can close either
            blocks.append(text[k2 + 1 : end])
            i = text.find("```", end + 3)
        else:
            i = text.find("```", i + 1)
    return blocks


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
    if body and prompt and not prompt.endswith("\n") and not body.startswith("\n"):
        # an answer part starts on its own line: the line break between the trace and it
        # was the separator, which a prompt without a final newline needs back
        body = "\n" + body
    return prompt + body


class SandboxUnavailable(RuntimeError):
    """The isolation the sandbox needs cannot be set up here: nothing is run."""


_SUPERVISOR = str(Path(__file__).with_name("sandbox.py"))
_UID_BASE, _UID_SPAN = 2_000_000_000, 1 << 20  # root mode: one fresh uid per concurrent run
_uids_lock = threading.Lock()
_uids_busy: set[int] = set()


def _take_uid() -> int:
    with _uids_lock:
        while True:
            uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
            if uid not in _uids_busy:
                _uids_busy.add(uid)
                return uid


def _binds() -> list[str]:
    """Host paths the sandbox sees read-only: /usr, /etc and this interpreter's prefix."""
    prefix = os.path.realpath(sys.base_prefix)
    return list(dict.fromkeys(["/usr", "/etc", prefix]))


def _sandbox_python() -> str:
    """The base interpreter (not the venv: the answer gets the standard library only)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def _supervise(job: dict[str, object], wait: float) -> dict[str, object]:
    """One run through the supervisor script (see sandbox.py); its JSON report."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", _SUPERVISOR],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        close_fds=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(json.dumps({**job, "parent": os.getpid()}).encode(), timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()  # its init has PR_SET_PDEATHSIG: the run's namespace goes with it
        proc.communicate()
        return {"status": "timeout", "returncode": None, "output": "sandbox supervisor did not finish", "stuck": True}
    try:
        report = json.loads(out.decode("utf-8", "replace")) if out else {}
    except ValueError:
        report = {}
    if not isinstance(report, dict) or not report:
        report = {
            "error": f"sandbox supervisor failed (exit {proc.returncode}): {err.decode('utf-8', 'replace')[-2000:]}"
        }
    return report


def _job(code: str, test_code: str, entry: str | None, timeout: float, memory_mb: int, uid: int) -> dict[str, object]:
    return {
        "code": code,
        "tests": test_code,
        "entry": entry,
        "timeout": float(timeout),
        "memory_mb": int(memory_mb),
        "tmpfs_mb": _TMPFS_MB,
        "max_tasks": _MAX_TASKS,
        "uid": uid,
        "python": _sandbox_python(),
        "binds": _binds(),
    }


@lru_cache(maxsize=1)
def _check_sandbox() -> None:
    """Run a known-good problem once; raise :class:`SandboxUnavailable` if that fails."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable("code_exec needs Linux namespaces; see docs/sandbox.md")
    uid = _take_uid()
    try:
        report = _supervise(
            _job("def add(a, b):\n    return a + b\n", "assert add(2, 3) == 5\n", None, 30, 512, uid), 60
        )
    finally:
        with _uids_lock:
            _uids_busy.discard(uid)
    if "error" in report or report.get("status") != "pass":
        why = report.get("error") or f"a known-good program scored {report.get('status')}: {report.get('output')}"
        raise SandboxUnavailable(
            f"code_exec refuses to run generated code: the sandbox cannot be set up here ({why}). "
            "It needs root, or unprivileged user namespaces (see docs/sandbox.md)."
        )


def run_tests(
    code: str, test_code: str, entry_point: str | None, timeout: float = 10.0, memory_mb: int = 512
) -> CodeResult:
    """Run ``code`` then ``test_code`` (and ``check(<entry_point>)``) in the sandbox.

    Raises :class:`SandboxUnavailable` (before running anything) when the isolation
    cannot be set up; never raises because of what the code does."""
    if not code.strip():
        return CodeResult("no_code")
    _check_sandbox()
    uid = _take_uid()
    report: dict[str, object] = {}
    try:
        report = _supervise(_job(code, test_code, entry_point, timeout, memory_mb, uid), float(timeout) + 30)
    finally:
        if not report.get("stuck"):  # every process of that uid is gone: the uid may be reused
            with _uids_lock:
                _uids_busy.discard(uid)
    if "error" in report:
        raise SandboxUnavailable(f"code_exec: {report['error']}")
    rc = report.get("returncode")
    status = report["status"]
    if status not in _STATUSES:
        raise SandboxUnavailable(f"code_exec: the sandbox reported an unknown status {status!r}")
    return CodeResult(status, rc if isinstance(rc, int) else None, str(report.get("output", "")))


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


def code_timeout_metric(references: list[object], predictions: list[object], **_: object) -> dict[str, float]:
    """lm-eval metric ``code_timeout``: 1.0 when the run hit its time limit (scored wrong).

    >>> code_timeout_metric(references=["pass"], predictions=["timeout"])
    {'code_timeout': 1.0}
    """
    return {"code_timeout": float(str(predictions[0]) == "timeout")}
