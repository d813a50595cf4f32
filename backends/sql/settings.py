"""Where the SQL engines are and how to talk to them: environment variables `MMBENCH_SQLITE_*` and
`MMBENCH_POSTGRES_*`.

URLs are parsed here once, properly: the userinfo of a URL ends at the LAST `@` before the
host, so a password with an unencoded `@`, `:` or `/` (`postgresql+psycopg://u:p@ss@word@host/db`)
is read whole and never reaches an address, a message or a results file (`redact_url`).

Namespaces (`backends.base.namespace()`):
- SQLite: a file per namespace next to the default file: `mmbench.db` (default namespace),
  `mmbench-<ns>.db`. With `MMBENCH_SQLITE_URL` naming a file, that file is the default
  namespace's and the namespace goes into its name the same way (`bench.db` -> `bench-<ns>.db`).
  An in-memory URL (`sqlite://`) is one private database per backend object: nothing to keep apart.
- PostgreSQL: a schema per namespace in the configured database: the default namespace uses
  the unqualified names (the connection's search path, normally `public`), namespace `ns` the
  schema `mmbench_ns`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from backends.base import BackendError, namespace, redact_url, state_dir


def default_sqlite_path() -> Path:
    return state_dir() / "sqlite" / "mmbench.db"


def default_sqlite_url() -> str:
    return f"sqlite:///{default_sqlite_path()}"


class SQLiteSettings(BaseSettings):
    """`url`: a SQLAlchemy URL (`sqlite:///path/to/file.db`); `sqlite://` (no path) is an in-memory
    database. `timeout`: seconds a statement waits for another connection's lock (busy timeout)."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_SQLITE_")
    url: str = ""
    timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0


class PostgresSettings(BaseSettings):
    """`url`: a SQLAlchemy URL (`postgresql+psycopg://user:password@host:port/database`).

    Every driver call is bounded: `connect_timeout` (s) for connecting; `statement_timeout_ms`
    (a server setting) for one statement, loads included (each COPY batch and each index build is
    a statement); `tcp_user_timeout_ms` and TCP keepalives (probes after 5 s idle, every 2 s, 3
    lost probes) drop a connection whose network path died, and the client waits for any answer
    at most the statement timeout plus 2 s (a server that stopped answering while TCP still
    acknowledges: see `engine.BoundedConnection`), so no call hangs.

    The client path (#21), recorded in `EngineInfo.options`: `prepare_threshold` (psycopg: a
    statement is prepared on the server after this many executions; 0 = at once, -1 = never),
    `binary` (results in PostgreSQL's binary format instead of text), `pipeline` (a write's BEGIN,
    statements and COMMIT go out in one pipeline: one round trip instead of one per statement).

    Replication (#16, `replica.py`), recorded in `EngineInfo.options` too: `read_url` sends the
    reads to another server (a replica; writes and loads stay on `url`); `read_replica` sends them
    to the local replica of `mmbench up postgres --replica` (`url` with port `replica_port`);
    `synchronous_commit` is what this backend's commits wait for (off, local, remote_write, on,
    remote_apply; default the server's): `remote_apply` makes a read on a synchronous replica
    right after a commit see it."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_POSTGRES_")
    url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/mmbench"
    connect_timeout: Annotated[int, Field(ge=1, le=600)] = 5
    statement_timeout_ms: Annotated[int, Field(ge=1, le=86_400_000)] = 300_000
    tcp_user_timeout_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 30_000
    prepare_threshold: Annotated[int, Field(ge=-1, le=1_000_000)] = 5
    binary: bool = False
    pipeline: bool = False
    read_url: str = ""
    read_replica: bool = False
    replica_port: Annotated[int, Field(ge=1, le=65535)] = 5433
    synchronous_commit: Literal["off", "local", "remote_write", "on", "remote_apply"] | None = None


def read_settings(cls: type[BaseSettings], backend: str, prefix: str) -> Any:
    """`cls()` from the environment; a bad value as one line naming its variable."""
    try:
        return cls()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = prefix + "".join(str(p) for p in err["loc"]).upper()
        raise BackendError(f"{backend}: invalid setting {name}: {err['msg'].removeprefix('Value error, ')}") from None


def parse_url(raw: str, backend: str, variable: str) -> URL:
    """A SQLAlchemy URL from `raw`, whose userinfo ends at the last `@` of the authority (so a
    password may hold unencoded `@ : /`). Errors name `variable` and show the URL redacted."""
    scheme, sep, rest = raw.strip().partition("://")

    def bad(problem: str) -> BackendError:
        return BackendError(f"{backend}: bad {variable} {redact_url(raw)}: {problem}")

    if not sep or not scheme:
        raise bad("expected dialect+driver://[user[:password]@]host[:port]/database")
    head, q, query = rest.partition("?")
    userinfo: str | None = None
    if "@" in head:
        userinfo, head = head.rsplit("@", 1)
    try:
        url = make_url(f"{scheme}://{head}{q}{query}")
        url.port  # noqa: B018 - parsed lazily by some versions
    except (ArgumentError, ValueError) as exc:
        detail = str(exc)
        if "int()" in detail or "port" in detail.lower():
            detail = f"the port {head.partition(':')[2].partition('/')[0]!r} is not a number"
        raise bad(detail.splitlines()[0] if detail else type(exc).__name__) from None
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        url = url.set(username=unquote(user) or None, password=unquote(password) if colon else None)
    return url


def sqlite_database(settings: SQLiteSettings) -> str | None:
    """The SQLite database file of this namespace, or None for an in-memory database."""
    raw = settings.url or default_sqlite_url()
    url = parse_url(raw, "sqlite", "MMBENCH_SQLITE_URL")
    if not url.drivername.startswith("sqlite"):
        raise BackendError(f"sqlite: MMBENCH_SQLITE_URL must be a sqlite:/// URL, not {redact_url(raw)}")
    db = url.database
    if db in (None, "", ":memory:") or "mode=memory" in db:
        return None
    path = Path(db).expanduser()
    ns = namespace()
    return str(path.with_name(f"{path.stem}-{ns}{path.suffix}") if ns else path)


def postgres_schema() -> str | None:
    """The schema of this namespace: None (unqualified names, as always) for the default one."""
    ns = namespace()
    return f"mmbench_{ns}" if ns else None


def postgres_url(settings: PostgresSettings) -> URL:
    url = parse_url(settings.url, "postgres", "MMBENCH_POSTGRES_URL")
    if not url.drivername.startswith(("postgresql", "postgres")):
        raise BackendError(f"postgres: MMBENCH_POSTGRES_URL must be a postgresql+psycopg:// URL, "
                           f"not {redact_url(settings.url)}")
    return url.set(drivername="postgresql+psycopg")


def postgres_address(url: URL) -> str:
    """host:port/database: where, never who."""
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def postgres_connect_args(settings: PostgresSettings, url: URL) -> dict[str, Any]:
    """psycopg connection keywords: timeouts on every call (see PostgresSettings), and the
    server-side statement timeout (added to any `options` the URL carries)."""
    options = " ".join(filter(None, (str(url.query.get("options", "")),
                                     f"-c statement_timeout={settings.statement_timeout_ms}",
                                     settings.synchronous_commit and f"-c synchronous_commit={settings.synchronous_commit}")))
    return {"connect_timeout": settings.connect_timeout, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 3, "tcp_user_timeout": settings.tcp_user_timeout_ms,
            "options": options, "application_name": "mmbench",
            "prepare_threshold": None if settings.prepare_threshold < 0 else settings.prepare_threshold}
