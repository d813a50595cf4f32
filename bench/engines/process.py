"""Process helpers shared by the engines: detached spawn, pid files, stop, log tails, ports.

An engine process is started in its own session (so its process group id equals its pid), with
stdout and stderr appended to one log file, and its pid written to a pid file together with the
process start time, so a stale pid file can never make us signal an unrelated process that
happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import psutil

__all__ = [
    "spawn_detached",
    "write_pidfile",
    "read_pidfile",
    "live_pid",
    "terminate_group",
    "log_tail",
    "port_open",
    "file_lock",
]


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    pid_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen:
    """Start ``argv`` in a new session, output appended to ``log_path``; record its pid.

    ``user`` runs the process as that OS user (setuid in the child, so no intermediate
    ``su``/``runuser`` process stands between us and the server).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    extra: dict = {}
    if user is not None:
        extra.update(user=user, group=_primary_group(user), extra_groups=[])
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
            env=full_env,
            start_new_session=True,
            close_fds=True,
            **extra,
        )
    write_pidfile(pid_path, proc.pid)
    return proc


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def write_pidfile(pid_path: Path, pid: int) -> None:
    """Write ``pid`` and the process start time (``psutil`` create_time) to ``pid_path``."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = 0.0
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n{created:.3f}\n")
    tmp.replace(pid_path)


def read_pidfile(pid_path: Path) -> tuple[int, float] | None:
    """``(pid, create_time)`` from a pid file, or None when absent or unreadable."""
    try:
        lines = pid_path.read_text().split()
        return int(lines[0]), float(lines[1]) if len(lines) > 1 else 0.0
    except (OSError, ValueError, IndexError):
        return None


def live_pid(pid_path: Path) -> int | None:
    """The pid recorded in ``pid_path`` if that very process is still running (not a zombie)."""
    rec = read_pidfile(pid_path)
    if rec is None:
        return None
    pid, created = rec
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if created and abs(proc.create_time() - created) > 1.0:
            return None  # pid reused by another process
        return pid
    except psutil.Error:
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) succeeds while zombies remain in the group; look for a live member.
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child (avoids a zombie in long-lived parents)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def terminate_group(pid: int, *, grace: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the process group led by ``pid``: ``sig`` (SIGTERM), wait ``grace`` s, then SIGKILL.

    Returns True if the group ended within the grace period, False if it had to be killed.
    The group is the one created by :func:`spawn_detached` (pgid == pid).
    """
    pgid = pid
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace  # a shutdown wait, not a measurement
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pgid):
            return True
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        _reap(pid)
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    return False


def log_tail(paths: Sequence[Path], lines: int = 20) -> str:
    """The last ``lines`` lines over the non-empty files in ``paths`` (shared evenly), tail-style."""
    found: list[tuple[Path, list[str]]] = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        content = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
        if content:
            found.append((path, content))
    if not found:
        return ""
    share = max(1, lines // len(found))
    if len(found) == 1:
        return "\n".join(found[0][1][-lines:])
    blocks = [f"==> {path} <==\n" + "\n".join(content[-share:]) for path, content in found]
    return "\n".join(blocks)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def file_lock(
    path: Path, *, waiting: Callable[[], None] | None = None, timeout: float = 1800.0
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the ``with`` block.

    Serialises concurrent mmbench processes that start, stop or download the same engine. The
    lock dies with its holder. ``waiting`` is called once if another process holds it;
    TimeoutError after ``timeout`` seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout  # a lock wait, not a measurement
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waiting is not None and not told:
                    waiting()
                    told = True
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} stayed locked for {timeout:.0f} s") from None
                time.sleep(0.25)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
