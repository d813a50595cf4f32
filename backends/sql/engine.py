"""The two SQL engines behind every SQL design: connections, transactions, errors, the atomic
load, what the backend holds, and explain. A design (`backend.py`: the relational tables;
`jsonb.py`: patients as JSONB documents) adds its schema, its statements and its query methods.

Connections. SQLAlchemy is used where it earns its place: the schema (Core tables, DDL for both
dialects), compiling each design's statements once per backend, and the load's transaction.
The query path does not go through it: every query is one `cursor.execute(sql, params)` on a
DBAPI cursor that lives as long as the backend (autocommit: no BEGIN/COMMIT round trips for a
read), with the statement text compiled once, positional parameters and rows turned into domain
objects by their constructors. Writes open a transaction on that same connection; the load
uses a second (SQLAlchemy) connection, opened only when a load or reset asks for it.

Load = atomic replace, in ONE transaction: drop the design's tables, create them, insert every
row (SQLite: executemany; PostgreSQL: COPY), build the indexes, write the Holdings row and
ANALYZE, then commit. Both engines have transactional DDL, so until the commit every reader
sees the old data (SQLite in WAL mode reads the last committed snapshot; PostgreSQL readers of
the dropped tables wait for the commit), and a failure or a killed process leaves exactly the
old data: the transaction is rolled back (by the server on a lost connection; by SQLite's
journal when the file is next opened). Nothing is left behind to clean up.
"""

from __future__ import annotations

import abc
import inspect
import json
import platform
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, Self

import psycopg
import sqlalchemy
from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from backends.base import (
    Backend,
    BackendError,
    EngineInfo,
    EngineUnavailable,
    Explanation,
    Holdings,
    NotLoaded,
    Statement,
    Work,
    answer_size,
    first_line,
)
from backends.sql.explain import (
    COST_NAMES,
    SQLITE_COUNTERS,
    Call,
    PgWork,
    Recorder,
    jsonable,
    named,
    sqlite_examined,
    sqlite_loops,
)
from backends.sql.replica import ReadRouting
from backends.sql.settings import (
    PostgresSettings,
    SQLiteSettings,
    postgres_address,
    postgres_connect_args,
    postgres_schema,
    postgres_url,
    read_settings,
    sqlite_database,
)
from backends.sql.statements import Stmt, compile_all
from models.catalog import CATALOG, Q
from models.dataset import EntityKind

Spec = dict[str, tuple[Any, tuple[str, ...]]]


class SQLBackend(Backend):
    """What every SQL design on every SQL engine shares. A design sets the class attributes
    METADATA (its tables, the holdings table included), KIND_TABLES (the table of each entity
    kind, whose indexes are built once its rows are in) and SPEC (its statements)."""

    model: ClassVar[str] = "sql"
    product: ClassVar[str]
    METADATA: ClassVar[MetaData]
    KIND_TABLES: ClassVar[Mapping[EntityKind, Table]]
    SPEC: ClassVar[Spec]
    DRIVER_ERRORS: ClassVar[tuple[type[BaseException], ...]]

    def __init__(self, engine: Engine, address: str, schema: str | None, settings: Any) -> None:
        self.engine, self.address, self.schema, self.settings = engine, address, schema, settings
        self._admin: Connection | None = None
        self._load_tx: Any = None
        self._closed = False
        try:
            self._proxy = engine.raw_connection()
        except (DBAPIError, *self.DRIVER_ERRORS) as exc:
            engine.dispose()
            raise self._unavailable(_orig_line(exc)) from None
        self._db: Any = self._proxy.driver_connection
        try:
            self._cur: Any = self._open_cursor()
        except BaseException:
            self._proxy.close()
            engine.dispose()
            raise
        compiled = self._compile()
        self._q = SimpleNamespace(**{name: s.sql for name, s in compiled.items()})
        self._names: dict[str, tuple[str, ...]] = {s.sql: s.names for s in compiled.values()}

    def _compile(self) -> dict[str, Stmt]:
        """The design's statements as the driver receives them (SPEC compiled for this engine and schema)."""
        return dict(vars(compile_all(self.SPEC, self.engine.dialect, self.schema)))

    # -- engine hooks

    @abc.abstractmethod
    def _open_cursor(self) -> Any:
        """Make the DBAPI connection autocommit and return the cursor every query reuses."""

    @abc.abstractmethod
    def _translate(self, exc: BaseException) -> BackendError:
        """A driver error as one line: NotLoaded, EngineUnavailable or BackendError."""

    @abc.abstractmethod
    def _tx(self) -> Any:
        """A context: one transaction for a write (a savepoint inside another transaction)."""

    @abc.abstractmethod
    def _rolled_back(self) -> Any:
        """A context: a transaction that is always rolled back (explaining a write)."""

    @abc.abstractmethod
    def _prepare_schema(self, admin: Connection) -> None:
        """Before a load or reset creates tables (PostgreSQL: the namespace's schema)."""

    @abc.abstractmethod
    def _analyze(self, admin: Connection) -> None: ...

    @abc.abstractmethod
    def _explain_statements(self, calls: list[Call], write: bool, before: Any) -> dict[str, Any]:
        """plan, plan_summary, examined (+ reason), cost, server_us, notes for the recorded calls."""

    def _unavailable(self, detail: str) -> BackendError:
        return EngineUnavailable(self.name, self.product, self.address, self._scrub(detail))

    def _counters(self) -> Any:
        """Engine counters before a query runs (SQLite's statement counters), or None."""
        return None

    def _scrub(self, message: str) -> str:
        """A message with the password of the configured URL masked (the drivers never print it;
        this makes sure)."""
        password = self.engine.url.password
        return message.replace(password, "***") if password and len(password) > 2 else message

    # -- the query path

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement on the shared cursor; all its rows."""
        try:
            return self._cur.execute(sql, params).fetchall()
        except self.DRIVER_ERRORS as exc:
            raise self._translate(exc) from None

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement that selects by a unique key on the shared cursor; its row or None."""
        try:
            return self._cur.execute(sql, params).fetchone()
        except self.DRIVER_ERRORS as exc:
            raise self._translate(exc) from None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self.DRIVER_ERRORS as exc:
            raise self._translate(exc) from None
        except DBAPIError as exc:  # from the SQLAlchemy connection (loads, reset)
            raise self._translate(exc.orig if isinstance(exc.orig, self.DRIVER_ERRORS) else exc) from None

    # -- lifecycle

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        admin = self._admin
        steps = [self._cur.close, self._proxy.invalidate if _dead(self._db) else self._proxy.close]
        if admin is not None:
            steps.append(admin.invalidate if _dead(admin.connection.driver_connection) else admin.close)
        for step in (*steps, self.engine.dispose):
            try:
                step()
            except Exception:  # noqa: BLE001, S110 - closing must not fail (the engine may be gone)
                pass

    def engine_info(self) -> EngineInfo:
        return EngineInfo(self.product, self._server_version(), emulator=False, driver=self._driver_version(),
                          address=self.address, options=self._options())

    @abc.abstractmethod
    def _server_version(self) -> str: ...

    @abc.abstractmethod
    def _driver_version(self) -> str: ...

    def _options(self) -> dict[str, str]:
        return {}

    # -- schema and loading

    def _admin_connection(self) -> Connection:
        if self._admin is None:
            try:
                conn = self.engine.connect()
            except (DBAPIError, *self.DRIVER_ERRORS) as exc:
                raise self._unavailable(_orig_line(exc)) from None
            self._admin = conn.execution_options(schema_translate_map={None: self.schema}) if self.schema else conn
        return self._admin

    def reset(self) -> None:
        """Drop and recreate this design's tables (empty, with their indexes) in one transaction."""
        with self._errors():
            admin = self._admin_connection()
            self._before_load(admin)
            with admin.begin():
                self._prepare_schema(admin)
                self.METADATA.drop_all(admin, checkfirst=True)
                for table in self.METADATA.sorted_tables:
                    admin.execute(CreateTable(table))
                    self._create_indexes(admin, table)

    def _before_load(self, admin: Connection) -> None:
        """Outside any transaction, before a load or reset (SQLite: the journal mode)."""

    def begin_load(self) -> None:
        """Open the load's transaction; drop the old tables and create new ones without their
        secondary indexes (built per kind once its rows are in: faster than maintaining them)."""
        with self._errors():
            admin = self._admin_connection()
            self._before_load(admin)
            self._load_tx = admin.begin()
            self._prepare_schema(admin)
            self.METADATA.drop_all(admin, checkfirst=True)
            for table in self.METADATA.sorted_tables:
                admin.execute(CreateTable(table))
            self._staging(admin)

    def _staging(self, admin: Connection) -> None:
        """Anything else a design needs while loading (temporary tables, dropped at commit)."""

    def finish_kind(self, kind: EntityKind) -> None:
        with self._errors():
            self._create_indexes(self._admin_connection(), self.KIND_TABLES[kind])

    def _create_indexes(self, admin: Connection, table: Table) -> None:
        """Build the secondary indexes of `table` (those declared on it)."""
        for index in table.indexes:
            admin.execute(CreateIndex(index))

    def end_load(self, holdings: Holdings) -> None:
        """Write the Holdings row, ANALYZE, and commit: the new data and its record become current at once."""
        with self._errors():
            admin = self._admin_connection()
            admin.exec_driver_sql(self._q.insert_holdings, (1, json.dumps(holdings.to_dict()), holdings.writes_since))
            self._analyze(admin)
            self._load_tx.commit()
            self._load_tx = None

    def abort_load(self) -> None:
        self._load_tx = None
        if self._admin is not None and self._admin.in_transaction():
            self._admin.rollback()

    def _admin_dbapi(self) -> Any:
        return self._admin_connection().connection.driver_connection

    # -- what the backend holds

    def holdings(self) -> Holdings | None:
        rows = self._all(self._q.holdings)
        if not rows:
            return None
        doc, writes = rows[0]
        return Holdings.from_dict({**json.loads(doc), "writes_since": writes})

    def record_writes(self, n: int) -> None:
        with self._errors(), self._tx():
            self._cur.execute(self._q.record_writes, (n,))

    # -- explain

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        q = Q(query)
        write = CATALOG[q].is_write
        method: Callable[..., Any] = getattr(self, q.value)
        recorder = Recorder(self._cur)
        before = self._counters()
        self._cur = recorder
        try:
            if write:
                with self._errors(), self._rolled_back():
                    answer = method(**params)
            else:
                answer = method(**params)
        finally:
            self._cur = recorder.cursor
        calls = recorder.calls
        with self._errors():
            found = self._explain_statements(calls, write, before)
        statements = [Statement("sql", c.sql, [named(self._names.get(c.sql), r) for r in c.params] if c.many
                                else named(self._names.get(c.sql), c.params)) for c in calls]
        reasons = {}
        if found["examined"] is None:
            reasons["examined"] = found["examined_reason"]
        work = Work(answer=0 if write else answer_size(answer), returned=sum(c.returned for c in calls),
                    examined=found["examined"], round_trips=found["round_trips"], cost=found["cost"],
                    reasons=reasons)
        return Explanation(backend=self.name, query=q.value, params=jsonable(dict(params)), tier=self.tier(q).value,
                           statements=statements, plan=found["plan"], plan_summary=found["summary"], work=work,
                           notes=found["notes"], server_us=found["server_us"],
                           undone="rolled back (one transaction, never committed)" if write else None)


def _dead(dbapi_conn: Any) -> bool:
    """Whether a DBAPI connection is closed or broken (returning it to the pool would try a rollback)."""
    return bool(getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False))


def _orig_line(exc: BaseException) -> str:
    """The DBAPI driver's own message, not SQLAlchemy's wrapping."""
    return first_line(getattr(exc, "orig", None) or exc)


def qualified(engine: Engine, schema: str | None, name: str) -> str:
    prep = engine.dialect.identifier_preparer
    return f"{prep.quote_schema(schema)}.{prep.quote(name)}" if schema else prep.quote(name)




# -- SQLite

class SQLiteEngine(SQLBackend):
    """SQLite, embedded, through the standard library's sqlite3: a file per namespace (see
    `settings.py`), in WAL mode (readers keep reading the last committed data while a load runs),
    synchronous=NORMAL, a 32 MiB page cache; or one private in-memory database (`sqlite://`)."""

    name: ClassVar[str] = "sqlite"
    product: ClassVar[str] = "SQLite"
    DRIVER_ERRORS: ClassVar[tuple[type[BaseException], ...]] = (sqlite3.Error, OverflowError)
    _explained = 0  # explanations so far: each EXPLAIN gets a text of its own (see _explain_statements)

    @classmethod
    def from_settings(cls, settings: SQLiteSettings | None = None) -> Self:
        settings = settings or read_settings(SQLiteSettings, "sqlite", "MMBENCH_SQLITE_")
        path = sqlite_database(settings)
        connect_args = {"timeout": settings.timeout, "isolation_level": None}
        if path is None:  # one connection, so the reads, writes and loads see one database
            engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={**connect_args, "check_same_thread": False})
        else:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackendError(f"sqlite: cannot create the folder of {path}: {exc.strerror or exc}") from None
            engine = create_engine(URL.create("sqlite", database=path), connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return cls(engine, path or ":memory:", None, settings)

    def _unavailable(self, detail: str) -> BackendError:
        return BackendError(f"sqlite: cannot open the database file {self.address}: {detail}")

    def _open_cursor(self) -> Any:
        self._savepoints = 0
        return self._db.cursor()

    def _translate(self, exc: BaseException) -> BackendError:
        if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table"):
            return NotLoaded(self.name, "tables")
        if isinstance(exc, OverflowError):
            return BackendError(f"sqlite: {first_line(exc)} (SQLite stores integers of at most 64 bits)")
        return BackendError(f"sqlite: {first_line(exc)}")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        db = self._db
        if db.in_transaction:  # inside explain's transaction (or a load on the same memory database)
            self._savepoints += 1
            name = f"mmbench_sp{self._savepoints}"
            db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                db.execute(f"ROLLBACK TO {name}")
                db.execute(f"RELEASE {name}")
                raise
            else:
                db.execute(f"RELEASE {name}")
            finally:
                self._savepoints -= 1
            return
        db.execute("BEGIN")
        try:
            yield
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _rolled_back(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def _before_load(self, admin: Connection) -> None:
        self._db.execute("PRAGMA journal_mode = WAL")  # a property of the file; memory databases ignore it

    def _prepare_schema(self, admin: Connection) -> None:
        pass

    def _analyze(self, admin: Connection) -> None:
        admin.exec_driver_sql("ANALYZE")

    def _server_version(self) -> str:
        return sqlite3.sqlite_version

    def _driver_version(self) -> str:
        return f"sqlite3 (Python {platform.python_version()} stdlib); sqlalchemy {sqlalchemy.__version__} for schema and loads"

    def _options(self) -> dict[str, str]:
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        return {"journal_mode": str(mode), "synchronous": "NORMAL", "cache_size": "32 MiB",
                "busy_timeout_s": f"{self.settings.timeout:g}"}

    def _counters(self) -> dict[str, tuple[int, ...]]:
        """SQLite's own counters of every prepared statement of this connection (sqlite_stmt)."""
        out: dict[str, tuple[int, ...]] = {}
        for sql, *values in self._db.execute(f"SELECT sql, {', '.join(SQLITE_COUNTERS)} FROM sqlite_stmt"):
            prev = out.get(sql, (0,) * len(values))
            out[sql] = tuple(a + b for a, b in zip(prev, values, strict=True))
        return out

    def _explain_statements(self, calls: list[Call], write: bool, before: Any) -> dict[str, Any]:
        after = self._counters()
        tables = {t.name for t in self.METADATA.tables.values()}
        counts: dict[str, int] = {}
        plans, summary, notes = [], [], []
        examined: int | None = 0
        reason = ""
        # A cached EXPLAIN statement goes on describing the schema it was prepared against (it
        # reads no table, so it never notices another connection's index change): a new text
        # each time makes the driver prepare it afresh (its statement cache is keyed by text).
        self._explained += 1
        for c in calls:
            first = c.param_rows()[0]
            rows = self._db.execute(f"EXPLAIN QUERY PLAN {c.sql} -- {self._explained}", first).fetchall()
            details = [str(r[3]) for r in rows]
            plans.append({"sql": c.sql, "plan": [{"id": r[0], "parent": r[1], "detail": r[3]} for r in rows]})
            summary += [d for d in details if d not in summary]
            if write:
                continue
            for kind, table, _ in sqlite_loops(details):
                if kind == "SCAN" and table in tables and table not in counts:
                    counts[table] = self._db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            n, why = sqlite_examined(details, len(first), c.returned, counts)
            notes.append(f"examined: {why}")
            if n is None:
                examined, reason = None, why
            elif examined is not None:
                examined += n
        if write:
            examined, reason = None, ("an INSERT has no loop in SQLite's plan; its key and foreign-key checks "
                                      "are not counted by SQLite")
        cost = dict.fromkeys(COST_NAMES.values(), 0)
        for sql in dict.fromkeys(c.sql for c in calls):
            now, then = after.get(sql), (before or {}).get(sql)
            if now is not None:
                for name, a, b in zip(SQLITE_COUNTERS, now, then or (0,) * len(now), strict=True):
                    cost[COST_NAMES[name]] += a - b if a >= b else a
        notes.append("embedded: a round trip is a call into the SQLite library (statement executions; a write "
                     "adds BEGIN and COMMIT), not a network request")
        notes.append("cost: SQLite's own statement counters (sqlite_stmt): full-scan steps, VM steps, sorts, "
                     "automatic indexes")
        trips = sum(len(c.param_rows()) for c in calls) + (2 if write else 0)
        return {"plan": plans, "summary": summary, "examined": examined, "examined_reason": reason,
                "cost": cost, "server_us": None, "notes": notes, "round_trips": trips}


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver (isolation_level=None): BEGIN is ours to send (SQLAlchemy's recipe).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    # WAL from the first connection on, so the engine options a run records before its load are
    # the ones it runs with (a property of the file, kept; a no-op once set; memory databases ignore it)
    try:
        cur.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        pass  # a read-only file keeps its mode; the load (which writes) sets it or fails on its own
    cur.execute("PRAGMA synchronous = NORMAL")
    # A 32 MiB page cache (default 2 MiB) keeps bulk loads and index builds fast; SQLite's
    # memory stays bounded by it whatever the scale (larger sorts spill to temp files).
    cur.execute("PRAGMA cache_size = -32768")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


# -- PostgreSQL

WAIT_GRACE_S = 2.0
"""How much longer than the statement timeout the client waits for a server that stopped answering."""

_WAIT_TIMEOUT = getattr(psycopg.errors, "_WaitTimeout", None)
_BOUNDED = _WAIT_TIMEOUT is not None and "timeout" in inspect.signature(psycopg.Connection.wait).parameters


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server is bounded by `wait_timeout`. The
    server's statement_timeout ends a slow statement; this ends the wait for a server that stopped
    answering altogether (stopped, partitioned, its host gone), where the server can enforce
    nothing and TCP may still acknowledge: the connection is closed and the call fails."""

    wait_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if not _BOUNDED:  # psycopg before 3.2: keepalives and tcp_user_timeout only
            return super().wait(gen, interval)
        try:
            return super().wait(gen, interval, timeout if timeout is not None else self.wait_timeout)
        except _WAIT_TIMEOUT:  # type: ignore[misc]
            self.pgconn.finish()
            raise psycopg.OperationalError(f"the server did not answer within {self.wait_timeout:g} s; "
                                           "connection closed") from None


class PostgresEngine(ReadRouting, SQLBackend):
    """PostgreSQL through psycopg 3 (autocommit reads on one reused cursor; server-side prepared
    statements after `prepare_threshold` executions; bulk loads with COPY). A schema per namespace.
    Reads may go to a replica (`replica.py`)."""

    name: ClassVar[str] = "postgres"
    product: ClassVar[str] = "PostgreSQL"
    DRIVER_ERRORS: ClassVar[tuple[type[BaseException], ...]] = (psycopg.Error,)

    @classmethod
    def from_settings(cls, settings: PostgresSettings | None = None) -> Self:
        settings = settings or read_settings(PostgresSettings, "postgres", "MMBENCH_POSTGRES_")
        url = postgres_url(settings)
        engine = create_engine(url, connect_args=postgres_connect_args(settings, url), paramstyle="format")
        wait_timeout = settings.statement_timeout_ms / 1000 + WAIT_GRACE_S

        @event.listens_for(engine, "do_connect")
        def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            conn = BoundedConnection.connect(*cargs, **cparams)
            conn.wait_timeout = wait_timeout
            return conn

        return cls(engine, postgres_address(url), postgres_schema(), settings)._route_reads(settings, url)

    def _open_cursor(self) -> Any:
        self._db.autocommit = True
        return self._db.cursor(binary=self.settings.binary)

    def _translate(self, exc: BaseException) -> BackendError:
        message = self._scrub(first_line(exc))
        if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
            return NotLoaded(self.name, "tables")
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return BackendError(f"postgres: {message} (MMBENCH_POSTGRES_STATEMENT_TIMEOUT_MS="
                                f"{self.settings.statement_timeout_ms})")
        if isinstance(exc, psycopg.OperationalError) and (
                exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))):
            return EngineUnavailable(self.name, self.product, self.address, message)
        return BackendError(f"postgres: {message}")

    def _tx(self) -> Any:
        return self._pipelined() if self.settings.pipeline else self._db.transaction()

    @contextmanager
    def _pipelined(self) -> Iterator[None]:
        with self._db.pipeline(), self._db.transaction():
            yield

    def _rolled_back(self) -> Any:
        return self._db.transaction(force_rollback=True)

    def _prepare_schema(self, admin: Connection) -> None:
        if self.schema:
            admin.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.engine.dialect.identifier_preparer.quote_schema(self.schema)}")

    def _analyze(self, admin: Connection) -> None:
        for table in self.METADATA.sorted_tables:
            admin.exec_driver_sql(f"ANALYZE {qualified(self.engine, self.schema, table.name)}")

    def _server_version(self) -> str:
        return str(self._db.info.parameter_status("server_version") or self._db.info.server_version)

    def _driver_version(self) -> str:
        return (f"psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}, {psycopg.pq.__impl__}); "
                f"sqlalchemy {sqlalchemy.__version__} for schema and loads")

    def _options(self) -> dict[str, str]:
        s = self.settings
        return {"prepare_threshold": "never" if s.prepare_threshold < 0 else str(s.prepare_threshold),
                "result_format": "binary" if s.binary else "text",
                "write_pipeline": "on" if s.pipeline else "off",
                "statement_timeout_ms": str(s.statement_timeout_ms),
                "schema": self.schema or "the search path (public)", **self._replication_options()}

    def _explain_statements(self, calls: list[Call], write: bool, before: Any) -> dict[str, Any]:
        work, plans = PgWork(), []
        with self._rolled_back(), self._db.cursor() as cur:
            for c in calls:
                for row in c.param_rows():
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + c.sql, row)
                    doc = cur.fetchone()[0]
                    doc = json.loads(doc) if isinstance(doc, str | bytes) else doc
                    plans.append({"sql": c.sql, "params": named(self._names.get(c.sql), row), "explain": doc[0]})
                    work.add(doc[0])
        notes = ["each statement ran again under EXPLAIN (ANALYZE, BUFFERS) in a transaction that was rolled back",
                 "examined: the scan nodes' actual rows x loops plus rows removed by filter or recheck"
                 + (f", plus {work.trigger_calls} foreign-key trigger calls (one row read each)"
                    if work.trigger_calls else "")]
        trips = len(calls) + (2 if write else 0)
        if write and self.settings.pipeline:
            trips = 1
            notes.append("round trips: BEGIN, the statements and COMMIT in one pipeline (MMBENCH_POSTGRES_PIPELINE)")
        elif write:
            notes.append("round trips: the statements plus BEGIN and COMMIT (an executemany is one pipeline)")
        return {"plan": plans, "summary": work.summary, "examined": work.examined, "examined_reason": "",
                "cost": {"shared_hit": work.shared_hit, "shared_read": work.shared_read},
                "server_us": round(work.server_ms * 1000, 1), "notes": notes, "round_trips": trips}
