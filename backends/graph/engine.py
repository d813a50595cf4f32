"""What every graph design shares: the driver, namespaces as label scopes, the atomic-replace load,
the holdings, the generation guard, one-line errors and `explain`.

Namespaces and generations. Community edition has one user database, so a namespace is a set of
names inside it: every label, relationship type, index and constraint of a design's data carries
a scope `<marker>_<namespace>_<slot>` (`Patient_graph_a`, `HAS_DIAGNOSIS_graph_a`,
`patient_id_graph_a`; the default namespace leaves its part out: `Patient_a`; a design other
than the default adds its marker: `Patient_Props_graph_a`). Labels cannot be parameters, so the
scope is put into the statement text, and only after checking that it is a plain identifier;
every value stays a bound parameter. Each (design, namespace) has one pointer node,
`(:MMBenchMeta_<marker>_<namespace> {namespace})` (unique), holding the current `generation`
(a counter), its `slot` (`a` or `b`), the `Holdings` as JSON and `writes_since`. No pointer
node: nothing was ever loaded (NotLoaded).

Load = atomic replace. `begin_load` takes a lease on the pointer node: a token and a time, written
in a short transaction that first takes the node's write lock (a second load of the same
namespace waits while the lease is fresh, up to `load_timeout`). No transaction stays open across
a load: one held as a lock made concurrent loads of other namespaces deadlock on each other's
schema changes. The load refreshes its lease as it writes; a lease not refreshed for `load_lease`
seconds (the process died) is taken over by the next load. It then empties the other slot (drops
its constraints and indexes, then deletes its nodes with their relationships in batches) and
creates that slot's constraints and indexes on the empty labels, so they are maintained as rows
arrive (building them afterwards costs more than it saves at these sizes), waiting for them to
come online with short reads (`SHOW INDEXES`), never with `db.awaitIndexes` inside a transaction.
Batches are committed one by one into the staging slot; nobody reads it. `end_load` schedules
fresh index samples, then switches in one short transaction that succeeds only while the lease is
still this load's: the new generation, slot and holdings, and the lease given back. The old slot is
then dropped in batches. A process killed mid-load leaves its lease (lapsing after `load_lease`)
and the staging slot partly written (or, killed after the switch, the old slot partly deleted):
nodes under the other slot's labels, maybe its indexes. Nothing reads them, and the next load of
that namespace empties that slot before writing into it.

Readers resolve the current generation once and cache its statements. Every catalog statement
starts with the guard `MATCH (:MMBenchMeta_... {generation: $generation})`, so a statement
planned for a generation that is no longer current matches nothing: an empty answer (or a write
that created less than it should) makes the backend read the pointer again and, if the
generation changed, ask again. A guarded statement therefore never reads a half-loaded or
half-dropped slot, even when another process replaced the data. The guard costs 3 db hits per
statement (a one-node label scan and its property) and about 15 us; an empty answer costs one
more round trip (the pointer read).

Transactions: reads are `Driver.execute_query` (a managed read transaction, retried on
transient errors), writes `Session.execute_write` (a managed write transaction); both carry
the server-side timeout `query_timeout`, and share the driver's bookmark manager, so a read
sees the writes before it also on a cluster. `explain` runs the same code with each statement
under PROFILE (writes inside an explicit transaction that is rolled back).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from importlib import metadata
from typing import Any, ClassVar, Literal, Self

import neo4j
from neo4j import (
    GraphDatabase,
    ManagedTransaction,
    NotificationMinimumSeverity,
    Query,
    Result,
    ResultSummary,
    RoutingControl,
    unit_of_work,
)
from neo4j.exceptions import (
    AuthError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

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
    namespace,
    redact_url,
    run_query,
)
from backends.graph.settings import Neo4jSettings
from models.catalog import CATALOG, Q
from models.dataset import EntityKind

PRODUCT = "Neo4j"
META = "MMBenchMeta"
SLOTS = ("a", "b")
FETCH_SIZE = 1000  # the driver's default records per PULL: a larger answer costs more round trips
BATCH_DELETE = 10_000  # nodes per transaction when dropping a slot (a hundredth of it for dense nodes)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
READ = RoutingControl.READ


def identifier(name: str) -> str:
    """`name` if it is a plain identifier (letters, digits, _): the only text ever put into Cypher."""
    if not _IDENTIFIER.fullmatch(name):
        raise BackendError(f"neo4j: {name!r} is not a plain identifier")
    return name


@dataclass(frozen=True)
class SchemaItem:
    """A constraint or index of a design: its base name and the Cypher creating it, written with
    the unscoped labels and `{name}` for its (scoped) name."""

    name: str
    kind: Literal["CONSTRAINT", "INDEX"]
    create: str


@dataclass(frozen=True)
class Design:
    """What a graph design declares: its marker in names, the labels and relationship types it
    scopes, and its constraints and indexes."""

    marker: str
    labels: tuple[str, ...]  # in the order a slot is emptied: nodes whose relationships go with them first
    types: tuple[str, ...]
    schema: tuple[SchemaItem, ...]
    dense: tuple[str, ...] = ()  # labels whose nodes have many relationships: deleted a few at a time


class Scoper:
    """Rewrites `:Name` (a label or a relationship type of the design) into `:Name_<scope>`."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = {base: identifier(scoped) for base, scoped in names.items()}
        alternatives = "|".join(sorted(map(re.escape, self.names), key=len, reverse=True))
        self._pattern = re.compile(rf":({alternatives})\b")

    def __call__(self, text: str) -> str:
        return self._pattern.sub(lambda m: ":" + self.names[m[1]], text)


class Generation:
    """One generation of a design's data in a namespace: its slot, its scoped names, and its
    statements (formatted once, with the guard for catalog statements)."""

    def __init__(self, design: Design, meta: str, scope: str, number: int, slot: str) -> None:
        self.number, self.slot, self.scope = number, slot, identifier(scope)
        names = {n: f"{n}_{scope}" for n in design.labels + design.types}
        self.scoped = Scoper({**names, META: meta})
        self.guard = f"MATCH (:{meta} {{generation: $generation}})\n"
        self._guarded: dict[str, Query] = {}
        self._plain: dict[str, str] = {}
        self._timeout = 0.0
        self.design = design

    def statement(self, template: str, timeout: float) -> Query:
        """The guarded statement of `template` for this generation (cached)."""
        try:
            return self._guarded[template]
        except KeyError:
            query = self._guarded[template] = Query(self.guard + self.scoped(template), timeout=timeout)
            return query

    def plain(self, template: str) -> str:
        """`template` scoped to this generation, unguarded (the bulk load writes the staging slot)."""
        try:
            return self._plain[template]
        except KeyError:
            text = self._plain[template] = self.scoped(template)
            return text

    def schema_name(self, item: SchemaItem) -> str:
        return identifier(f"{item.name}_{self.scope}")

    def create(self, item: SchemaItem) -> str:
        return self.scoped(item.create.replace("{name}", self.schema_name(item)))

    def drop(self, item: SchemaItem) -> str:
        return f"DROP {item.kind} {self.schema_name(item)} IF EXISTS"

    def deletes(self) -> list[str]:
        """Empty this generation's slot, label by label, each node with its relationships, in
        transactions of bounded size (a dense node brings hundreds of relationships along)."""
        return [f"MATCH (n:{self.scoped.names[label]}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF "
                f"{BATCH_DELETE // 100 if label in self.design.dense else BATCH_DELETE} ROWS"
                for label in self.design.labels]


class Unmatched(BackendError):
    """A write created fewer nodes or relationships than it should have: a row named a patient
    that does not exist, or the statement's generation is no longer current (then it is retried)."""


class Tx:
    """Runs the statements of one transaction in one generation (guarded for catalog writes, plain
    for the bulk load), recording them when explaining."""

    def __init__(self, tx: Any, generation: Generation, guarded: bool, timeout: float,
                 recorder: Recorder | None = None) -> None:
        self._tx, self._gen, self._guarded, self._timeout, self._recorder = tx, generation, guarded, timeout, recorder

    def run(self, template: str, **params: Any) -> ResultSummary:
        """Run one write statement; its summary (counters)."""
        return self.rows(template, **params)[1]

    def rows(self, template: str, **params: Any) -> tuple[list[Any], ResultSummary]:
        """Run one statement; its records and summary."""
        if self._guarded:
            params["generation"] = self._gen.number
            text = self._gen.statement(template, self._timeout).text
        else:
            text = self._gen.plain(template)
        recorder = self._recorder
        result = self._tx.run(text if recorder is None else "PROFILE " + text, params)
        records = list(result)
        summary = result.consume()
        if recorder is not None:
            recorder.add(text, params, summary, len(records))
        return records, summary


@dataclass
class Recorder:
    """What `explain` collects: each statement as sent, its PROFILE plan and its counts."""

    statements: list[Statement] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    db_hits: int = 0
    page_cache_hits: int = 0
    page_cache_misses: int = 0
    returned: int = 0
    round_trips: int = 0
    server_ms: int = 0
    server_known: bool = True

    def add(self, text: str, params: Mapping[str, Any], summary: ResultSummary, rows: int) -> None:
        self.statements.append(Statement("cypher", text, json_ready(params)))
        self.returned += rows
        self.round_trips += max(1, math.ceil(rows / FETCH_SIZE))
        if summary.result_available_after is None or summary.result_consumed_after is None:
            self.server_known = False
        else:
            self.server_ms += summary.result_available_after + summary.result_consumed_after
        plan = summary.profile
        if plan is None:
            return
        self.plans.append(plan)

        def walk(node: Mapping[str, Any], depth: int) -> None:
            hits = int(node.get("dbHits", 0))
            self.db_hits += hits
            self.page_cache_hits += int(node.get("pageCacheHits", 0))
            self.page_cache_misses += int(node.get("pageCacheMisses", 0))
            op = str(node.get("operatorType", "?")).split("@")[0]
            details = str(node.get("args", {}).get("Details", ""))
            details = details if len(details) <= 90 else details[:87] + "..."
            self.operators.append(f"{'  ' * depth}{op}{' ' + details if details else ''} "
                                  f"(rows {node.get('rows', 0)}, db hits {hits})")
            for child in node.get("children", ()):
                walk(child, depth + 1)

        walk(plan, 0)


class GraphBackend(Backend):
    """Neo4j 5 (Community or Enterprise, local or Aura) over Bolt; a design subclass adds its
    schema (`design`), its bulk-load rows (`write_rows`) and the catalog's queries."""

    model: ClassVar[str] = "graph"
    design: ClassVar[Design]

    def __init__(self, driver: neo4j.Driver, settings: Neo4jSettings, address: str) -> None:
        self._driver, self._settings, self.address = driver, settings, address
        self._database = settings.database
        self._timeout = settings.query_timeout
        self._bookmarks = driver.execute_query_bookmark_manager
        self._namespace = namespace()
        tag = "_".join(p for p in (self.design.marker, self._namespace) if p)
        self._meta = identifier(META + (f"_{tag}" if tag else ""))
        self._scope_prefix = tag
        meta_names = Scoper({META: self._meta})
        self._meta_queries = {name: Query(meta_names(text), timeout=self._timeout) for name, text in _META.items()}
        self._current: Generation | None = None
        self._loading: _Load | None = None
        self._recorder: Recorder | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Neo4jSettings | None = None) -> Self:
        settings = settings or Neo4jSettings.from_env()
        namespace()  # a bad namespace is a usage error before anything connects
        address = redact_url(settings.url)
        try:
            driver = GraphDatabase.driver(
                settings.url, auth=settings.auth, connection_timeout=settings.connect_timeout,
                connection_acquisition_timeout=settings.connect_timeout,
                max_transaction_retry_time=settings.retry_time,
                notifications_min_severity=NotificationMinimumSeverity.OFF,
            )
        except (ValueError, DriverError) as exc:  # a malformed URL or option
            detail = first_line(str(exc).replace(settings.url, address))
            if "@" in settings.url.partition("://")[2].partition("/")[0] or "@" in detail:
                detail = "credentials go in MMBENCH_NEO4J_USER and MMBENCH_NEO4J_PASSWORD, not in the URL"
            raise BackendError(f"{cls.name}: invalid setting MMBENCH_NEO4J_URL {address}: {detail}") from None
        try:
            driver.verify_connectivity()
        except AuthError:
            driver.close()
            raise BackendError(f"{cls.name}: authentication failed at {address}; "
                               "set MMBENCH_NEO4J_USER / MMBENCH_NEO4J_PASSWORD") from None
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            driver.close()
            raise EngineUnavailable(cls.name, PRODUCT, address, _root_cause(exc)) from None
        except (Neo4jError, DriverError) as exc:
            driver.close()
            raise BackendError(f"{cls.name}: {address}: {first_line(exc)}") from None
        return cls(driver, settings, address)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loading is not None:
            self._loading.release()
            self._loading = None
        self._driver.close()

    def engine_info(self) -> EngineInfo:
        rows = self._admin(_ENGINE_INFO)
        version, edition = rows[0]
        options = {"database": self._database,
                   "labels": f"*_{self._scope_prefix + '_' if self._scope_prefix else ''}<slot>"}
        try:
            options |= {name: str(value) for name, value in self._admin(_SERVER_SETTINGS)}
        except BackendError:  # SHOW SETTINGS needs a privilege a restricted user may lack
            pass
        return EngineInfo(f"{PRODUCT} {edition.title()}", version, emulator=False,
                          driver=_driver_version(), address=self.address, options=options)

    # -- errors

    def _translate(self, exc: Exception) -> BackendError:
        """A driver failure as a one-line BackendError / EngineUnavailable."""
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, (ServiceUnavailable, SessionExpired)):
            return EngineUnavailable(self.name, PRODUCT, self.address, _root_cause(exc))
        if isinstance(exc, Neo4jError) and exc.code and exc.code.rpartition(".")[2] in _STOPPED:
            return BackendError(f"{self.name}: the server stopped the transaction ({exc.code}): its timeout ran out "
                                f"(MMBENCH_NEO4J_QUERY_TIMEOUT={self._timeout:g}s; for a load "
                                "MMBENCH_NEO4J_LOAD_TIMEOUT) or it was terminated")
        if isinstance(exc, Neo4jError):
            return BackendError(f"{self.name}: {exc.code}: {first_line(exc.message or str(exc))}")
        return BackendError(f"{self.name}: {type(exc).__name__}: {first_line(exc)}")

    # -- running statements

    def _admin(self, text: str, timeout: float | None = None, **params: Any) -> list[list[Any]]:
        """An auto-commit statement (schema changes, procedures, CALL IN TRANSACTIONS), retried a
        few times on a transient error (e.g. two processes creating the same schema at once: the
        server detects the deadlock and stops one) as managed transactions are."""
        for attempt in range(ADMIN_ATTEMPTS):
            try:
                with self._driver.session(database=self._database, bookmark_manager=self._bookmarks) as session:
                    return session.run(Query(text, timeout=timeout or self._timeout), params).values()
            except TransientError as exc:
                if attempt == ADMIN_ATTEMPTS - 1:
                    raise self._translate(exc) from None
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
            except (Neo4jError, DriverError, OSError) as exc:
                raise self._translate(exc) from None
        raise AssertionError("unreachable")

    def _fetch(self, query: Query, params: dict[str, Any]) -> list[Any]:
        """One managed read transaction: the records of `query`."""
        recorder = self._recorder
        try:
            if recorder is None:
                return self._driver.execute_query(query, params, routing_=READ, database_=self._database,
                                                  result_transformer_=list)
            records, summary = self._driver.execute_query(
                Query("PROFILE " + query.text, timeout=query.timeout), params, routing_=READ,
                database_=self._database, result_transformer_=_records_and_summary)
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None
        except OverflowError as exc:
            raise BackendError(f"{self.name}: a value does not fit Neo4j's 64-bit integers: {first_line(exc)}") from None
        recorder.add(query.text, params, summary, len(records))
        recorder.round_trips += 1  # the COMMIT
        return records

    def resolve(self) -> Generation:
        """Read the pointer node: the current generation (NotLoaded if there is none)."""
        rows = self._fetch(self._meta_queries["current"], {})
        if not rows or rows[0][1] is None:
            raise NotLoaded(self.name, "graph" + (f" in namespace {self._namespace!r}" if self._namespace else ""))
        number, slot = rows[0]
        current = self._current
        if current is None or current.number != number:
            current = self._current = self._generation(number, slot)
        return current

    def _generation(self, number: int, slot: str) -> Generation:
        scope = "_".join(p for p in (self._scope_prefix, slot) if p)
        return Generation(self.design, self._meta, scope, number, slot)

    def read(self, template: str, params: dict[str, Any]) -> list[Any]:
        """The records of a catalog read, asked of the current generation. An empty answer is
        checked against the pointer: if the generation changed meanwhile, it is asked again."""
        gen = self._current or self.resolve()
        params["generation"] = gen.number
        records = self._fetch(gen.statement(template, self._timeout), params)
        if not records:
            fresh = self.resolve()
            if fresh.number != gen.number:
                params["generation"] = fresh.number
                records = self._fetch(fresh.statement(template, self._timeout), params)
        return records

    def write(self, work: Callable[[Tx], None]) -> None:
        """Run `work` in one managed write transaction on the current generation; if it created
        less than it should, retry once if the generation changed meanwhile."""
        gen = self._current or self.resolve()
        try:
            self._transact(gen, work, guarded=True)
        except Unmatched:
            fresh = self.resolve()
            if fresh.number == gen.number:
                raise
            self._transact(fresh, work, guarded=True)

    def _transact(self, gen: Generation, work: Callable[[Tx], None], *, guarded: bool) -> None:
        recorder = self._recorder
        try:
            with self._driver.session(database=self._database, bookmark_manager=self._bookmarks) as session:
                if recorder is None:
                    session.execute_write(unit_of_work(timeout=self._timeout)(
                        lambda tx: work(Tx(tx, gen, guarded, self._timeout))))
                    return
                tx = session.begin_transaction(timeout=self._timeout)
                try:
                    work(Tx(tx, gen, guarded, self._timeout, recorder))
                finally:
                    tx.rollback()
                    recorder.round_trips += 1  # the ROLLBACK
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None
        except OverflowError as exc:  # the driver packs integers as 64-bit: a larger one never leaves
            raise BackendError(f"{self.name}: a value does not fit Neo4j's 64-bit integers: {first_line(exc)}") from None

    # -- loading: see the module docstring

    def reset(self) -> None:
        """A new, empty generation with its schema; holdings() is None afterwards."""
        try:
            self.begin_load()
            self._switch(None)
        except BaseException:
            self.abort_load()
            raise

    def begin_load(self) -> None:
        if self._loading is not None:
            raise BackendError(f"{self.name}: a load is already in progress on this connection")
        self._admin(self._meta_queries["constraint"].text.replace("{name}", identifier(f"{self._meta}_namespace")))
        load = _Load(self._driver, self._database, self._meta_queries, self._namespace, self._settings.load_timeout,
                     self._settings.load_lease)
        try:
            number, slot = load.lock()
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None
        staging_slot = SLOTS[1] if slot == SLOTS[0] else SLOTS[0]
        load.staging = self._generation((number or 0) + 1, staging_slot)
        self._loading = load
        self._drop(load.staging)
        for item in self.design.schema:
            self._admin(load.staging.create(item))
        self._await_online(load.staging)

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        load = self._loading
        if load is None:
            raise BackendError(f"{self.name}: write_batch outside a load")
        self._transact(load.staging, lambda tx: self.write_rows(tx, kind, rows), guarded=False)
        try:
            load.refresh()
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None

    def end_load(self, holdings: Holdings) -> None:
        self._switch(holdings)

    def _switch(self, holdings: Holdings | None) -> None:
        load = self._loading
        if load is None:
            raise BackendError(f"{self.name}: end_load outside a load")
        new = load.staging
        self._await_online(new)
        for name in self._index_names(new):  # fresh statistics for the data just written (scheduled, not awaited)
            self._admin(_RESAMPLE, name=name)
        self._admin(_CLEAR_PLANS)  # the next queries are planned for the data loaded
        try:
            old_slot = load.commit(number=new.number, slot=new.slot, scope=new.scope,
                                   holdings=None if holdings is None else json.dumps(holdings.to_dict()))
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None
        self._loading = None
        self._current = new
        if old_slot is not None:
            try:  # the switch is done: a failure here leaves the old slot to the next load
                self._drop(self._generation(new.number - 1, old_slot))
            except BackendError:
                pass

    def abort_load(self) -> None:
        """Empty the staging slot and release the lock (the current data was never touched)."""
        load, self._loading = self._loading, None
        if load is None:
            return
        try:
            if load.held and load.staging is not None:
                load.refresh(force=True)  # still ours (nobody else writes that slot), then empty it
                self._drop(load.staging)
        except (BackendError, Neo4jError, DriverError, OSError):
            pass  # taken over, or the engine is gone: the next load empties the slot
        finally:
            load.release()

    def _index_names(self, gen: Generation) -> list[str]:
        names = [gen.schema_name(item) for item in self.design.schema]
        rows = self._admin("SHOW INDEXES YIELD name WHERE name IN $names RETURN name", names=names)
        return [r[0] for r in rows]

    def _await_online(self, gen: Generation) -> None:
        """Until the generation's indexes are ONLINE, asked with short reads. Never a statement that
        waits inside a transaction (db.awaitIndexes): its locks stall the index population of a
        load running at the same time in another namespace, and that load's its: a deadlock."""
        names = [gen.schema_name(item) for item in self.design.schema]
        deadline = time.monotonic() + self._settings.load_timeout  # a wait, not a measurement
        while True:
            rows = self._admin("SHOW INDEXES YIELD name, state WHERE name IN $names RETURN name, state", names=names)
            states = dict((r[0], r[1]) for r in rows)
            failed = sorted(n for n, state in states.items() if state == "FAILED")
            if failed:
                raise BackendError(f"{self.name}: index {failed[0]} failed to populate")
            if all(state == "ONLINE" for state in states.values()):
                return
            if self._loading is not None:
                self._loading.refresh()
            if time.monotonic() >= deadline:
                raise BackendError(f"{self.name}: indexes not online within MMBENCH_NEO4J_LOAD_TIMEOUT "
                                   f"({self._settings.load_timeout:g} s)")
            time.sleep(0.05)

    def _drop(self, gen: Generation) -> None:
        """Drop a slot: its constraints and indexes first (no index upkeep while deleting), then
        its nodes with their relationships, in batches."""
        for item in self.design.schema:
            self._admin(gen.drop(item))
        for statement in gen.deletes():
            self._admin(statement, timeout=self._settings.load_timeout)
            if self._loading is not None and self._loading.held:
                self._loading.refresh()

    def write_rows(self, tx: Tx, kind: EntityKind, items: list[Any]) -> None:
        """Write a batch of one kind's entities (the design's bulk-load and catalog writes)."""
        raise NotImplementedError

    # -- what the backend holds

    def holdings(self) -> Holdings | None:
        rows = self._fetch(self._meta_queries["holdings"], {})
        if not rows:
            raise NotLoaded(self.name, "graph" + (f" in namespace {self._namespace!r}" if self._namespace else ""))
        text, writes = rows[0]
        if text is None:
            return None
        return Holdings.from_dict({**json.loads(text), "writes_since": writes or 0})

    def record_writes(self, n: int) -> None:
        rows: list[list[Any]] = []

        def work(tx: ManagedTransaction) -> None:
            rows.extend(tx.run(self._meta_queries["record"].text, n=n).values())

        try:
            with self._driver.session(database=self._database, bookmark_manager=self._bookmarks) as session:
                session.execute_write(unit_of_work(timeout=self._timeout)(work))
        except (Neo4jError, DriverError, OSError) as exc:
            raise self._translate(exc) from None
        if not rows:
            raise NotLoaded(self.name, "graph" + (f" in namespace {self._namespace!r}" if self._namespace else ""))

    # -- explain

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        """Run `query` with every statement under PROFILE; writes inside a transaction that is
        rolled back. Statements are recorded as the adapter sends them (without PROFILE)."""
        q = Q(query)
        spec = CATALOG[q]
        self.resolve()
        recorder = self._recorder = Recorder()
        try:
            answer = run_query(self, q, dict(params))
        finally:
            self._recorder = None
        work = Work(answer=answer_size(answer), returned=recorder.returned, examined=recorder.db_hits,
                    round_trips=recorder.round_trips,
                    cost={"db_hits": float(recorder.db_hits), "page_cache_hits": float(recorder.page_cache_hits),
                          "page_cache_misses": float(recorder.page_cache_misses)})
        return Explanation(
            backend=self.name, query=q.value, params=json_ready(dict(params)), tier=self.tier(q).value,
            statements=recorder.statements, plan=recorder.plans or None, plan_summary=recorder.operators,
            work=work, notes=list(_EXPLAIN_NOTES),
            server_us=recorder.server_ms * 1000.0 if recorder.server_known and recorder.statements else None,
            undone="rolled back: the statements ran in one explicit transaction, rolled back afterwards"
            if spec.is_write else None,
        )


class _Load:
    """A load in progress: its lease on the pointer node and the staging generation.

    The lease is a token and a time on the pointer node, each written in a short transaction of
    its own: no transaction stays open across a load. (A transaction held open for the whole
    load, as a lock, deadlocked concurrent loads of other namespaces: each one's schema changes
    waited for the others' open transactions.) A load refreshes its lease as it writes; a lease
    not refreshed for `lease` seconds (MMBENCH_NEO4J_LOAD_LEASE: its process died) may be taken
    over by the next load."""

    def __init__(self, driver: neo4j.Driver, database: str, queries: dict[str, Query], namespace: str,
                 timeout: float, lease: float) -> None:
        self._driver, self._database, self._queries = driver, database, queries
        self._namespace, self._timeout, self.lease = namespace, timeout, lease
        self.token = secrets.token_hex(8)
        self.held = False
        self.staging: Generation | None = None
        self._refreshed = 0.0

    def _run(self, name: str, **params: Any) -> list[Any]:
        records, _, _ = self._driver.execute_query(self._queries[name], {"namespace": self._namespace,
                                                   "token": self.token, "lease": self.lease, **params},
                                                   database_=self._database)
        return records

    def lock(self) -> tuple[int | None, str | None]:
        """Take the lease (waiting while another live load of this namespace holds it, up to the
        load timeout): the current generation and slot."""
        deadline = time.monotonic() + self._timeout  # a lock wait, not a measurement
        while True:
            rows = self._run("lock")
            if rows:
                self.held, self._refreshed = True, time.monotonic()
                return rows[0][0], rows[0][1]
            if time.monotonic() >= deadline:
                raise BackendError("another load of this namespace is still running (its lease is fresh); "
                                   "wait for it, or for its lease to lapse if its process died")
            time.sleep(0.5)

    def refresh(self, force: bool = False) -> None:
        """Keep the lease (at most every few seconds: one tiny transaction); BackendError if it was
        taken over."""
        if force or time.monotonic() - self._refreshed > self.lease / 6:
            if not self._run("refresh"):
                raise BackendError("this load's lease was taken over by another load (it stalled longer than "
                                   f"{self.lease:g} s)")
            self._refreshed = time.monotonic()

    def commit(self, **params: Any) -> str | None:
        """Switch to the staged generation and give the lease back: the old slot (None if none)."""
        rows = self._run("switch", **params)
        if not rows:
            raise BackendError("this load's lease was taken over by another load before the switch; "
                               "the data held before is kept")
        self.held = False
        return rows[0][0]

    def release(self) -> bool:
        """Give the lease back if this load still holds it; whether it did (then its staging
        slot is its own to drop)."""
        if not self.held:
            return False
        self.held = False
        try:
            return bool(self._run("release"))
        except (Neo4jError, DriverError, OSError):
            return False  # the lease lapses by itself


_META: dict[str, str] = {
    "constraint": "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (m:MMBenchMeta) REQUIRE m.namespace IS UNIQUE",
    "current": "MATCH (m:MMBenchMeta) RETURN m.generation, m.slot",
    "holdings": "MATCH (m:MMBenchMeta) RETURN m.holdings, m.writes_since",
    # The first SET takes the node's write lock before the lease is read: two loads at once can
    # not both see it free (a WHERE read before the lock would let both through).
    "lock": ("MERGE (m:MMBenchMeta {namespace: $namespace}) SET m.lease_requests = coalesce(m.lease_requests, 0) + 1 "
             "WITH m WHERE m.loading_token IS NULL OR m.loading_since < datetime() - duration({seconds: $lease}) "
             "SET m.loading_token = $token, m.loading_since = datetime() RETURN m.generation, m.slot"),
    "refresh": ("MATCH (m:MMBenchMeta {namespace: $namespace}) WHERE m.loading_token = $token "
                "SET m.loading_since = datetime() RETURN true"),
    "switch": ("MATCH (m:MMBenchMeta {namespace: $namespace}) WHERE m.loading_token = $token WITH m, m.slot AS old "
               "SET m.generation = $number, m.slot = $slot, m.scope = $scope, m.holdings = $holdings, "
               "m.writes_since = 0 REMOVE m.loading_token, m.loading_since RETURN old"),
    "release": ("MATCH (m:MMBenchMeta {namespace: $namespace}) WHERE m.loading_token = $token "
                "REMOVE m.loading_token, m.loading_since RETURN true"),
    # the SET reads the property it writes, so Cypher locks the node first: no increment is lost
    "record": ("MATCH (m:MMBenchMeta) WHERE m.slot IS NOT NULL "
               "SET m.writes_since = coalesce(m.writes_since, 0) + $n RETURN m.writes_since"),
}
_ENGINE_INFO = ("CALL dbms.components() YIELD name, versions, edition "
                "WHERE name = 'Neo4j Kernel' RETURN versions[0], edition")
_SERVER_SETTINGS = ("SHOW SETTINGS YIELD name, value WHERE name IN "
                    "['db.relationship_grouping_threshold', 'server.memory.pagecache.size', "
                    "'server.memory.heap.max_size'] RETURN name, value")
_RESAMPLE = "CALL db.resampleIndex($name)"
_CLEAR_PLANS = "CALL db.clearQueryCaches()"
ADMIN_ATTEMPTS = 6
# Error codes of a transaction the server stopped (its timeout, or a kill): said as such, one line.
_STOPPED = {"TransactionTimedOut", "TransactionTimedOutClientConfiguration", "LockClientStopped", "Terminated"}
_EXPLAIN_NOTES = (
    ("each statement ran under PROFILE (its text is shown as the adapter sends it); examined = PROFILE's "
     "db hits (storage accesses: a node, a relationship, a property or an index entry each), including "
     "the 3 of the generation guard"),
    ("round trips, as the adapter's managed transactions make them: BEGIN pipelined with the first RUN, one "
     "more per 1,000 records (the driver's fetch size), one for the COMMIT (for an explained write: the "
     "ROLLBACK; its explicit BEGIN is not counted)"),
    ("server_us: Neo4j's result_available_after + result_consumed_after, in whole milliseconds, "
     "PROFILE's own overhead included"),
)


def _records_and_summary(result: Result) -> tuple[list[Any], ResultSummary]:
    records = list(result)
    return records, result.consume()


def json_ready(value: Any) -> Any:
    """Parameters as JSON values, exactly (dates as ISO text, entities as dicts; no rounding)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.date, neo4j.time.Date, neo4j.time.DateTime)):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return json_ready(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [json_ready(v) for v in value]
    return str(value)


def _driver_version() -> str:
    """The driver, and whether its Rust extension packs and unpacks messages (it is faster)."""
    try:
        rust = f" + neo4j-rust-ext {metadata.version('neo4j-rust-ext')}"
    except metadata.PackageNotFoundError:
        rust = " (pure Python)"
    return f"neo4j-python-driver {neo4j.__version__}{rust}"


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a connection failure (e.g. "Connection refused")."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return first_line(exc)
