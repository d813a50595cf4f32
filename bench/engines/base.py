"""The Engine interface and the start / stop / status logic every local engine shares.

An engine is a database server run natively on 127.0.0.1 (no Docker). Its downloads live under
``${MMBENCH_CACHE:-~/.cache/mmbench}/<engine>/`` and its data, logs and pid file under one
runtime directory ``${MMBENCH_RUNTIME:-~/.local/state/mmbench}/<engine>/``:

- ``engine.log``  stdout and stderr of the server process (plus start markers),
- ``engine.pid``  the pid and start time of the server process we started,
- ``data/``, ``conf/`` … whatever the engine needs.

Readiness is decided by a real protocol-level probe made with the engine's Python driver, never
by an open port alone. Subclasses provide: ``fetch``, ``_command`` (what to run), ``_probe``
(one driver round trip returning the version string) and optionally ``_configure``,
``_after_start``, ``_stop_process``.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backends.base import state_dir
from bench.engines.process import (
    file_lock,
    live_pid,
    log_tail,
    port_open,
    spawn_detached,
    terminate_group,
)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


class EngineError(Exception):
    """A failure to fetch, start or stop an engine.

    The first line of the message is one human sentence; further lines, if any, are the tail of
    the engine's log.
    """


@dataclass
class EngineStatus:
    """What ``status()`` and ``start()`` report about one engine."""

    name: str
    product: str
    version: str | None
    address: str
    emulator: bool
    pid: int | None
    up: bool


@dataclass
class LaunchSpec:
    """How to run an engine's server process."""

    argv: Sequence[str]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None  # run as this OS user (PostgreSQL when we are root)


def cache_root() -> Path:
    """``$MMBENCH_CACHE`` or ``~/.cache/mmbench``: downloads, kept across runs."""
    return Path(os.environ.get("MMBENCH_CACHE") or Path.home() / ".cache" / "mmbench").expanduser()


def runtime_root() -> Path:
    """``$MMBENCH_RUNTIME`` or ``~/.local/state/mmbench``: data, logs, pid files (shared with
    the embedded SQLite file, see ``backends.base.state_dir``)."""
    return state_dir()


class Engine(abc.ABC):
    """One local database server: fetch, start, probe, stop, report.

    ``start`` is a no-op when the probe already answers; ``stop`` is idempotent and only stops a
    process this package started (recorded in the pid file); ``status`` never raises for "down".
    """

    name: ClassVar[str]
    product: ClassVar[str]
    emulator: ClassVar[bool] = False
    host: ClassVar[str] = "127.0.0.1"
    port: ClassVar[int]
    protocol: ClassVar[str]  # what the probe speaks, for messages ("CQL", "Bolt", …)
    default_timeout: ClassVar[float] = 60.0  # seconds to wait for the probe after launch
    stop_grace: ClassVar[float] = 30.0  # seconds between SIGTERM and SIGKILL

    def __init__(self) -> None:
        self.cache_dir: Path = cache_root() / self.name
        self.runtime_dir: Path = runtime_root() / self.name
        self.log_path: Path = self.runtime_dir / "engine.log"
        self.pid_path: Path = self.runtime_dir / "engine.pid"
        self.lock_path: Path = self.runtime_dir / "engine.lock"
        self.last_probe_error: str | None = None  # why the last probe failed, for messages

    # ---- identity ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """Where clients connect, e.g. ``127.0.0.1:9042``."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.address}>"

    # ---- to implement --------------------------------------------------------------------
    def fetch(self, progress: Progress = _quiet) -> None:
        """Download and cache what the engine needs; no-op when already cached.

        Serialised across processes by a lock file in the cache directory.
        """
        with file_lock(
            self.cache_dir / "fetch.lock",
            waiting=lambda: progress(f"waiting for another mmbench process fetching {self.name}…"),
        ):
            self._fetch(progress)

    @abc.abstractmethod
    def _fetch(self, progress: Progress) -> None:
        """Download what is missing (called under the fetch lock)."""

    @abc.abstractmethod
    def _command(self) -> LaunchSpec:
        """The server command (called after ``fetch`` and ``_configure``)."""

    @abc.abstractmethod
    def _probe(self, timeout: float) -> str:
        """One protocol round trip with the Python driver; return the server version or raise."""

    def _configure(self, progress: Progress) -> None:
        """Write configuration and create directories (idempotent; runs before every launch)."""
        self.runtime_dir.mkdir(parents=True, exist_ok=True)

    def _after_start(self, progress: Progress) -> None:  # noqa: B027 - optional hook
        """Post-start setup once the probe answers (e.g. create a database)."""

    def _log_paths(self) -> list[Path]:
        """Files whose tails explain a failed start."""
        return [self.log_path]

    def _stop_process(self, pid: int) -> None:
        """Stop our server process: SIGTERM to its process group, then SIGKILL after the grace."""
        terminate_group(pid, grace=self.stop_grace)

    # ---- shared behaviour ----------------------------------------------------------------
    def pid(self) -> int | None:
        """Pid of the server process we started, if it is still running."""
        return live_pid(self.pid_path)

    def probe(self, timeout: float = 2.0) -> str | None:
        """The version string if the engine answers within ``timeout`` seconds, else None."""
        try:
            version = self._probe(timeout)
        except Exception as exc:  # noqa: BLE001 - any driver error means "not answering"
            self.last_probe_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            return None
        self.last_probe_error = None
        return version

    def _version_for_status(self, probed: str) -> str:
        """Hook to refine the probed version (e.g. an emulator's own version)."""
        return probed

    def status(self) -> EngineStatus:
        """Up/down, pid and version, from a quick probe. Never raises for a down engine."""
        version = self.probe(timeout=2.0)
        return EngineStatus(
            name=self.name,
            product=self.product,
            version=self._version_for_status(version) if version else None,
            address=self.address,
            emulator=self.emulator,
            pid=self.pid(),
            up=version is not None,
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the engine's logs."""
        return log_tail(self._log_paths(), lines)

    def _fail(self, sentence: str) -> EngineError:
        tail = self.log_tail()
        return EngineError(sentence + (f"\n{tail}" if tail else ""))

    def start(self, progress: Progress = _quiet, timeout: float | None = None) -> EngineStatus:
        """Fetch if needed, start in the background, wait until the probe answers.

        A no-op when the engine already answers. On a failed or timed-out start the process is
        stopped and EngineError carries the last log lines. Concurrent starts and stops of the
        same engine (from other processes too) are serialised by a lock file.
        """
        with self._locked(progress):
            return self._start_locked(progress, timeout)

    def _locked(self, progress: Progress = _quiet):
        """Context manager holding this engine's lock file."""
        return file_lock(
            self.lock_path,
            waiting=lambda: progress(f"waiting for another mmbench process handling {self.name}…"),
        )

    def _start_locked(self, progress: Progress, timeout: float | None) -> EngineStatus:
        if self.probe(timeout=2.0) is not None:
            progress(f"{self.name} is already up on {self.address}")
            self._after_start(progress)
            return self.status()
        timeout = self.default_timeout if timeout is None else timeout
        self.fetch(progress)
        proc = None
        pid = self.pid()
        if pid is None:
            if port_open(self.host, self.port):
                raise EngineError(
                    f"{self.name}: port {self.port} on {self.host} is taken by a program that does"
                    f" not answer as {self.product}; stop it first{self._port_hint()}"
                )
            self._configure(progress)
            spec = self._command()
            progress(f"starting {self.product} ({self.name})…")
            proc = spawn_detached(
                spec.argv,
                log_path=self.log_path,
                pid_path=self.pid_path,
                cwd=spec.cwd,
                env=spec.env,
                user=spec.user,
            )
            pid = proc.pid
        else:
            progress(f"{self.name} is starting already (pid {pid})")
        progress(f"waiting for {self.protocol} on {self.address}…")
        deadline = time.monotonic() + timeout  # an engine start-up wait, not a measurement
        while True:
            if proc is not None and proc.poll() is not None:
                error = self._fail(
                    f"{self.name} exited with code {proc.returncode} during startup; log {self.log_path}:"
                )
                self._stop_locked()  # leftovers of its process group, and the pid file
                raise error
            if proc is None and self.pid() is None:
                raise self._fail(f"{self.name} exited during startup; log {self.log_path}:")
            if self.probe(timeout=min(5.0, max(1.0, deadline - time.monotonic()))) is not None:
                break
            if time.monotonic() >= deadline:
                why = f" (last probe: {self.last_probe_error})" if self.last_probe_error else ""
                tail_error = self._fail(
                    f"{self.name} did not answer {self.protocol} on {self.address} within"
                    f" {timeout:.0f} s{why}; stopped it; log {self.log_path}:"
                )
                self._stop_locked()
                raise tail_error
            time.sleep(0.5)
        self._after_start(progress)
        status = self.status()
        progress(f"{self.name} is up: {self.product} {status.version or ''} on {self.address}".rstrip())
        return status

    def _port_hint(self) -> str:
        return ""

    def stop(self) -> None:
        """Stop the server process we started, if running; idempotent.

        An engine that answers but was not started by us (no live pid file) is left alone.
        """
        with self._locked():
            self._stop_locked()

    def _stop_locked(self) -> None:
        pid = self.pid()
        if pid is not None:
            self._stop_process(pid)
        try:
            self.pid_path.unlink()
        except FileNotFoundError:
            pass
