"""Start and stop aerender as a whole process tree.

aerender is a launcher: it starts After Effects (AfterFX on Windows, aerendercore on macOS) as
separate processes, and those can detach and outlive it. So each process of one render is
recognised by at least one of three marks: the tree token in its environment
(AEFARM_TREE_TOKEN), membership in the process group that start_new_session gave aerender,
or descent from the aerender pid. terminate_tree stops those processes and no others.

On Windows the tree is also put in a Job Object (contain_tree), because Windows has neither
process groups nor signals that a console program can handle like SIGTERM.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import psutil

logger = logging.getLogger(__name__)

TREE_TOKEN_VARIABLE = "AEFARM_TREE_TOKEN"

# Seconds between scans while waiting for signalled processes to exit.
_POLL_INTERVAL = 0.05
# Seconds to wait for SIGKILLed processes to disappear before reporting them as survivors.
# A process in uninterruptible sleep (state D, for example on a hung network share) dies only
# when the kernel call returns.
_KILL_WAIT = 5.0
# Seconds to retry collecting an adopted zombie whose threads are still exiting.
_REAP_WAIT = 2.0
_REAP_TRIES = int(_REAP_WAIT / _POLL_INTERVAL)
# Rounds of scan-and-signal in one phase. Each round catches children forked since the last
# scan, and a tree that still forks new processes after this many rounds is reported.
_SCAN_ROUNDS = 5

# Linux prctl option, from <linux/prctl.h>.
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of orphaned descendants (Linux only).

    A process that detaches with a double fork is then reparented to this process instead of
    to init, so it stays visible under this process in the process table. This process must
    then reap those orphans: terminate_tree reaps the ones it stops. Returns True on success,
    and False on other platforms or when prctl fails.
    """
    if sys.platform != "linux":
        return False

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        logger.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", os.strerror(error))
        return False
    return True


def new_tree_token() -> str:
    """Return a fresh token that marks the processes of one process tree."""
    return uuid.uuid4().hex


def spawn_env(base: Mapping[str, str], tree_token: str) -> dict[str, str]:
    """Return a copy of base with AEFARM_TREE_TOKEN set to tree_token."""
    if not tree_token:
        raise ValueError(
            "tree_token is empty; pass a unique value such as new_tree_token() so that "
            "terminate_tree can recognise the processes of this tree"
        )
    env = dict(base)
    env[TREE_TOKEN_VARIABLE] = tree_token
    return env


def spawn_options() -> dict[str, Any]:
    """Return the keyword arguments that start a process as the root of its own tree.

    POSIX: a new session, so the process leads its own process group. Windows: a new process
    group, which lets terminate_tree send CTRL_BREAK_EVENT to the tree.
    """
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def find_tree(root_pid: int, tree_token: str) -> list[psutil.Process]:
    """Return the live processes of the tree rooted at root_pid, sorted by pid.

    Members are root_pid and its descendants, the members of the process group root_pid
    leads, and every process whose environment has AEFARM_TREE_TOKEN=tree_token. The root's
    descendants and group count only while root_pid is a zombie, carries the token, or no
    longer exists: a live root_pid without the token is a reused pid, and its processes are
    left alone. This process and its ancestors are never members. Zombies are left out.
    """
    found: dict[int, psutil.Process] = {}
    root = _trusted_root(root_pid, tree_token)
    if root is not None:
        found[root.pid] = root
        found.update((child.pid, child) for child in _descendants(root))
    group_trusted = sys.platform != "win32" and (root is not None or not _pid_exists(root_pid))

    for process in psutil.process_iter():
        if process.pid in found:
            continue
        in_group = group_trusted and _process_group(process.pid) == root_pid
        if in_group or _carries_token(process, tree_token):
            found[process.pid] = process

    protected = _protected_pids()
    return [
        process
        for pid, process in sorted(found.items())
        if pid not in protected and _is_alive(process)
    ]


async def terminate_tree(root_pid: int, tree_token: str, grace_seconds: float) -> list[int]:
    """Stop every process of the tree (see find_tree) and return the pids that were signalled.

    Sends SIGTERM, waits up to grace_seconds for the processes to exit, then sends SIGKILL to
    the survivors. Processes forked during the grace period are found by rescanning and are
    signalled as well. Returns once every signalled process has exited or after a bounded
    wait, and logs any process that survived SIGKILL.
    """
    if sys.platform == "win32":
        return await _terminate_tree_windows(root_pid, tree_token, grace_seconds)

    signalled: dict[int, psutil.Process] = {}
    loop = asyncio.get_running_loop()

    _signal_new_members(root_pid, tree_token, signal.SIGTERM, signalled)
    _signal_group(root_pid, tree_token, signal.SIGTERM)
    deadline = loop.time() + grace_seconds
    while _alive(signalled.values()) and loop.time() < deadline:
        await asyncio.sleep(_POLL_INTERVAL)
        _signal_new_members(root_pid, tree_token, signal.SIGTERM, signalled)

    survivors = _alive(signalled.values())
    if survivors:
        logger.info(
            "processes %s of tree %s (root pid %d) still running %.1f s after SIGTERM; "
            "sending SIGKILL",
            [process.pid for process in survivors],
            tree_token,
            root_pid,
            grace_seconds,
        )
    await _kill_until_gone(root_pid, tree_token, signalled)

    await _reap_adopted(signalled.values(), root_pid)
    return sorted(signalled)


def contain_tree(root_pid: int, tree_token: str) -> bool:
    """Put root_pid in a Job Object that terminate_tree closes (Windows only).

    Processes that root_pid starts later join the job too, unless they ask to break away, so
    closing the job stops AfterFX even after it detached from aerender. The job is created
    with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, so it also ends if this agent exits. Returns
    False on other platforms, where start_new_session and the tree token do this work.
    """
    if sys.platform != "win32":
        return False
    return _windows_contain(root_pid, tree_token)


def _signal_new_members(
    root_pid: int, tree_token: str, signum: int, signalled: dict[int, psutil.Process]
) -> None:
    """Send signum to members of the tree that have not been signalled yet."""
    for _ in range(_SCAN_ROUNDS):
        fresh = [p for p in find_tree(root_pid, tree_token) if p.pid not in signalled]
        if not fresh:
            return
        for process in fresh:
            signalled[process.pid] = process
            _send(process, signum)
    logger.warning(
        "tree %s (root pid %d) kept forking new processes over %d scans",
        tree_token,
        root_pid,
        _SCAN_ROUNDS,
    )


async def _kill_until_gone(
    root_pid: int, tree_token: str, signalled: dict[int, psutil.Process]
) -> None:
    if sys.platform == "win32":
        raise RuntimeError("process groups and POSIX signals do not exist on Windows")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _KILL_WAIT

    while True:
        for process in _alive(signalled.values()):
            _send(process, signal.SIGKILL)
        _signal_new_members(root_pid, tree_token, signal.SIGKILL, signalled)
        _signal_group(root_pid, tree_token, signal.SIGKILL)

        survivors = _alive(signalled.values())
        if not survivors:
            return
        if loop.time() >= deadline:
            logger.error(
                "processes %s of tree %s (root pid %d) still running %.0f s after SIGKILL; "
                "they are probably blocked in the kernel (state D), check them with ps",
                [process.pid for process in survivors],
                tree_token,
                root_pid,
                _KILL_WAIT,
            )
            return
        await asyncio.sleep(_POLL_INTERVAL)


def _signal_group(root_pid: int, tree_token: str, signum: int) -> None:
    """Signal the process group root_pid leads, if that group belongs to the tree.

    killpg also reaches group members forked after the last scan.
    """
    if sys.platform == "win32":
        raise RuntimeError("process groups and POSIX signals do not exist on Windows")
    if root_pid <= 1 or root_pid == os.getpgrp():
        return
    if _trusted_root(root_pid, tree_token) is None and _pid_exists(root_pid):
        return
    try:
        os.killpg(root_pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        logger.warning("cannot signal process group %d: %s", root_pid, error)


def _send(process: psutil.Process, signum: int) -> None:
    # psutil refuses to signal a pid that was reused since the Process object was made.
    try:
        process.send_signal(signum)
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied as error:
        logger.warning("cannot send signal %d to pid %d: %s", signum, process.pid, error)


def _trusted_root(root_pid: int, tree_token: str) -> psutil.Process | None:
    """Return the root process if it is the one the tree was started with."""
    try:
        root = psutil.Process(root_pid)
        # A zombie pid cannot be reused until its parent reaps it.
        if root.status() == psutil.STATUS_ZOMBIE:
            return root
        if root.environ().get(TREE_TOKEN_VARIABLE) == tree_token:
            return root
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    logger.debug(
        "pid %d does not carry tree token %s; ignoring its descendants", root_pid, tree_token
    )
    return None


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _carries_token(process: psutil.Process, tree_token: str) -> bool:
    try:
        return process.environ().get(TREE_TOKEN_VARIABLE) == tree_token
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _process_group(pid: int) -> int | None:
    if sys.platform == "win32":
        return None
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _pid_exists(pid: int) -> bool:
    return psutil.pid_exists(pid)


def _protected_pids() -> set[int]:
    me = psutil.Process()
    return {me.pid, *(parent.pid for parent in me.parents())}


def _is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [process for process in processes if _is_alive(process)]


async def _reap_adopted(processes: Iterable[psutil.Process], root_pid: int) -> None:
    """Reap stopped tree members that were reparented to this process (see become_subreaper).

    root_pid is left alone because asyncio or subprocess, which started it, reaps it and
    would report a wrong exit code if it were reaped here.
    """
    # NOTE: an orphan that exits on its own before any terminate_tree scan is never seen here
    # and stays a zombie child of this process, using only a pid, until this process exits.
    if sys.platform == "win32":
        raise RuntimeError("process groups and POSIX signals do not exist on Windows")
    me = os.getpid()
    for process in processes:
        if process.pid == root_pid:
            continue
        try:
            if process.ppid() != me or process.status() != psutil.STATUS_ZOMBIE:
                continue
            await _reap(process.pid)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue


async def _reap(pid: int) -> None:
    # The main thread of a multithreaded process (Node.js, After Effects) shows as a zombie
    # while its other threads still exit, and waitpid cannot collect it before they have.
    for _ in range(_REAP_TRIES):
        reaped, _status = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return
        await asyncio.sleep(_POLL_INTERVAL)
    logger.warning("pid %d is still not collectable %.1f s after it exited", pid, _REAP_WAIT)


# Windows Job Object support. The structures are plain ctypes and exist on every platform;
# only the calls into kernel32 are Windows-only.

_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
_PROCESS_SET_QUOTA = 0x0100
_PROCESS_TERMINATE = 0x0001

# Job handles by tree token, closed by terminate_tree.
_windows_jobs: dict[str, int] = {}


class _IoCounters(ctypes.Structure):
    _fields_ = [
        ("ReadOperationCount", ctypes.c_uint64),
        ("WriteOperationCount", ctypes.c_uint64),
        ("OtherOperationCount", ctypes.c_uint64),
        ("ReadTransferCount", ctypes.c_uint64),
        ("WriteTransferCount", ctypes.c_uint64),
        ("OtherTransferCount", ctypes.c_uint64),
    ]


class _JobBasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class _JobExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _JobBasicLimits),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


if sys.platform == "win32":
    # NOTE: this Windows code path has not been run; only the Linux path is tested.

    def _kernel32() -> Any:
        """Return kernel32 with pointer-sized handle types, so 64-bit handles are not cut."""
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
        kernel32.SetInformationJobObject.restype = wintypes.BOOL
        kernel32.SetInformationJobObject.argtypes = [
            wintypes.HANDLE,
            ctypes.c_int,
            ctypes.c_void_p,
            wintypes.DWORD,
        ]
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
        kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
        kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
        kernel32.TerminateJobObject.restype = wintypes.BOOL
        kernel32.TerminateJobObject.argtypes = [wintypes.HANDLE, wintypes.UINT]
        kernel32.CloseHandle.restype = wintypes.BOOL
        kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
        return kernel32

    def _windows_contain(root_pid: int, tree_token: str) -> bool:
        # NOTE: a child that the root starts between process creation and this call is not in
        # the job. aerender takes seconds before it starts AfterFX, so the window is small, and
        # the tree token still finds such a child.
        kernel32 = _kernel32()
        job = kernel32.CreateJobObjectW(None, None)
        if not job:
            logger.warning("CreateJobObjectW failed: error %d", ctypes.get_last_error())
            return False

        limits = _JobExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = _JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if not kernel32.SetInformationJobObject(
            job,
            _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
            ctypes.byref(limits),
            ctypes.sizeof(limits),
        ):
            logger.warning("SetInformationJobObject failed: error %d", ctypes.get_last_error())

        handle = kernel32.OpenProcess(_PROCESS_SET_QUOTA | _PROCESS_TERMINATE, False, root_pid)
        if not handle or not kernel32.AssignProcessToJobObject(job, handle):
            logger.warning(
                "cannot put pid %d in a Job Object: error %d", root_pid, ctypes.get_last_error()
            )
            if handle:
                kernel32.CloseHandle(handle)
            kernel32.CloseHandle(job)
            return False
        kernel32.CloseHandle(handle)
        _windows_jobs[tree_token] = job
        return True

    def _windows_close_job(tree_token: str) -> None:
        job = _windows_jobs.pop(tree_token, None)
        if job is None:
            return
        kernel32 = _kernel32()
        kernel32.TerminateJobObject(job, 1)
        kernel32.CloseHandle(job)

    async def _terminate_tree_windows(
        root_pid: int, tree_token: str, grace_seconds: float
    ) -> list[int]:
        members = find_tree(root_pid, tree_token)
        signalled = {process.pid for process in members}

        # CTRL_BREAK_EVENT reaches the console processes of the group that
        # CREATE_NEW_PROCESS_GROUP made, which is the nearest thing to SIGTERM on Windows.
        try:
            os.kill(root_pid, signal.CTRL_BREAK_EVENT)
        except OSError as error:
            logger.debug("CTRL_BREAK_EVENT to pid %d failed: %s", root_pid, error)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while _alive(members) and loop.time() < deadline:
            await asyncio.sleep(_POLL_INTERVAL)

        # psutil's kill is TerminateProcess, and closing the job ends the members it holds.
        _windows_close_job(tree_token)
        for process in _alive([*members, *find_tree(root_pid, tree_token)]):
            signalled.add(process.pid)
            try:
                process.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied) as error:
                logger.warning("cannot stop pid %d: %s", process.pid, error)
        return sorted(signalled)

else:

    def _windows_contain(root_pid: int, tree_token: str) -> bool:
        return False
