"""Reads on a replica: the PostgreSQL backend's reads go to another server while its writes and
loads stay on the primary (`MMBENCH_POSTGRES_READ_URL`, or `MMBENCH_POSTGRES_READ_REPLICA=1` for the
local replica of `mmbench up postgres --replica`; see `settings.py`).

`ReadRouting` is mixed into `PostgresEngine`. With a read URL it opens a second connection (the
same timeouts and `synchronous_commit`, autocommit, its own reused cursor) and sends there every
read that runs outside a write's transaction:
- a read inside a write's transaction stays on the primary (it must see what the transaction wrote),
  and so does `holdings()` (what was loaded and written since is the primary's record);
- `explain` of a read runs on the replica (EXPLAIN ANALYZE in a rolled-back transaction, which a
  hot standby allows), of a write on the primary;
- a load and a reset return only once the replica has replayed them (its replay position reaches
  the primary's WAL position at the commit), so a benchmark never times reads of the previous data;
- catalog writes do not wait: whether a read right after a write sees it depends on the
  replication (`MMBENCH_POSTGRES_REPLICATION`) and `synchronous_commit`, as on any replica.
  That is what `mmbench demo staleness` measures.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Self

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError

from backends.base import BackendError, EngineUnavailable, Explanation, first_line
from backends.sql.settings import (
    PostgresSettings,
    parse_url,
    postgres_address,
    postgres_connect_args,
)
from models.catalog import CATALOG, Q

CATCH_UP_S = 120.0
"""Seconds a load waits for the replica to replay it before it reports the replica as stuck."""
CATCH_UP_POLL_S = 0.005


class ReplicaUnavailable(EngineUnavailable):
    """The read replica does not answer (the primary may)."""

    def __init__(self, address: str, detail: str) -> None:
        BackendError.__init__(self, f"postgres: cannot reach the read replica at {address} ({detail}); start it with "
                                    "`mmbench up postgres --replica`, or unset MMBENCH_POSTGRES_READ_REPLICA and "
                                    "MMBENCH_POSTGRES_READ_URL")
        self.backend, self.address = "postgres", address


def read_url(settings: PostgresSettings, primary: URL) -> URL | None:
    """Where reads go: `read_url`, else the local replica (`primary` on `replica_port`) with
    `read_replica`, else None (the primary)."""
    if settings.read_url.strip():
        url = parse_url(settings.read_url, "postgres", "MMBENCH_POSTGRES_READ_URL")
        if not url.drivername.startswith(("postgresql", "postgres")):
            raise BackendError("postgres: MMBENCH_POSTGRES_READ_URL must be a postgresql+psycopg:// URL")
        return url.set(drivername="postgresql+psycopg")
    if settings.read_replica:
        return primary.set(port=settings.replica_port)
    return None


class _Reads:
    """The replica's connection and cursor."""

    def __init__(self, engine: Engine, address: str, settings: PostgresSettings) -> None:
        self.engine, self.address = engine, address
        try:
            self.proxy = engine.raw_connection()
        except (DBAPIError, psycopg.Error) as exc:
            engine.dispose()
            raise ReplicaUnavailable(address, first_line(getattr(exc, "orig", None) or exc)) from None
        self.db: Any = self.proxy.driver_connection
        try:
            self.db.autocommit = True
            self.cur: Any = self.db.cursor(binary=settings.binary)
            self.standby = bool(self.db.execute("SELECT pg_is_in_recovery()").fetchone()[0])
        except psycopg.Error as exc:
            self.proxy.close()
            engine.dispose()
            raise ReplicaUnavailable(address, first_line(exc)) from None

    def close(self) -> None:
        for step in (self.cur.close, self.proxy.close, self.engine.dispose):
            try:
                step()
            except Exception:  # noqa: BLE001, S110 - closing must not fail (the replica may be gone)
                pass


class ReadRouting:
    """Mixin for PostgresEngine (a SQLBackend): reads on a replica when a read URL is set."""

    _reads: _Reads | None = None
    _primary_cur: Any = None

    def _route_reads(self, settings: PostgresSettings, primary: URL) -> Self:
        """Open the replica's connection if reads go elsewhere (the backend is closed on failure)."""
        this: Any = self
        try:
            target = read_url(settings, primary)
            if target is not None:
                engine = create_engine(target, connect_args=postgres_connect_args(settings, target), paramstyle="format")
                self._reads = _Reads(engine, postgres_address(target), settings)
                self._primary_cur = this._cur
        except BaseException:
            this.close()
            raise
        return self

    def _replica_error(self, exc: psycopg.Error) -> BackendError:
        this: Any = self
        error = this._translate(exc)
        if isinstance(error, EngineUnavailable) and self._reads is not None:
            return ReplicaUnavailable(self._reads.address, this._scrub(first_line(exc)))
        return error

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        this: Any = self
        reads = self._reads
        if reads is None or this._cur is not self._primary_cur or \
                this._db.info.transaction_status != TransactionStatus.IDLE:
            return super()._all(sql, params)  # type: ignore[misc]
        try:
            return reads.cur.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise self._replica_error(exc) from None

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        """A read is explained where it runs: on the replica."""
        this: Any = self
        reads = self._reads
        if reads is None or CATALOG[Q(query)].is_write:
            return super().explain(query, params)  # type: ignore[misc]
        db, cur = this._db, this._cur
        this._db, this._cur = reads.db, reads.cur
        try:
            explanation: Explanation = super().explain(query, params)  # type: ignore[misc]
        finally:
            this._db, this._cur = db, cur
        explanation.notes.append(f"run on the read replica at {reads.address}, where this backend's reads go")
        return explanation

    def holdings(self) -> Any:
        """Read on the primary: the record of what was loaded and written since is the primary's,
        and whoever asks right after a write (the harness, `mmbench status`) must see it."""
        reads, self._reads = self._reads, None
        try:
            return super().holdings()  # type: ignore[misc]
        finally:
            self._reads = reads

    def end_load(self, holdings: Any) -> None:
        super().end_load(holdings)  # type: ignore[misc]
        self._replayed()

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self._replayed()

    def _replayed(self) -> None:
        """Return once the replica has replayed the primary's WAL up to now. Only for a standby
        that reports its replay position: a managed service's reader that does not (storage-level
        replication: the position is NULL, or the primary has no WAL position to ask) is not waited for."""
        reads = self._reads
        if reads is None or not reads.standby:
            return
        this: Any = self
        try:
            lsn = this._db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        except psycopg.errors.FeatureNotSupported:
            return
        except psycopg.Error as exc:
            raise this._translate(exc) from None
        for _ in range(int(CATCH_UP_S / CATCH_UP_POLL_S)):
            try:
                caught_up = reads.db.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]
            except psycopg.Error as exc:
                raise self._replica_error(exc) from None
            if caught_up is None or caught_up:  # None: the replica reports no replay position
                return
            time.sleep(CATCH_UP_POLL_S)
        raise BackendError(f"postgres: the read replica at {reads.address} had not replayed the load after "
                           f"{CATCH_UP_S:.0f} s (is it streaming? see pg_stat_replication on the primary)")

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        if self._reads is not None:
            self._reads.close()

    def _replication_options(self) -> dict[str, str]:
        """Where reads go and what commits wait for, for EngineInfo.options."""
        this: Any = self
        reads = self._reads
        with this._errors():
            commit = this._db.execute("SHOW synchronous_commit").fetchone()[0]
            standbys = this._db.execute("SHOW synchronous_standby_names").fetchone()[0]
        where = "primary" if reads is None else f"{'replica' if reads.standby else 'server'} {reads.address}"
        return {"reads": where, "synchronous_commit": str(commit),
                "synchronous_standby_names": str(standbys) or "none (replication is asynchronous)"}
