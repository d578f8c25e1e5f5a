"""The sandbox supervisor: run as a script (``python -I -S sandbox.py``) by
:func:`lm_eval_tracecollapse.scoring.code.run_tests`, one process per problem.

Standard library only, so it runs without the package installed.  It reads one JSON
job on stdin and writes one JSON report on stdout.  Process layout::

    evaluation (parent)  --stdin/stdout-->  supervisor S (this script, outside every namespace)
        S: unshare(CLONE_NEWPID [| CLONE_NEWUSER when not root]) then fork
        I: PID 1 of the new PID namespace: new mount, network, IPC and UTS namespaces,
           a size-capped tmpfs as the whole root (read-only binds of /usr, /etc, the
           interpreter), its own /proc; chroot; reaps every process and polls the
           namespace's total memory and task count; then fork + exec
        H: the harness (``HARNESS`` below), as the sandbox user, no capabilities,
           no_new_privs: reads the job from an unlinked memfd (fd 3) and closes it,
           runs the answer, then the tests, then reports over fd 4 (a pipe to S)

When I exits the kernel kills everything left in the namespace before S's ``waitpid``
returns, so nothing the answer started outlives the run.  See docs/sandbox.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

OUTPUT_KEEP = 4096  # bytes of stdout and of stderr kept for CodeResult.output
OUTPUT_MAX = 10 * 1024 * 1024  # beyond this a stream's pipe is closed: the answer's writes fail
REPORT_MAX = 256
SANDBOX_UID = 1000  # the answer's uid inside a user namespace (non-root mode)
WORKDIR = "/sandbox"
SOLUTION = WORKDIR + "/solution.py"

# The harness runs inside the sandbox with the sandbox's Python (any 3.x): the answer
# and the tests are compiled separately and run in one module namespace (``__main__``,
# as a script would); only a run that got through the tests writes the nonce, which
# never touches a file, argv, the environment or a code object.
HARNESS = r"""
import os, sys
def _run():
    import json
    me = os.getpid()
    with os.fdopen(3, "rb") as fh:
        job = json.loads(fh.read().decode("utf-8"))
    report = os.dup(4)
    os.close(4)
    secret = job.pop("nonce").encode("ascii")
    code, tests, entry = job.pop("code"), job.pop("tests"), job.pop("entry")
    import builtins, types
    mod = types.ModuleType("__main__")
    mod.__file__ = "/sandbox/solution.py"
    mod.__builtins__ = builtins
    sys.modules["__main__"] = mod
    sys.argv = ["solution.py"]
    sys.path.insert(0, "/sandbox")
    verdict = b"FAIL"
    try:
        exec(compile(code, "/sandbox/solution.py", "exec", dont_inherit=True), mod.__dict__)
        sys.settrace(None)
        sys.setprofile(None)
        exec(compile(tests, "<tests>", "exec", dont_inherit=True), mod.__dict__)
        if entry:
            eval(compile("check(%s)" % entry, "<tests>", "eval", dont_inherit=True), mod.__dict__)
        verdict = b"PASS " + secret
    except BaseException as exc:
        try:
            verdict = b"FAIL " + type.__dict__["__name__"].__get__(type(exc)).encode("ascii", "replace")[:80]
            import traceback
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    if os.getpid() == me:  # a forked copy that ran on through the tests does not report
        os.write(report, verdict + b"\n")
    os._exit(0)
_run()
"""

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The sandbox could not be set up (the run is refused, nothing ran)."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)} (errno {err})")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _bind(src: str, dst: str, writable: bool = False) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), 0o755, exist_ok=True)
        open(dst, "a").close()
    _mount(src, dst, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if writable else MS_RDONLY | MS_NODEV)
    _mount(None, dst, None, flags)


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _build_root(job: dict, uid: int) -> None:
    """The answer's whole filesystem: one size-capped tmpfs with read-only binds."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    sources = [os.path.realpath(p) for p in job["binds"]]
    point = next(
        p
        for p in ("/mnt", "/media", "/srv", "/opt", "/tmp", "/var")
        if os.path.isdir(p) and not os.path.islink(p) and not any(s == p or s.startswith(p + "/") for s in sources)
    )
    _mount("tc_sandbox", point, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(job['tmpfs_mb'])}m,mode=755")
    root = point
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            _bind(host, root + host)
    for src in sources:
        if os.path.exists(src) and not os.path.exists(root + src):
            _bind(src, root + src)
    os.makedirs(root + "/dev", 0o755, exist_ok=True)
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            _bind("/dev/" + dev, root + "/dev/" + dev, writable=True)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(target, f"{root}/dev/{link}")
    os.symlink("/proc/self/fd/2", root + "/dev/stderr")
    for d in ("/tmp", "/dev/shm", "/var/tmp"):
        os.makedirs(root + d, exist_ok=True)
        os.chmod(root + d, 0o1777)
    os.makedirs(root + "/proc", 0o555, exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.mkdir(root + WORKDIR, 0o700)
    os.chown(root + WORKDIR, uid, uid)
    fd = os.open(root + SOLUTION, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(job["code"])
    os.chroot(root)
    os.chdir(WORKDIR)


def _dup_to(pairs: list[tuple[int, int]]) -> None:
    import fcntl

    high = [(fcntl.fcntl(src, fcntl.F_DUPFD, 200), dst) for src, dst in pairs]
    for src, dst in high:
        os.dup2(src, dst)
    os.closerange(len(pairs), 65536)


def _exec_harness(job: dict, uid: int, root_mode: bool, fds: list[tuple[int, int]]) -> None:
    """In the forked harness process: limits, drop to the sandbox user, exec."""
    import resource

    try:
        _dup_to(fds)
        os.set_inheritable(5, False)  # the exec-error pipe: closed by a successful exec
        cpu = int(job["timeout"]) + 1
        mem = int(job["memory_mb"]) * 1024 * 1024
        for lim, val in (
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_AS, mem),
            (resource.RLIMIT_FSIZE, OUTPUT_MAX),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NPROC, int(job["max_tasks"])),
            (resource.RLIMIT_NOFILE, 256),
        ):
            resource.setrlimit(lim, (val, val))
        if root_mode:
            os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "HOME": WORKDIR, "TMPDIR": "/tmp"}
        python = job["python"]
        os.execve(python, [python, "-I", "-B", "-c", HARNESS], env)
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(5, f"cannot start the harness: {exc!r}".encode()[:4000])
        finally:
            os._exit(71)


def _ns_usage(page: int) -> tuple[int, int]:
    """(bytes of private memory, tasks) over every process of the namespace but PID 1."""
    total = tasks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1":
            continue
        try:
            with open(f"/proc/{name}/statm", "rb") as fh:
                fields = fh.read().split()
            total += (int(fields[1]) - int(fields[2])) * page
            tasks += len(os.listdir(f"/proc/{name}/task"))
        except (OSError, ValueError, IndexError):
            continue
    return total, tasks


def _kill_all() -> None:
    try:
        os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of the namespace
    except ProcessLookupError:
        pass


def _init(job: dict, uid: int, root_mode: bool, status_w: int, fds: list[tuple[int, int]]) -> None:
    """PID 1 of the run's PID namespace."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare(mount|net|ipc|uts)")
    if os.getpid() != 1:
        raise SetupError("not PID 1 of a new PID namespace")
    _build_root(job, uid)
    harness = os.fork()
    if harness == 0:
        _exec_harness(job, uid, root_mode, fds)
    for fd, _ in fds:
        os.close(fd)
    cap = int(job["memory_mb"]) * 1024 * 1024
    page = os.sysconf("SC_PAGE_SIZE")
    report: dict = {"status": None, "memory": False, "tasks": False}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == harness:
            report["status"] = status
            _kill_all()  # everything else the answer left running
            continue
        if pid:
            continue
        used, tasks = _ns_usage(page)
        if used > cap or tasks > int(job["max_tasks"]):
            report["memory" if used > cap else "tasks"] = True
            _kill_all()
        time.sleep(0.005)
    os.write(status_w, json.dumps(report).encode())


def _map_user(uid: int) -> None:
    outer_uid, outer_gid = os.getuid(), os.getgid()
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {outer_uid} 1\n")
    _write("/proc/self/gid_map", f"{uid} {outer_gid} 1\n")


def _collect(
    streams: dict[int, bytearray], limits: dict[int, int], keep: dict[int, int], ipid: int, deadline: float
) -> tuple[int | None, bool]:
    """Read the run's pipes (bounded) until I is reaped and every pipe is at EOF."""
    seen = dict.fromkeys(streams, 0)
    open_fds = set(streams)
    i_status: int | None = None
    timed_out = False
    while open_fds or i_status is None:
        if i_status is None:
            pid, status = os.waitpid(ipid, os.WNOHANG)
            if pid:
                i_status = status
            elif time.monotonic() >= deadline:
                os.kill(ipid, signal.SIGKILL)  # the kernel then kills the whole namespace
                i_status = os.waitpid(ipid, 0)[1]
                timed_out = True
        wait = 0.0 if i_status is not None else max(0.0, min(0.02, deadline - time.monotonic()))
        ready, _, _ = select.select(list(open_fds), [], [], wait) if open_fds else ([], [], [])
        if i_status is not None and open_fds and not ready:
            ready, _, _ = select.select(list(open_fds), [], [], 0.5)  # writers are all dead: EOF is near
            if not ready:
                break
        for fd in ready:
            data = os.read(fd, 65536)
            seen[fd] += len(data)
            room = keep[fd] - len(streams[fd])
            if room > 0:
                streams[fd] += data[:room]
            if not data or seen[fd] > limits[fd]:
                open_fds.discard(fd)
                os.close(fd)
    for fd in open_fds:
        os.close(fd)
    return i_status, timed_out


def supervise(job: dict) -> dict:
    import secrets

    root_mode = os.geteuid() == 0
    uid = int(job["uid"]) if root_mode else SANDBOX_UID
    nonce = secrets.token_hex(16)
    payload = json.dumps({"code": job["code"], "tests": job["tests"], "entry": job["entry"], "nonce": nonce})
    memfd = os.memfd_create("tc_job", 0)
    os.write(memfd, payload.encode("utf-8"))  # memfd writes are never short
    os.lseek(memfd, 0, os.SEEK_SET)
    null = os.open("/dev/null", os.O_RDONLY)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    st_r, st_w = os.pipe()
    ex_r, ex_w = os.pipe()
    flags = CLONE_NEWPID | (0 if root_mode else CLONE_NEWUSER)
    try:
        _check(_libc.unshare(flags), "unshare(pid" + ("" if root_mode else "|user") + ")")
        if not root_mode:
            _map_user(uid)
    except (SetupError, OSError) as exc:
        return {"error": f"cannot isolate the run: {exc}"}
    fds = [(null, 0), (out_w, 1), (err_w, 2), (memfd, 3), (res_w, 4), (ex_w, 5)]
    start = time.monotonic()
    ipid = os.fork()
    if ipid == 0:
        try:
            for fd in (out_r, err_r, res_r, st_r, ex_r):
                os.close(fd)
            _init(job, uid, root_mode, st_w, fds)
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(st_w, json.dumps({"error": f"cannot isolate the run: {exc}"}).encode())
            finally:
                os._exit(70)
    for fd in (null, out_w, err_w, memfd, res_w, st_w, ex_w):
        os.close(fd)
    streams = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray(), st_r: bytearray(), ex_r: bytearray()}
    limits = {out_r: OUTPUT_MAX, err_r: OUTPUT_MAX, res_r: REPORT_MAX, st_r: 65536, ex_r: 4096}
    keep = {out_r: OUTPUT_KEEP, err_r: OUTPUT_KEEP, res_r: REPORT_MAX, st_r: 65536, ex_r: 4096}
    i_status, timed_out = _collect(streams, limits, keep, ipid, start + float(job["timeout"]))
    stdout = streams[out_r].decode("utf-8", "replace")
    stderr = streams[err_r].decode("utf-8", "replace")
    output = (stderr + stdout)[:OUTPUT_KEEP]
    try:
        init_report = json.loads(bytes(streams[st_r]).decode()) if streams[st_r] else {}
    except ValueError:
        init_report = {}
    if "error" in init_report:
        return {"error": init_report["error"]}
    if timed_out:
        return {"status": "timeout", "returncode": None, "output": output}
    if init_report.get("status") is None:
        return {"error": f"the sandbox's init ended without a report (wait status {i_status})"}
    rc = os.waitstatus_to_exitcode(init_report["status"])
    verdict = bytes(streams[res_r])
    if streams[ex_r]:  # written only by trusted code before the exec
        return {"error": bytes(streams[ex_r]).decode("utf-8", "replace")}
    if rc == -signal.SIGXCPU:
        status = "timeout"
    elif init_report.get("memory") or verdict == b"FAIL MemoryError\n" or "MemoryError" in stderr:
        status = "memory"
    elif rc == 0 and verdict == b"PASS " + nonce.encode() + b"\n":
        status = "pass"
    elif rc < 0:
        status = "crash"
    else:
        status = "fail"
    return {"status": status, "returncode": rc, "output": output}


def main() -> None:
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(job["parent"]):
        os._exit(1)  # the evaluation already went away
    try:
        report = supervise(job)
    except Exception as exc:  # noqa: BLE001
        report = {"error": f"sandbox supervisor failed: {exc!r}"}
    sys.stdout.write(json.dumps(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
