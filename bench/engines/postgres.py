"""PostgreSQL (Debian's packages, 15 preferred) as a private cluster owned by mmbench.

``initdb`` creates a cluster with trust authentication in our runtime directory; the server
listens on 127.0.0.1:5432 only, with its Unix socket in our runtime directory (not /run), and the
database ``mmbench`` is created after the first start. PostgreSQL refuses to run as root, so
when we are root the server runs as the ``postgres`` OS user (created by the Debian package) and
owns the data directory. If that user cannot reach the runtime directory (root's home is mode
0700), the data and socket directories are placed in ``/var/lib/mmbench/postgres-<hash>/``
instead, with ``data`` and ``run`` symlinks to them in the runtime directory.

``Replica`` (``mmbench up postgres --replica``) is a streaming replica of that server: a second
cluster cloned with ``pg_basebackup -R -X stream`` (the clone writes ``standby.signal`` and the
primary's address) and run as a hot standby on 127.0.0.1:5433, its own row in ``mmbench status``,
stopped by ``mmbench down``. Its settings (environment, read when it starts):

    MMBENCH_POSTGRES_REPLICA_PORT   the replica's port (default 5433; the backend reads the same
                                    variable for MMBENCH_POSTGRES_READ_REPLICA)
    MMBENCH_POSTGRES_REPLICATION    sync (default) or async. sync: the primary's
                                    ``synchronous_standby_names`` names the replica
                                    (``mmbench_replica``, its ``cluster_name``), so a commit whose
                                    ``synchronous_commit`` is ``on``, ``remote_write`` or
                                    ``remote_apply`` waits for it (flushed, written, or applied
                                    and visible to the replica's readers). async: nothing waits.

Each session chooses what its commits wait for: the backend's ``MMBENCH_POSTGRES_SYNCHRONOUS_COMMIT``
(``remote_apply``: a read on the replica right after the commit sees it; ``local``: it does not
wait). While the replica is a synchronous standby the primary's default ``synchronous_commit``
is ``local`` (ALTER SYSTEM), so sessions that did not ask never wait for the replica, nor hang
if it goes away (a session that asked waits until its statement timeout); stopping the replica
resets both settings first. Every start clones
afresh (data on the replica is derived, and WAL the primary recycled since the last clone
could not be replayed); stopping deletes the clone. No replication slot is created: the primary
never keeps WAL for a replica that is gone. ``hot_standby_feedback`` is on, so vacuum on the
primary does not cancel a long read on the replica.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import time
from pathlib import Path

from bench.engines.base import (
    Engine,
    EngineError,
    EngineStatus,
    LaunchSpec,
    Progress,
    _quiet,
)
from bench.engines.process import terminate_group

PG_MAJOR = "15"
DATABASE = "mmbench"
USER = "postgres"
APT_PACKAGE = "postgresql"
REPLICA_NAME = "mmbench_replica"  # the replica's cluster_name, hence its application_name on the primary
REPLICA_PORT = 5433
REPLICATION_MODES = ("sync", "async")
CLONE_TIMEOUT = 900.0  # seconds for pg_basebackup


def find_bindir() -> Path | None:
    """Directory holding ``initdb``/``postgres``/``pg_ctl``: ``$MMBENCH_PG_BINDIR``, else
    ``/usr/lib/postgresql/<major>/bin`` preferring 15, else the newest installed."""
    override = os.environ.get("MMBENCH_PG_BINDIR")
    if override:
        return Path(override) if (Path(override) / "postgres").exists() else None
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    for p in found:
        if Path(p).parent.parent.name == PG_MAJOR:
            return Path(p).parent
    return Path(found[-1]).parent if found else None


def ensure_installed(progress: Progress = _quiet) -> Path:
    """Return the PostgreSQL bin directory, installing Debian's ``postgresql`` when missing.

    Installs only when running as root (``apt-get update`` + ``apt-get install -y postgresql``);
    otherwise raises EngineError with one line of advice. The system cluster that the package
    may start is stopped again so it does not hold port 5432.
    """
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EngineError(f"postgres needs the PostgreSQL server: sudo apt-get install -y {APT_PACKAGE}")
    progress("installing PostgreSQL from Debian packages (apt-get)…")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", APT_PACKAGE]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-20:])
            raise EngineError(f"postgres: `{' '.join(cmd)}` failed (exit {res.returncode})\n{tail}")
    _stop_system_clusters()
    bindir = find_bindir()
    if bindir is None:
        raise EngineError("postgres: apt-get installed postgresql but no server binaries were found")
    return bindir


def _stop_system_clusters() -> None:
    """Stop clusters the Debian package started (they would hold port 5432)."""
    if shutil.which("pg_lsclusters") is None:
        return
    res = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True)
    for line in res.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[3] == "online":
            subprocess.run(["pg_ctlcluster", cols[0], cols[1], "stop"], capture_output=True)


def _can_traverse(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` (with groups ``gids``) may search every existing ancestor of ``path``."""
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        if uid == 0:
            continue
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in gids:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


class Postgres(Engine):
    """PostgreSQL 15 private cluster on 127.0.0.1:5432 (trust auth, database ``mmbench``)."""

    name = "postgres"
    product = "PostgreSQL"
    emulator = False
    port = 5432
    protocol = "PostgreSQL"
    default_timeout = 60.0
    stop_grace = 30.0

    # ---- where things live -----------------------------------------------------------------
    def _server_user(self) -> str | None:
        """The OS user to run the server as: ``postgres`` when we are root, else ourselves."""
        return USER if os.geteuid() == 0 else None

    def _server_root(self) -> Path:
        """Directory (writable by the server user) holding ``data/`` and ``run/`` (socket)."""
        user = self._server_user()
        if user is None:
            return self.runtime_dir
        pw = pwd.getpwnam(user)
        gids = {pw.pw_gid, *(g for g in os.getgrouplist(user, pw.pw_gid))}
        if _can_traverse(self.runtime_dir, pw.pw_uid, gids):
            return self.runtime_dir
        digest = hashlib.sha256(str(self.runtime_dir.resolve()).encode()).hexdigest()[:8]
        return Path("/var/lib/mmbench") / f"postgres-{digest}"

    @property
    def data_dir(self) -> Path:
        return self._server_root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._server_root() / "run"

    # ---- Engine ------------------------------------------------------------------------------
    def _fetch(self, progress: Progress) -> None:
        """Make sure the server binaries are installed (apt-get as root; see ensure_installed)."""
        ensure_installed(progress)

    def _run_as_server(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        user = self._server_user()
        extra = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            extra = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return subprocess.run(argv, capture_output=True, text=True, cwd="/", **extra, **kw)

    def _configure(self, progress: Progress) -> None:
        super()._configure(progress)
        bindir = ensure_installed(progress)
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            progress(f"initialising a PostgreSQL cluster in {self.data_dir}…")
            res = self._run_as_server([
                str(bindir / "initdb"), "-D", str(self.data_dir), "-U", USER,
                "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
            ])
            if res.returncode != 0:
                raise EngineError(
                    f"postgres: initdb failed (exit {res.returncode})\n"
                    + "\n".join((res.stdout + res.stderr).strip().splitlines()[-20:])
                )

    def _prepare_dirs(self) -> None:
        """The server root and socket directory, owned by the server user; symlinks to them from
        the runtime directory when they live elsewhere."""
        root = self._server_root()
        user = self._server_user()
        for d in (root, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            if user is not None:
                pw = pwd.getpwnam(user)
                os.chown(d, pw.pw_uid, pw.pw_gid)
        if root != self.runtime_dir:  # point at the real place from the runtime directory
            for link, target in (
                (self.runtime_dir / "data", self.data_dir),
                (self.runtime_dir / "run", self.socket_dir),
            ):
                if not link.is_symlink():
                    link.symlink_to(target)

    def _command(self) -> LaunchSpec:
        bindir = ensure_installed()
        return LaunchSpec(
            argv=[
                str(bindir / "postgres"), "-D", str(self.data_dir),
                "-p", str(self.port),
                "-c", f"listen_addresses={self.host}",
                "-c", f"unix_socket_directories={self.socket_dir}",
                "-c", "logging_collector=off",
            ],
            cwd=Path("/"),
            user=self._server_user(),
        )

    def _connect(self, dbname: str, timeout: float):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=USER, dbname=dbname,
            connect_timeout=max(1, int(timeout)), autocommit=True,
        )

    def _probe(self, timeout: float) -> str:
        with self._connect("postgres", timeout) as conn:
            full = conn.execute("SELECT version()").fetchone()[0]  # "PostgreSQL 15.x (Debian …) on …"
            return full.split()[1] if full.startswith("PostgreSQL ") else full

    def _after_start(self, progress: Progress) -> None:
        """Create the database ``mmbench`` if it does not exist."""
        try:
            with self._connect("postgres", 5) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if not exists:
                    progress(f"creating database {DATABASE}…")
                    conn.execute(f"CREATE DATABASE {DATABASE}")
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"postgres: could not create database {DATABASE}: {exc}") from exc

    def _stop_process(self, pid: int) -> None:
        """``pg_ctl stop -m fast``, then the generic SIGTERM/SIGKILL if it is still running."""
        bindir = find_bindir()
        if bindir is not None and (self.data_dir / "postmaster.pid").exists():
            self._run_as_server(
                [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30"],
            )
        terminate_group(pid, grace=self.stop_grace)

    def _port_hint(self) -> str:
        return " (a system cluster? `pg_lsclusters`, then `pg_ctlcluster 15 main stop`)"


def replica_port() -> int:
    """MMBENCH_POSTGRES_REPLICA_PORT (default 5433); EngineError naming the variable if it is bad."""
    raw = os.environ.get("MMBENCH_POSTGRES_REPLICA_PORT", "").strip() or str(REPLICA_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise EngineError(f"postgres-replica: invalid setting MMBENCH_POSTGRES_REPLICA_PORT={raw!r}: a port number")
    return int(raw)


def replication_mode() -> str:
    """MMBENCH_POSTGRES_REPLICATION: sync (default) or async."""
    raw = os.environ.get("MMBENCH_POSTGRES_REPLICATION", "").strip().lower() or "sync"
    if raw not in REPLICATION_MODES:
        raise EngineError(f"postgres-replica: invalid setting MMBENCH_POSTGRES_REPLICATION={raw!r}: sync or async")
    return raw


class Replica(Postgres):
    """A streaming replica (hot standby) of the local PostgreSQL, on 127.0.0.1:5433 (see the module
    docstring)."""

    name = "postgres-replica"
    product = "PostgreSQL streaming replica"
    default_timeout = 120.0
    stream_timeout = 60.0  # seconds for the replica to stream, and the primary to list it as synchronous

    def __init__(self) -> None:
        super().__init__()
        self.port = replica_port()  # type: ignore[misc]
        self.primary = Postgres()

    # ---- Engine ------------------------------------------------------------------------------
    def start(self, progress: Progress = _quiet, timeout: float | None = None) -> EngineStatus:
        replication_mode()  # a bad setting is refused before anything starts or stops
        return super().start(progress, timeout)

    def _configure(self, progress: Progress) -> None:
        """Clone the primary afresh with pg_basebackup (the old clone, if any, is removed)."""
        Engine._configure(self, progress)
        bindir = ensure_installed(progress)
        if self.primary.probe(timeout=5.0) is None:
            raise EngineError(f"{self.name}: the primary PostgreSQL on {self.primary.address} does not answer; "
                              "start it first: mmbench up postgres")
        self._prepare_dirs()
        self._remove_data()
        progress(f"cloning the primary on {self.primary.address} (pg_basebackup -R -X stream)…")
        conninfo = f"host={self.primary.host} port={self.primary.port} user={USER} connect_timeout=10"
        try:
            res = self._run_as_server([
                str(bindir / "pg_basebackup"), "-d", conninfo, "-D", str(self.data_dir),
                "-R", "-X", "stream", "-c", "fast", "--no-sync",
            ], timeout=CLONE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._remove_data()
            raise EngineError(f"{self.name}: pg_basebackup did not finish within {CLONE_TIMEOUT:.0f} s") from None
        if res.returncode != 0 or not (self.data_dir / "standby.signal").exists():
            self._remove_data()
            raise EngineError(f"{self.name}: pg_basebackup failed (exit {res.returncode})\n"
                              + "\n".join((res.stdout + res.stderr).strip().splitlines()[-20:]))

    def _command(self) -> LaunchSpec:
        spec = super()._command()
        spec.argv = [*spec.argv, "-c", f"cluster_name={REPLICA_NAME}", "-c", "hot_standby=on",
                     "-c", "hot_standby_feedback=on"]
        return spec

    def _probe(self, timeout: float) -> str:
        """The version, from a server that is in recovery (a standby); anything else is not it."""
        with self._connect("postgres", timeout) as conn:
            full, standby = conn.execute("SELECT version(), pg_is_in_recovery()").fetchone()
            if not standby:
                raise EngineError(f"{self.address} answers as a PostgreSQL primary, not a replica")
            return full.split()[1] if full.startswith("PostgreSQL ") else full

    def _after_start(self, progress: Progress) -> None:
        """Wait until the replica streams from the primary; then make it the primary's synchronous
        standby (sync) or make sure nothing waits for it (async)."""
        try:
            progress("waiting for the replica to stream from the primary…")
            self._wait("the replica to stream from the primary", lambda: self._one(
                "SELECT status FROM pg_stat_wal_receiver") == "streaming")
            if replication_mode() == "sync":
                progress("making it the primary's synchronous standby…")
                self._primary_sql(f"ALTER SYSTEM SET synchronous_standby_names = '{REPLICA_NAME}'",
                                  "ALTER SYSTEM SET synchronous_commit = 'local'", "SELECT pg_reload_conf()")
                self._wait("the primary to list the replica as synchronous", lambda: self.sync_state() == "sync")
            else:
                self._release_primary()
        except Exception:
            self._stop_locked()  # a replica that does not stream is of no use: stopped, clone deleted
            raise

    def _wait(self, what: str, done) -> None:
        deadline = time.monotonic() + self.stream_timeout  # a start-up wait, not a measurement
        while not done():
            if time.monotonic() >= deadline:
                raise self._fail(f"{self.name}: timed out after {self.stream_timeout:.0f} s waiting for {what}; "
                                 f"log {self.log_path}:")
            time.sleep(0.2)

    def _one(self, sql: str) -> object:
        """The first column of the first row of `sql` on the replica (None if there is none)."""
        with self._connect("postgres", 5) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

    def _primary_sql(self, *statements: str) -> None:
        """Run statements on the primary (autocommit: ALTER SYSTEM cannot run in a transaction)."""
        with self.primary._connect("postgres", 5) as conn:
            for sql in statements:
                conn.execute(sql)

    def sync_state(self) -> str | None:
        """How the primary sees the replica: sync, async, potential, quorum, or None (not connected)."""
        try:
            with self.primary._connect("postgres", 2) as conn:
                row = conn.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                                   (REPLICA_NAME,)).fetchone()
                return row[0] if row else None
        except Exception:  # noqa: BLE001 - the primary is down: not connected
            return None

    def _release_primary(self) -> None:
        """Reset synchronous_standby_names and synchronous_commit on the primary if they name this
        replica, so that no commit waits for it; best effort (the primary may be down)."""
        try:
            with self.primary._connect("postgres", 5) as conn:
                names = conn.execute("SHOW synchronous_standby_names").fetchone()[0]
                if names.strip() == REPLICA_NAME:
                    conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
                    conn.execute("ALTER SYSTEM RESET synchronous_commit")
                    conn.execute("SELECT pg_reload_conf()")
        except Exception:  # noqa: BLE001, S110 - nothing to release on a primary that does not answer
            pass

    def _remove_data(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _stop_locked(self) -> None:
        """Release the primary first (no commit may wait for a replica that is stopping), stop the
        server, then delete the clone (the next start makes a fresh one)."""
        self._release_primary()
        super()._stop_locked()
        if self.pid() is None and self.probe(timeout=1.0) is None:
            self._remove_data()

    def status(self) -> EngineStatus:
        """The replica's row: up when it answers as a standby; the product says how the primary
        sees it (synchronous or asynchronous)."""
        status = super().status()
        if status.up:
            state = self.sync_state()
            how = {"sync": "synchronous", "async": "asynchronous", None: "not streaming"}.get(state, state)
            status.product = f"{self.product} of {self.primary.address} ({how})"
        return status

    def _port_hint(self) -> str:
        return " (another replica? `mmbench down postgres`; or set MMBENCH_POSTGRES_REPLICA_PORT)"


ENGINE = Postgres
