"""Hostile code answers against the sandbox (docs/sandbox.md).

Every case asserts its verdict and that the run left nothing behind: no process of a
sandbox uid (or of the supervisor/harness) alive, no ``/tmp/tc_code_*`` or file of a
hostile answer on the host, no new listening socket.  The answers run in parallel
(``run_many``) once per module; each case then checks its own result.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lm_eval_tracecollapse.harness.grader_filters import CodeExecFilter
from lm_eval_tracecollapse.scoring import code as code_mod
from lm_eval_tracecollapse.scoring.code import SandboxUnavailable, extract_code, run_many, run_tests

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux"),
    # which limit a hostile answer meets first (memory or time) and the batch's bound depend on
    # having the CPUs: run alone, after the parallel run (make test)
    pytest.mark.serial,
]

CHECK = "def check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n"
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
TIMEOUT = 4.0
MARK = "tc_hostile"  # every file a hostile answer tries to leave on the host has this in its name
SOCK = f"/tmp/{MARK}_{os.getpid()}.sock"
TOKEN_RE = r"[0-9a-f]{32}"
FAILS = {"fail", "crash", "memory", "timeout"}  # any not-pass verdict


@dataclass
class Case:
    id: str
    code: str
    expect: set[str]
    forbid: list[str] = field(default_factory=list)  # strings that must not reach CodeResult.output
    test: str = CHECK
    entry: str | None = "add"


def _shadow_line() -> str:
    try:
        return Path("/etc/shadow").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "root:$never$"


SHADOW = _shadow_line()
# the audit's daemon: setsid, then for 20 s rewrite every prog.py it finds into a pass
WATCHER = f"""
import os, sys, time, re, glob
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.time() + 20
        while time.time() < end:
            for d in glob.glob('/tmp/tc_code_*') + glob.glob('/tmp/*'):
                try:
                    p = os.path.join(d, 'prog.py')
                    tok = re.findall(r"print\\('({TOKEN_RE})'", open(p).read())[-1]
                    open(p, 'w').write('print(%r)' % tok)
                except Exception:
                    pass
            try:
                open('/tmp/{MARK}_watcher_alive', 'w').write('x')
            except Exception:
                pass
            time.sleep(0.01)
        os._exit(0)
    os._exit(0)
"""

CASES: list[Case] = [
    # --- persistence: nothing outlives the run ---------------------------------------
    Case("setsid_watcher_then_wrong", WATCHER + WRONG, {"fail"}),
    Case("setsid_watcher_then_good", WATCHER + GOOD, {"pass"}),
    Case(
        "double_fork_sleeper",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n"
        "    os._exit(0)\n" + GOOD,
        {"pass"},
    ),
    Case(
        "nondaemon_thread_sleeps",
        "import threading, time\nthreading.Thread(target=time.sleep, args=(300,)).start()\n" + GOOD,
        {"pass"},
    ),
    Case(
        "daemon_makes_folders",
        "import os\nif os.fork() == 0:\n    i = 0\n    while True:\n        i += 1\n"
        "        try:\n            os.makedirs(f'd{i}/x/y')\n        except OSError:\n            pass\n" + GOOD,
        {"pass"},
    ),
    # --- forging the verdict ----------------------------------------------------------
    Case(
        "forge_from_file",
        "import re, os\n" + WRONG + f"print(re.findall(r\"print\\('({TOKEN_RE})'\", open(__file__).read())[-1:])\n"
        "print(open(__file__).read()); os._exit(0)\n",
        {"fail"},
    ),
    Case("forge_from_argv", "import sys, os\n" + WRONG + "print(open(sys.argv[0]).read()); os._exit(0)\n", {"fail"}),
    Case(
        "forge_from_co_consts",
        "import sys, os\n" + WRONG + "f = sys._getframe()\nwhile f:\n"
        "    for c in f.f_code.co_consts:\n        print(c)\n    f = f.f_back\nos._exit(0)\n",
        {"fail"},
    ),
    Case(
        "forge_from_excepthook",
        "import sys\n" + WRONG + "sys.excepthook = lambda *a: print('0' * 32, flush=True)\n",
        {"fail"},
    ),
    Case(
        "forge_from_cmdline",
        "import os, re\n" + WRONG + "print(re.findall(rb'" + TOKEN_RE + "', open('/proc/self/cmdline', 'rb').read()))\n"
        "os._exit(0)\n",
        {"fail"},
    ),
    Case(
        "forge_write_every_fd",
        "import os\n" + WRONG + "for fd in range(256):\n    try:\n        os.write(fd, b'PASS ' + b'0' * 32 + b'\\n')\n"
        "    except OSError:\n        pass\nos._exit(0)\n",
        {"fail"},
    ),
    Case(
        "forge_read_job_fd",
        "import os\n" + WRONG + "for fd in range(3, 64):\n    try:\n        print(os.read(fd, 1 << 20))\n"
        "    except OSError:\n        pass\nprint(os.listdir('/proc/self/fd'))\nos._exit(0)\n",
        {"fail"},
    ),
    Case(
        "forge_atexit",
        "import atexit, os\n" + WRONG + "atexit.register(lambda: [os.write(fd, b'PASS x\\n') for fd in (1, 4)])\n",
        {"fail"},
    ),
    Case(
        "forge_thread_spams_fds",
        "import os, threading\n" + WRONG + "def spam():\n    while True:\n        for fd in (1, 2, 4, 5):\n"
        "            try:\n                os.write(fd, b'PASS ' + b'a' * 32 + b'\\n')\n            except OSError:\n"
        "                pass\nthreading.Thread(target=spam, daemon=True).start()\n",
        {"fail"},
    ),
    Case("early_exit_zero", "import os\nos._exit(0)\n", {"fail"}),
    Case("sys_exit_zero", "import sys\n" + GOOD + "sys.exit(0)\n", {"fail"}),
    Case("raise_systemexit_in_check", "def add(a, b):\n    raise SystemExit(0)\n", {"fail"}),
    Case(
        "memfd_reopen",
        "import os\n" + WRONG + "for p in os.listdir('/proc/self/fd'):\n    try:\n"
        "        print(open('/proc/self/fd/' + p, 'rb').read(200))\n    except OSError:\n        pass\n"
        "try:\n    print(os.listdir('/proc/1/fd'))\nexcept OSError as e:\n    print(e)\n",
        {"fail"},
    ),
    # --- reading the parent's files / output files -------------------------------------
    Case(
        "stdout_fifo",
        "import os\nfor n in ('stdout.txt', 'stderr.txt'):\n    try:\n        os.remove(n)\n    except OSError:\n"
        "        pass\n    os.mkfifo(n)\n" + GOOD,
        {"pass"},
    ),
    Case(
        "stdout_symlink_shadow",
        "import os\nfor n in ('stdout.txt', 'stderr.txt'):\n    try:\n        os.remove(n)\n    except OSError:\n"
        "        pass\n    os.symlink('/etc/shadow', n)\n" + WRONG,
        {"fail"},
        forbid=[SHADOW],
    ),
    Case("read_shadow", "print(open('/etc/shadow').read())\n" + GOOD, {"fail"}, forbid=[SHADOW]),
    Case(
        "read_root_home",
        "import os\nfor p in ('/root/.bash_history', '/root/.ssh', '/work/main/pyproject.toml', '/proc/1/environ'):\n"
        "    try:\n        print(open(p).read())\n    except OSError as e:\n        print(type(e).__name__)\n" + WRONG,
        {"fail"},
        forbid=["lm-eval-tracecollapse"],
    ),
    Case(
        "read_parent_cmdline",
        "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n"
        "            print(p, open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ')[:300])\n"
        "        except OSError:\n            pass\n" + WRONG,
        {"fail"},
        forbid=["pytest"],
    ),
    # --- writing outside its folder ---------------------------------------------------
    Case(
        "write_outside",
        "import os\nhits = []\nfor p in ('/"
        + MARK
        + "', '/usr/"
        + MARK
        + "', '/etc/"
        + MARK
        + "', '/work/main/"
        + MARK
        + "',"
        " '/root/" + MARK + "', '/proc/sys/kernel/" + MARK + "'):\n    try:\n        open(p, 'w').write('x')\n"
        "        hits.append(p)\n    except OSError:\n        pass\nassert not hits, hits\n" + GOOD,
        {"pass"},
    ),
    Case(
        "tmp_and_shm_persist",
        f"for d in ('/tmp', '/dev/shm', '/var/tmp'):\n    open(d + '/{MARK}_left', 'w').write('x')\n" + GOOD,
        {"pass"},
    ),
    Case(
        "fill_tmp",
        "import os\ntry:\n    with open('/tmp/big', 'wb') as f:\n        for _ in range(200):\n"
        "            f.write(b'x' * (1 << 20))\nexcept OSError as e:\n    print('stopped', e)\n"
        "assert os.path.getsize('/tmp/big') <= 64 << 20\n" + GOOD,
        {"pass"},
    ),
    Case(
        "many_small_files_past_fsize",
        "for i in range(12):\n    try:\n        open(f'/dev/shm/f{i}', 'wb').write(b'x' * (9 << 20))\n"
        "    except OSError:\n        break\n" + WRONG,
        {"fail"},
    ),
    # --- resources ----------------------------------------------------------------------
    Case(
        "fork_bomb",
        "import os\nfor _ in range(40):\n    try:\n        os.fork()\n    except OSError:\n        pass\n" + WRONG,
        FAILS,
    ),
    Case("huge_bytearray", "x = bytearray(10**10)\n" + GOOD, {"memory"}),
    Case("huge_mmap", "import mmap\nm = mmap.mmap(-1, 8 << 30)\n" + GOOD, {"memory", "fail"}),
    Case("list_growth", "x = []\nwhile True:\n    x.append(' ' * 10**6)\n", {"memory"}),
    Case(
        "forks_times_400mb",
        "import os, time\nr, w = os.pipe()\nfor _ in range(5):\n    if os.fork() == 0:\n"
        "        b = bytearray(400 << 20)\n        for i in range(0, len(b), 4096):\n            b[i] = 1\n"
        "        os.write(w, b'x')\n        time.sleep(30)\n"
        "got = b''\nwhile len(got) < 5:\n    got += os.read(r, 5)\n" + GOOD,
        {"memory", "fail", "crash"},
    ),
    Case("infinite_loop", "while True:\n    pass\n", {"timeout"}),
    Case(
        "ignore_sigterm",
        "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\ntime.sleep(300)\n",
        {"timeout"},
    ),
    Case("endless_output", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {"fail"}),
    Case("recursion", "def add(a, b):\n    return add(a, b)\n", {"fail"}),
    Case("segfault", "import ctypes\nctypes.string_at(0)\n", {"crash"}),
    Case("abort", "import os\nos.abort()\n", {"crash"}),
    # --- signals, other runs, privileges -------------------------------------------------
    Case(
        "signal_parent_and_all",
        "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as e:\n        print(e)\n" + GOOD,
        {"pass"},
    ),
    # kill(-1) reaches only this run's own processes (the caller excluded): ESRCH here
    Case("kill_minus_one", "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + GOOD, {"fail", "crash"}),
    Case(
        "kill_every_pid",
        "import os, signal\nfor p in range(2, 4 << 20):\n    try:\n        os.kill(p, signal.SIGKILL)\n"
        "    except OSError:\n        pass\n    if p > 40000:\n        break\n" + GOOD,
        {"pass", "crash"},
    ),
    Case(
        "ctypes_namespaces_and_root",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "res = [libc.unshare(0x40000000), libc.unshare(0x10000000 | 0x20000), libc.setuid(0),"
        " libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), libc.ptrace(16, 1, 0, 0), libc.chroot(b'/tmp')]\n"
        "print(res, os.getuid())\nassert os.getuid() != 0\n" + GOOD,
        {"pass"},
    ),
    Case(
        "raise_rlimits",
        "import resource\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CPU):\n"
        "    try:\n        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "        raise SystemExit('raised a limit')\n    except ValueError:\n        pass\n" + GOOD,
        {"pass"},
    ),
    Case(
        "setuid_binaries",
        "import subprocess\nfor cmd in (['su', '-c', 'id'], ['mount', '-t', 'tmpfs', 'x', '/tmp'], ['sudo', 'id']):\n"
        "    try:\n        r = subprocess.run(cmd, capture_output=True, timeout=2, stdin=subprocess.DEVNULL)\n"
        "        assert b'uid=0' not in r.stdout, r\n    except (OSError, subprocess.SubprocessError):\n        pass\n"
        + GOOD,
        {"pass"},
    ),
    Case(
        "network",
        "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n" + GOOD,
        {"fail"},
    ),
    Case(
        "unix_socket_on_host",
        f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({SOCK!r})\ns.send(b'escaped')\n" + GOOD,
        {"fail"},
    ),
    Case(
        "listen_on_port",
        "import socket, os\ns = socket.socket()\ns.bind(('0.0.0.0', 0))\ns.listen()\n"
        "if os.fork() == 0:\n    os.setsid()\n    s.accept()\n" + GOOD,
        {"pass", "fail"},
    ),
    # --- right answers that used to fail -------------------------------------------------
    Case("prints_100k", "print('y' * 100_000)\n" + GOOD, {"pass"}),
    Case("prints_lines_then_good", "for i in range(20000):\n    print(i)\n" + GOOD, {"pass"}),
    Case("closes_stdout", "import os, sys\nsys.stdout.close()\nos.close(1)\n" + GOOD, {"pass"}),
    # --- documented limits (docs/sandbox.md), not escapes ----------------------------------
    Case(
        "eq_always_true",
        "class Any:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Any()\n",
        {"pass"},
    ),
]
for _c in CASES:  # a forger flushes what it printed before it exits
    if _c.id.startswith("forge"):
        _c.code = "import sys\n" + _c.code.replace("os._exit(0)", "sys.stdout.flush(); os._exit(0)")
assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


def _sandbox_processes() -> list[str]:
    """Processes left by a run of *this* test process: its sandbox-looking descendants,
    plus anything of a sandbox uid or running the harness in the host's own PID
    namespace (an escape; another program's runs live in their own namespaces)."""
    host_ns = os.readlink("/proc/self/ns/pid")
    parent: dict[int, int] = {}
    info: dict[int, tuple[int, bytes, str]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            ns = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            continue
        uid = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
        parent[int(pid)] = int(ppid.group(1)) if ppid else 0
        info[int(pid)] = (int(uid.group(1)) if uid else -1, cmd, ns)

    def descends(pid: int) -> bool:
        for _ in range(64):
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
            if pid <= 1:
                return False
        return False

    found = []
    for pid, (uid, cmd, ns) in info.items():
        if pid == os.getpid():
            continue
        sandbox_uid = code_mod._UID_BASE <= uid < code_mod._UID_BASE + code_mod._UID_SPAN
        harness = b"/sandbox/solution.py" in cmd
        mine = descends(pid) and (sandbox_uid or harness or b"scoring/sandbox.py" in cmd)
        if mine or ((sandbox_uid or harness) and ns == host_ns):
            found.append(f"{pid} uid={uid} {cmd[:100]!r}")
    return found


def _listening() -> dict[str, str]:
    """Listening sockets of the host's network namespace: description -> inode."""
    out = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        out |= {f"{table} {r.split()[1]}": r.split()[9] for r in rows if r.split()[3] in ("0A", "07")}
    for r in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = r.split()
        if parts[3] == "00010000":
            out[f"unix {parts[7] if len(parts) > 7 else parts[6]}"] = parts[6]
    return out


def _socket_owners(inode: str) -> list[int]:
    owners = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            owners.append(int(pid))
    return owners


def _new_sockets(baseline: set[str]) -> list[str]:
    """New listening sockets that no process outside the sandbox holds (another program's
    sockets on this machine are not leftovers of a run)."""
    left = []
    for name, inode in _listening().items():
        if name in baseline:
            continue
        owners = _socket_owners(inode)
        if not owners:
            left.append(f"{name} (no owner)")
    return left


def _host_leftovers() -> list[str]:
    return sorted(
        glob.glob("/tmp/tc_code_*")
        + [
            p
            for d in ("/", "/tmp", "/dev/shm", "/var/tmp", "/usr", "/etc", "/root", "/work/main")
            for p in glob.glob(f"{d}/{MARK}*")
            if p != SOCK
        ]
    )


def assert_clean(baseline_sockets: set[str]) -> None:
    for _ in range(20):  # a run's teardown is over when run_tests returns; allow the kernel a beat
        procs = _sandbox_processes()
        if not procs:
            break
        time.sleep(0.1)
    assert procs == [], procs
    assert _host_leftovers() == []
    assert _new_sockets(baseline_sockets) == []


@pytest.fixture(scope="module")
def baseline() -> set[str]:
    return set(_listening()) - {f"unix {SOCK}"}


@pytest.fixture(scope="module")
def results(baseline: set[str]) -> dict[str, object]:
    server = socket.socket(socket.AF_UNIX)
    server.bind(SOCK)
    server.listen()
    server.setblocking(False)
    try:
        start = time.perf_counter()
        got = run_many([(c.code, c.test, c.entry) for c in CASES], workers=16, timeout=TIMEOUT)
        elapsed = time.perf_counter() - start
        try:
            conn, _ = server.accept()
            reached = conn.recv(100)
        except BlockingIOError:
            reached = b""
    finally:
        server.close()
        os.unlink(SOCK)
    return {"by_id": {c.id: r for c, r in zip(CASES, got, strict=True)}, "elapsed": elapsed, "unix": reached}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_answer(case: Case, results: dict, baseline: set[str]) -> None:
    result = results["by_id"][case.id]
    assert result.status in case.expect, (result.status, result.output)
    assert len(result.output) <= 4096
    for text in case.forbid:
        assert text not in result.output
    assert_clean(baseline)


def test_the_batch_was_bounded(results: dict) -> None:
    assert results["elapsed"] < 60
    assert results["unix"] == b""  # the host's unix socket was never reached


def test_a_watcher_cannot_flip_later_runs(baseline: set[str]) -> None:
    """The critical finding: a daemon from one run, then wrong answers alongside and after."""
    problems = [(WATCHER + WRONG, CHECK, "add")] + [(WRONG, CHECK, "add")] * 5
    first = run_many(problems, workers=6, timeout=TIMEOUT)
    later = run_many([(WRONG, CHECK, "add")] * 4, workers=4, timeout=TIMEOUT)
    assert [r.status for r in first + later] == ["fail"] * 10
    assert_clean(baseline)


def test_killers_do_not_touch_other_runs(baseline: set[str]) -> None:
    killer = "import os\nfor p in range(2, 5000):\n    try:\n        os.kill(p, 9)\n    except OSError:\n        pass\n"
    problems = [(killer + "os.kill(-1, 9)\n", CHECK, "add")] * 3 + [(GOOD, CHECK, "add")] * 6
    statuses = [r.status for r in run_many(problems, workers=9, timeout=TIMEOUT)]
    assert statuses[3:] == ["pass"] * 6
    assert_clean(baseline)


def test_no_isolation_means_no_run(tmp_path: Path) -> None:
    """Without CAP_SYS_ADMIN (root) the supervisor cannot unshare: one clear error, nothing runs."""
    if os.geteuid() != 0:
        pytest.skip("dropping CAP_SYS_ADMIN from root")
    marker = tmp_path / "ran"
    answer = f"open({str(marker)!r}, 'w').write('x')\n"
    script = (
        "import sys\nfrom lm_eval_tracecollapse.scoring.code import run_tests, SandboxUnavailable\n"
        f"code = {answer!r}\n"
        "try:\n    run_tests(code, 'pass', None, timeout=3)\nexcept SandboxUnavailable as e:\n"
        "    print('REFUSED', e)\n    sys.exit(0)\nsys.exit('ran without isolation')\n"
    )
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REFUSED" in proc.stdout and "cannot" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert not marker.exists()


def test_missing_interpreter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    code_mod._check_sandbox()  # the real one works
    monkeypatch.setattr(code_mod, "_sandbox_python", lambda: "/nonexistent/python3")
    with pytest.raises(SandboxUnavailable, match="cannot start the harness"):
        run_tests(GOOD, CHECK, "add", timeout=3)


def test_parsing_is_linear() -> None:
    start = time.perf_counter()
    assert extract_code("```" + " " * 64000) == "```" + " " * 64000
    assert extract_code("``` " * 30000 + "```py\nx\n```") == "x\n"
    docs = [{"test": CHECK, "entry_point": "add", "prompt": "def add(a, b):\n"}]
    CodeExecFilter(test_field="test", prompt_field="prompt")._problem("\n" * 80000 + " " * 80000, docs[0])
    assert time.perf_counter() - start < 2


def test_fences_match_the_old_regex() -> None:
    import random

    old = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
    rng = random.Random(0)
    atoms = ["```", "`", " ", "\t", "\n", "python", "Py", "PYTHON3", "py3", "x", "pythonx", "````"]
    for _ in range(3000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 14)))
        assert code_mod._fenced_blocks(text) == old.findall(text), repr(text)


def test_api_key_on_the_parents_argv_is_not_visible() -> None:
    """docs/sandbox.md: /proc is the run's own, so the evaluation's argv cannot be read."""
    key = "sk-" + os.urandom(8).hex()
    probe = (
        "import os\nfor pid in [str(os.getppid()), '1'] + os.listdir('/proc'):\n    try:\n"
        "        print(open(f'/proc/{pid}/cmdline', 'rb').read())\n    except OSError:\n        pass\n"
        "for p in range(1, 5000):\n    try:\n        print(open(f'/proc/{p}/cmdline', 'rb').read())\n"
        "    except OSError:\n        pass\n"
    )
    script = (
        "import sys\nfrom lm_eval_tracecollapse.scoring.code import run_tests\n"
        f"r = run_tests({probe + WRONG!r}, {CHECK!r}, 'add', timeout=5)\nprint(r.status)\nprint(r.output)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "--api_key", key],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    assert proc.stdout.startswith("fail\n"), proc.stdout + proc.stderr
    assert "cmdline" in proc.stdout or "b'" in proc.stdout  # it did read some /proc entries
    assert key not in proc.stdout
    assert _sandbox_processes() == []
