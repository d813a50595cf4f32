"""MongoDB as both document designs use it: connecting, errors, the atomic load switch, what
the backend holds, namespaces and `explain`. The designs (backend.py: embedded, the default;
referenced.py) add their collections, loading and queries.

Databases. Each design keeps its own database, named from the setting `database` (default
`mmbench`), the design and the data namespace: `mmbench` (the embedded design) and
`mmbench-referenced`; in namespace `lecture`, `mmbench_lecture` and `mmbench-referenced_lecture`
(a namespace never holds a `-`, so no two names collide). Besides the design's collections a
database holds `holdings`: one document `{_id: "current", holdings, generation}`.

Load = atomic replace, without transactions (the emulator has none; a standalone server
neither). `begin_load` creates this load's staging collections `staging.<generation>.<name>`
(empty, no secondary index) beside the live ones, which stay untouched; `write_batch` fills
them; `finish_kind` builds each kind's indexes there once the kind is complete. `end_load`
first checks the staged document counts against the rows written, then passes the commit
point: one write of the holdings document with the new `Holdings` and the renames still to do
(`pending`). Then each staging collection replaces its live one (`renameCollection` with
`dropTarget`: the old collection is dropped in the same step, the indexes come along) and
`pending` is removed. `abort_load` drops the staging collections, or, past the commit point,
finishes the renames.

What a killed process leaves: before the commit point, orphan staging collections
`staging.<generation>.*`, which no query reads; the next load (or reset) drops them. After it,
the holdings document still lists the `pending` renames: the next open of this design's
database (any mmbench command) finishes them. A reader sees each collection switch in one
step, but the collections switch one after the other: a query running during the
milliseconds of the renames can see the new patients with the old variants. (A pointer
document naming the current generation would make the switch a single write, at the price of
reading it before every query.) Two loads into one namespace at once: the later drops the
earlier's staging collections, and the earlier fails its count check and changes nothing.

Timeouts and errors: every wait of the driver is bounded (MongoSettings.client_options); every
driver error becomes one line naming the design (EngineUnavailable when the server is gone),
and the connection string appears only as `redact_url` of its host part, without credentials.

Explain: the query runs once on a twin of the backend whose client has a pymongo command
listener (explain.py), so the timed client carries no listener. The statements are the
commands as sent; `returned` counts the documents in the replies' cursor batches. On a real
MongoDB each find / aggregate / update is explained again with `executionStats`: the plan,
`totalDocsExamined` / `totalKeysExamined` and `executionTimeMillis`. The emulator has no
`explain`: plan, examined and server time are null, and the notes say what it did instead
(its source: it looks up `_id` equalities in its `_id` index and walks the whole collection
for everything else; every pipeline starts from the whole collection). Writes run on scratch
ids and are deleted afterwards (no transactions to roll back).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self
from urllib.parse import unquote

import pymongo
from bson.errors import BSONError
from pydantic import ValidationError
from pymongo import IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)
from pymongo.write_concern import WriteConcern

from backends.base import (
    Backend,
    BackendError,
    EngineInfo,
    EngineUnavailable,
    Explanation,
    Holdings,
    NotLoaded,
    Work,
    answer_size,
    first_line,
    namespaced,
    redact_url,
    run_query,
)
from backends.document import explain as ex
from backends.document import queries
from backends.document.queries import Command
from backends.document.schema import (
    VARIANTS,
    to_lab_result,
    to_patient,
    to_variant,
    variant_doc,
)
from backends.document.settings import MongoSettings
from models.catalog import CATALOG, Q
from models.dataset import EntityKind
from models.entities import (
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    Variant,
)

PRODUCT = "MongoDB"
EMULATOR = "mongo-java-server (MongoDB wire-protocol emulator)"
HOLDINGS, CURRENT = "holdings", "current"
STAGING = "staging."

EMULATOR_DIFFERENCES = (
    ("It builds no secondary index: indexes are accepted and listed, but only an equality (or $in) on _id "
     "uses one (the _id index); every other find walks the whole collection."),
    ("Every aggregation pipeline starts from the whole collection, even behind a leading $match on _id; "
     "a $lookup on a field other than _id walks the foreign collection once per input document."),
    "It has no explain command: no plan, no documents or keys examined, no executionTimeMillis.",
    ("It has no transactions, no replication and no journal: data lives in the Java heap, write concerns "
     "and j are accepted but mean nothing, and a restart empties it."),
    ("It is a Java reimplementation imitating MongoDB 5.0's wire protocol, not WiredTiger with its cache "
     "and query planner: its timings say nothing about MongoDB's."),
)

DRIVER_ERRORS = (PyMongoError, BSONError, OverflowError)
_WALKING = ("find", "aggregate", "distinct", "update", "delete")  # commands that read documents
SCRATCH_BASE = 2**62
"""Integer ids of explained writes: far above any id a data set or a benchmark gives."""


class MongoStore(Backend):
    """The parts of a MongoDB backend that do not depend on the design."""

    model: ClassVar[str] = "document"
    design: ClassVar[str]                   # "embedded", "referenced"
    database_suffix: ClassVar[str] = ""     # "-referenced": the design's own database
    collections: ClassVar[tuple[str, ...]]
    indexes: ClassVar[Mapping[EntityKind, tuple[str, tuple[IndexModel, ...]]]]
    document_per_row: ClassVar[Mapping[EntityKind, str]]  # kinds stored one document each -> collection
    access: ClassVar[Mapping[Q, str]]       # how a real MongoDB answers each query (explain's notes)

    def __init__(self, client: MongoClient, settings: MongoSettings, address: str) -> None:
        self.client, self.settings, self.address = client, settings, address
        options = settings.write_concern_options()
        self.db = client.get_database(namespaced(settings.database + self.database_suffix),
                                      write_concern=WriteConcern(**options) if options else None)
        self.c: dict[str, Collection] = {name: self.db[name] for name in self.collections}
        self._holdings = self.db[HOLDINGS]
        self._info: EngineInfo | None = None
        self._schema_seen = False
        self._generation: str | None = None    # of the load under way
        self._staged: dict[str, Collection] = {}
        self._twin: tuple[MongoStore, ex.CommandLog] | None = None

    @classmethod
    def from_settings(cls, settings: MongoSettings | None = None) -> Self:
        try:
            settings = settings or MongoSettings()
        except ValidationError as exc:
            err = exc.errors()[0]
            raise BackendError(f"{cls.name}: setting MMBENCH_MONGODB_{str(err['loc'][0]).upper()}: "
                               f"{err['msg']}") from None
        address = _address(settings.url)
        try:
            client: MongoClient = MongoClient(settings.url, appname="mmbench", **settings.client_options())
        except (PyMongoError, ValueError, TypeError) as exc:  # a malformed URI, an unresolvable SRV record
            raise BackendError(f"{cls.name}: bad MMBENCH_MONGODB_URL {address}: "
                               f"{_scrub(_first_line(exc), settings.url)}") from None
        backend = cls(client, settings, address)
        try:
            with backend._errors():
                client.admin.command("ping")
                backend._finish_switch()
        except BackendError:
            client.close()
            raise
        return backend

    def close(self) -> None:
        if self._twin is not None:
            self._twin[0].client.close()
            self._twin = None
        self.client.close()

    def engine_info(self) -> EngineInfo:
        """Product and version from `buildInfo`; the emulator reports no `gitVersion`."""
        if self._info is None:
            with self._errors():
                info = self.client.admin.command("buildInfo")
            emulator = "gitVersion" not in info
            version = str(info.get("version", "?"))
            if emulator:  # mongo-java-server answers with the MongoDB version it imitates
                version = f"imitating MongoDB {version}"
            s = self.settings
            options = {"design": self.design, "database": self.db.name,
                       "write_concern": s.write_concern or "the URL's or the server's default",
                       "journal": "the server's default" if s.journal is None else str(s.journal).lower()}
            self._info = EngineInfo(EMULATOR if emulator else PRODUCT, version, emulator,
                                    driver=f"pymongo {pymongo.version}", address=self.address, options=options,
                                    differences=EMULATOR_DIFFERENCES if emulator else ())
        return self._info

    # -- errors

    def _error(self, exc: BaseException) -> BackendError:
        """A driver error as one line naming the design (EngineUnavailable when the server is gone)."""
        if isinstance(exc, ConnectionFailure):
            return EngineUnavailable(self.name, PRODUCT, self.address, self._line(exc))
        if isinstance(exc, BulkWriteError):
            errors = exc.details.get("writeErrors") or [{}]
            first = errors[0].get("errmsg") or self._line(exc)
            first = _scrub(first_line(first), self.settings.url)
            return BackendError(f"{self.name}: {len(errors)} write(s) failed, first: {first}")
        if isinstance(exc, OperationFailure):
            errmsg = (exc.details or {}).get("errmsg")
            line = _scrub(first_line(errmsg), self.settings.url) if errmsg else self._line(exc)
            return BackendError(f"{self.name}: {line}")
        if isinstance(exc, BSONError | OverflowError):
            return BackendError(f"{self.name}: cannot store a value in BSON: {self._line(exc)}")
        return BackendError(f"{self.name}: {self._line(exc)}")

    def _line(self, exc: BaseException) -> str:
        return _scrub(_first_line(exc), self.settings.url)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None

    # -- what the backend holds

    def holdings(self) -> Holdings | None:
        with self._errors():
            doc = self._holdings.find_one({"_id": CURRENT})
        if doc is None:
            raise self._not_loaded()
        return Holdings.from_dict(doc["holdings"]) if doc.get("holdings") else None

    def record_writes(self, n: int) -> None:
        with self._errors():
            done = self._holdings.update_one({"_id": CURRENT, "holdings": {"$ne": None}},
                                             {"$inc": {"holdings.writes_since": n}})
        if done.acknowledged and done.matched_count == 0:
            self.holdings()  # NotLoaded if nothing was ever loaded; after a reset there is nothing to count

    def _not_loaded(self) -> NotLoaded:
        return NotLoaded(self.name, f"data in database {self.db.name!r} at {self.address}")

    def _check_loaded(self) -> None:
        """After an empty answer: NotLoaded if this namespace was never loaded (or reset)."""
        if self._schema_seen:
            return
        with self._errors():
            known = self._holdings.find_one({"_id": CURRENT}, {"_id": 1}) is not None or (
                set(self.collections) <= set(self.db.list_collection_names()))
        if not known:
            raise self._not_loaded()
        self._schema_seen = True

    # -- schema and the atomic load switch

    def reset(self) -> None:
        """Drop this design's collections (only ours: the database may hold others), including
        staging ones, and recreate them empty with their indexes; holdings() is then None."""
        with self._errors():
            self._drop_staging()
            for name in self.collections:
                self.db.drop_collection(name)
            for name in self.collections:
                self.db.create_collection(name)
            for collection, models in self.indexes.values():
                if models:
                    self.c[collection].create_indexes(list(models))
            self._holdings.replace_one({"_id": CURRENT}, {"_id": CURRENT, "holdings": None, "generation": None},
                                       upsert=True)
        self._schema_seen = True

    def begin_load(self) -> None:
        with self._errors():
            self._finish_switch()
            self._drop_staging()
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            self._generation = generation = f"{stamp}{secrets.token_hex(3)}"
            self._staged = {}
            for name in self.collections:
                self.db.create_collection(_staging_name(generation, name))
                self._staged[name] = self.db[_staging_name(generation, name)]

    def staged(self, name: str) -> Collection:
        """The staging collection of `name` in the load under way."""
        if not self._staged:
            raise BackendError(f"{self.name}: write_batch outside a load (begin_load first)")
        return self._staged[name]

    def finish_kind(self, kind: EntityKind) -> None:
        collection, models = self.indexes[kind]
        if models:
            with self._errors():
                self.staged(collection).create_indexes(list(models))

    def end_load(self, holdings: Holdings) -> None:
        generation = self._generation
        if generation is None:
            raise BackendError(f"{self.name}: end_load without begin_load")
        with self._errors():
            for kind, name in self.document_per_row.items():
                found = self.staged(name).estimated_document_count()  # collection metadata: no scan
                if found != holdings.rows.get(kind, 0):
                    raise BackendError(f"{self.name}: staging collection {self.staged(name).name} holds {found} "
                                       f"documents, not the {holdings.rows.get(kind, 0)} {kind} written (another "
                                       f"load into database {self.db.name!r} at the same time?); nothing changed")
            pending = [[_staging_name(generation, name), name] for name in self.collections]
            self._holdings.replace_one({"_id": CURRENT}, {"_id": CURRENT, "holdings": holdings.to_dict(),
                                                          "generation": generation, "pending": pending}, upsert=True)
            self._finish_switch()  # past the commit point: a failure from here on is finished by the next open
        self._generation, self._staged, self._schema_seen = None, {}, True

    def abort_load(self) -> None:
        generation, self._generation, self._staged = self._generation, None, {}
        if generation is None:
            return
        with self._errors():
            doc = self._holdings.find_one({"_id": CURRENT}, {"generation": 1})
            if doc is not None and doc.get("generation") == generation:  # committed: finish, never undo
                self._finish_switch()
                return
            for name in self.collections:
                self.db.drop_collection(_staging_name(generation, name))

    def _finish_switch(self) -> None:
        """Do the renames a committed load still lists as pending (none, normally)."""
        doc = self._holdings.find_one({"_id": CURRENT, "pending": {"$exists": True}}, {"pending": 1})
        if doc is None:
            return
        for source, target in doc["pending"]:
            try:
                self.client.admin.command("renameCollection", f"{self.db.name}.{source}",
                                          to=f"{self.db.name}.{target}", dropTarget=True,
                                          write_concern=self.db.write_concern)
            except OperationFailure as exc:  # done before (by us or a process that was killed): fine
                if exc.code != 26 and "source namespace does not exist" not in str(exc):
                    raise
        self._holdings.update_one({"_id": CURRENT}, {"$unset": {"pending": ""}})

    def _drop_staging(self) -> None:
        """Drop every staging collection: orphans of killed loads (or of a load running now)."""
        for name in self.db.list_collection_names():  # filtered here: the emulator ignores a $regex filter
            if name.startswith(STAGING):
                self.db.drop_collection(name)

    # -- shared reads and writes

    def _find(self, command: Any, convert: Callable[[Any], Any] | None = None) -> list[Any]:
        """The documents of a `Find`, each turned into an entity by `convert` as it arrives."""
        try:
            cursor = self.c[command.collection].find(command.filter, command.projection, sort=command.sort)
            docs = [convert(d) for d in cursor] if convert else list(cursor)
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if not docs and not self._schema_seen:
            self._check_loaded()
        return docs

    def _aggregate(self, command: Any, convert: Callable[[Any], Any] | None = None) -> list[Any]:
        """The documents of an `Aggregate`, each turned into an entity by `convert` as it arrives."""
        try:
            cursor = self.c[command.collection].aggregate(command.pipeline)
            docs = [convert(d) for d in cursor] if convert else list(cursor)
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if not docs and not self._schema_seen:
            self._check_loaded()
        return docs

    def _find_one(self, collection: Collection, filter: dict[str, Any],
                  projection: dict[str, Any] | None = None) -> dict[str, Any] | None:
        try:
            doc = collection.find_one(filter, projection)
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if doc is None and not self._schema_seen:
            self._check_loaded()
        return doc

    # -- explain

    def explain(self, query: Q | str, params: Mapping[str, Any] | None = None) -> Explanation:
        spec = CATALOG[Q(query)]
        params = dict(params or {})
        emulator = self.engine_info().emulator
        twin, log = self._explainer()
        twin._check_loaded()  # NotLoaded here, not a probe among the statements
        log.take()
        notes: list[str] = []
        undone: str | None = None
        if spec.is_write:
            scratch, undo, said = self._scratch(spec.name, params)
            try:
                run_query(twin, spec.name, scratch)
            finally:
                sent = log.take()
                with self._errors():
                    undo()
            answer: Any = None
            undone = (f"deleted afterwards: written on scratch ids ({said})"
                      + ("; mongo-java-server has no transactions to roll back" if emulator else
                         "; no multi-document transaction is assumed (a standalone server has none)"))
        else:
            answer = run_query(twin, spec.name, params)
            sent = log.take()
        statements = [ex.statement(s.command) for s in sent]
        work = Work(answer=answer_size(answer), returned=sum(s.returned for s in sent), round_trips=len(sent))
        plan: Any = None
        summary: list[str] = []
        server_us: float | None = None
        designed = self.access.get(spec.name)
        if emulator:
            work.reasons["examined"] = "mongo-java-server has no explain: it does not report documents examined"
            notes.append("mongo-java-server has no explain command: no plan, no documents examined, no server time "
                         "(point MMBENCH_MONGODB_URL at a real MongoDB for them).")
            notes.extend(dict.fromkeys(_emulator_note(s) for s in sent if s.name in _WALKING))
            if designed:
                notes.append(f"A real MongoDB would use {designed}.")
        else:
            plan, summary, server_us = self._plans(sent, work)
            if designed:
                notes.append(f"As designed: {designed}.")
        return Explanation(backend=self.name, query=spec.name.value, params=_json_params(params),
                           tier=self.tier(spec.name).value, statements=statements, plan=plan, plan_summary=summary,
                           work=work, notes=notes, server_us=server_us, undone=undone)

    def _explainer(self) -> tuple[MongoStore, ex.CommandLog]:
        """A twin of this backend on a client with a command listener (created once)."""
        if self._twin is None:
            log = ex.CommandLog(self.db.name)
            client: MongoClient = MongoClient(self.settings.url, appname="mmbench-explain", event_listeners=[log],
                                              **self.settings.client_options())
            twin = type(self)(client, self.settings, self.address)
            twin._info, twin._schema_seen = self.engine_info(), self._schema_seen
            self._twin = (twin, log)
        return self._twin

    def _plans(self, sent: list[ex.Sent], work: Work) -> tuple[Any, list[str], float | None]:
        """MongoDB's explain (executionStats) of each explainable command sent: the plans, their
        access paths, the work counts into `work`, and the server time in microseconds."""
        plans: list[dict[str, Any]] = []
        summary: list[str] = []
        docs = keys = examined = 0
        millis: float | None = None
        for s in sent:
            if s.name not in ex.EXPLAINABLE:
                continue
            answer = self._explain_command(s.command)
            plans.append({"command": s.name, "explain": ex.to_json(answer)})
            summary.extend(name for name in ex.plan_summary(answer) if name not in summary)
            c = ex.counts(answer)
            docs, keys, examined = docs + c.docs_examined, keys + c.keys_examined, examined + c.examined
            if c.millis is not None:
                millis = (millis or 0.0) + c.millis
        if not plans:
            work.reasons["examined"] = "MongoDB has no explain for insert: nothing examined is reported"
            return None, [], None
        work.examined = examined
        work.cost = {"docs_examined": float(docs), "keys_examined": float(keys)}
        return plans, summary, None if millis is None else millis * 1000

    def _explain_command(self, command: Mapping[str, Any]) -> Mapping[str, Any]:
        """MongoDB's `explain` of one command with executionStats (it runs the command again;
        a write is planned and executed without being applied)."""
        with self._errors():
            return self.db.command({"explain": dict(command), "verbosity": "executionStats"})

    def _scratch(self, query: Q, params: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None], str]:
        """The write's parameters moved to scratch ids, how to delete what it wrote, and which ids."""
        base = SCRATCH_BASE + random.randrange(2**30) * 16
        if query is Q.ADD_PATIENT:
            record: PatientRecord = params["patient"]
            patient = Patient(base, record.patient.name, record.patient.age, record.patient.sex)
            diagnoses = tuple(Diagnosis(base + 1 + i, base, d.code, d.diagnosed_on)
                              for i, d in enumerate(record.diagnoses))
            ids = [d.diagnosis_id for d in diagnoses]
            return ({"patient": PatientRecord(patient, diagnoses)}, lambda: self._undo_patient(base, ids),
                    f"patient {base}")
        if query is Q.ADD_DIAGNOSIS:
            pid = params["patient_id"]
            return ({**params, "diagnosis_id": base}, lambda: self._undo_diagnosis(pid, base),
                    f"diagnosis {base} of patient {pid}")
        if query is Q.ADD_VARIANTS:
            tag = secrets.token_hex(4)
            variants = [_replace_variant(v, f"scratch-{tag}-{i}") for i, v in enumerate(params["variants"])]
            ids = [v.variant_id for v in variants]
            return ({"variants": variants}, lambda: self.c[VARIANTS].delete_many({"_id": {"$in": ids}}),
                    f"variants scratch-{tag}-*")
        raise BackendError(f"{self.name}: no scratch form for write {query}")

    def _undo_patient(self, patient_id: int, diagnosis_ids: list[int]) -> None:
        raise NotImplementedError

    def _undo_diagnosis(self, patient_id: int, diagnosis_id: int) -> None:
        raise NotImplementedError

    # -- what both designs store alike: the variants, the patients' own fields, the lab results

    def _variants_of(self, command: Command) -> list[Variant]:
        return self._find(command, to_variant)

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        try:
            doc = self._variants.find_one({"_id": variant_id})
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if doc is None:
            self._check_loaded()
            return None
        return to_variant(doc)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return self._variants_of(queries.variants_by_chromosome(chromosome=chromosome))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return self._variants_of(queries.variants_in_region(chromosome=chromosome, start=start, end=end))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return self._variants_of(queries.variants_min_depth(min_depth=min_depth))

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return self._variants_of(queries.variants_min_quality(min_quality=min_quality))

    def all_variants(self) -> list[Variant]:
        return self._variants_of(queries.all_variants())

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return self._find(queries.patients_older_than(age=age), to_patient)

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        command = queries.lab_history(patient_id=patient_id, test_name=test_name, since=since, until=until)
        return self._find(command, to_lab_result)

    def add_variants(self, *, variants: list[Variant]) -> None:
        if variants:
            with self._errors():
                self._variants.insert_many([variant_doc(v) for v in variants], ordered=False)


def _staging_name(generation: str, name: str) -> str:
    return f"{STAGING}{generation}.{name}"


def _replace_variant(v: Variant, variant_id: str) -> Variant:
    return Variant(variant_id, v.chromosome, v.position, v.reference_allele, v.alternate_allele, v.genotype,
                   v.quality, v.depth, v.patient_id)


def _emulator_note(s: ex.Sent) -> str:
    """What mongo-java-server does for one command (from its source, 1.47)."""
    collection = s.command.get(s.name)
    if s.name == "aggregate":
        lookups = [stage["$lookup"] for stage in s.command.get("pipeline", []) if "$lookup" in stage]
        joined = "".join(
            f"; its $lookup into {lk.get('from')} "
            + ("looks each document up in the _id index" if lk.get("foreignField") == "_id" else
               "walks that collection once per document reaching it")
            for lk in lookups)
        return f"aggregate on {collection}: the emulator starts from every document of the collection{joined}."
    where = s.command.get("filter" if s.name == "find" else "query", {}) if s.name in ("find", "distinct") else (
        _first_filter(s.command))
    if isinstance(where, Mapping) and set(where) == {"_id"}:
        return f"{s.name} on {collection}: an equality on _id, looked up in the emulator's _id index."
    return f"{s.name} on {collection}: the emulator uses no secondary index and walks every document."


def _first_filter(command: Mapping[str, Any]) -> Any:
    for key in ("updates", "deletes"):
        items = command.get(key)
        if items:
            return items[0].get("q", {})
    return {}


def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in params.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {f: _jsonable(getattr(value, f)) for f in value.__dataclass_fields__}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _address(url: str) -> str:
    """The server part of a connection string, without credentials or options: safe to print.
    Everything before the last `@` goes, so a password with an unencoded `@`, `:`, `/` or `?`
    goes whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact_url(url)
    if "@" in rest:
        return redact_url(f"{scheme}://user@{rest.rpartition('@')[2].partition('?')[0]}")
    return redact_url(f"{scheme}://{rest.partition('?')[0]}")


def _scrub(message: str, url: str) -> str:
    """`message` without the connection string's userinfo or password, should a driver message echo it."""
    _, sep, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0] if sep else ""
    secrets_ = {userinfo, userinfo.partition(":")[2], unquote(userinfo.partition(":")[2])} if userinfo else set()
    for secret in sorted((x for x in secrets_ if len(x) >= 3), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _first_line(exc: BaseException) -> str:
    """The driver's message without its appendices (full error document, topology, timeouts)."""
    return first_line(exc, cut=(", full error:", " (configured timeouts", ", Timeout:"))
