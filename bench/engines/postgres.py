"""PostgreSQL (Debian's packages, 15 preferred) as a private cluster owned by mmbench.

``initdb`` creates a cluster with trust authentication in our runtime directory; the server
listens on 127.0.0.1:5432 only, with its Unix socket in our runtime directory (not /run), and the
database ``mmbench`` is created after the first start. PostgreSQL refuses to run as root, so
when we are root the server runs as the ``postgres`` OS user (created by the Debian package) and
owns the data directory. If that user cannot reach the runtime directory (root's home is mode
0700), the data and socket directories are placed in ``/var/lib/mmbench/postgres-<hash>/``
instead, with ``data`` and ``run`` symlinks to them in the runtime directory.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from bench.engines.base import Engine, EngineError, LaunchSpec, Progress, _quiet
from bench.engines.process import terminate_group

PG_MAJOR = "15"
DATABASE = "mmbench"
USER = "postgres"
APT_PACKAGE = "postgresql"


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


ENGINE = Postgres
