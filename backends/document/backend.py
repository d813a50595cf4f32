"""The document model: MongoDB through pymongo, designed as a MongoDB user would.

Design (collections, document shapes and indexes in schema.py; the commands in queries.py):

- Diagnoses are EMBEDDED in their patient: `{_id, name, age, sex, diagnoses: [{diagnosis_id,
  code, diagnosed_on}, ...]}`. A patient has a handful of them (at most one per condition),
  they are read with the patient (patient_by_id is one document), and every diagnosis query
  becomes a single-collection query: the lecture's `{diagnoses: {$elemMatch: {code: "I10"}}}`
  on a multikey index, the counts an `$unwind` + `$group` with no join. add_patient is one
  atomic single-document insert, so no multi-document transaction is needed (the emulator has
  none). The lecture's hands-on imported diagnoses as a second collection and joined them with
  `$lookup` in every aggregation; embedding removes that join. Its price: a new diagnosis
  rewrites its patient's document (`$push`, whose `$sort` keeps the array in catalog order),
  and loading diagnoses is one update per patient instead of plain inserts.
- Lab results are REFERENCED: one document each in their own collection, with `patient_id`.
  They grow without bound over a patient's life (embedded, every patient read would drag the
  history along, towards the 16 MiB document limit), and lab_history (one patient, one test,
  a date range) is a range scan of the index (patient_id, test_name, taken_on, _id) that
  returns them already in answer order. Bucketing them per (patient, test) (the bucket
  pattern; time-series collections on MongoDB 5+) pays when a series has hundreds of points;
  here a series has 1 to 5, so buckets would save little and turn every new result into an
  update of its bucket.
- Variant calls are REFERENCED too: millions of documents queried by region on their own,
  never with their patient. The compound index (chromosome, position, _id) answers the
  chromosome and region queries in their order; depth and quality have an index each.
  carriers_with_diagnosis is the one join: the distinct carriers in the region (`$group`)
  are joined to their patient by `$lookup` on `_id`.

Every query runs on the server: `find` with `$gt`, `$gte`/`$lte` and `$elemMatch` and
projections that return only the answer's fields, and aggregation pipelines (`$match`,
`$project` with set operators, `$unwind`, `$group`, `$sort`, `$lookup`) for the counts and
joins; none is finished in the client (patients_sharing_diagnoses first reads the asked
patient's codes, then ranks the others in one pipeline).

The local engine is an emulator (mongo-java-server). It lacks `$sortArray`, `$replaceWith`,
`$lookup` with both localField and pipeline, and `explain`, and it accepts secondary indexes
but builds none (every query scans: its timings say nothing about index design). The
pipelines use constructs both it and MongoDB 7/8 run (`$replaceRoot`, set operators,
`$lookup` with localField/foreignField), and avoid what it runs pathologically: `$unwind`
of a large `$lookup` result, which it copies whole into every unwound document. `engine_info()` reads `buildInfo`: one without `gitVersion` is the
emulator.

Loading: `insert_many(ordered=False)` per batch, secondary indexes dropped in begin_load and
built once a kind is complete (one pass over sorted keys beats maintaining them per insert);
diagnoses are one unordered `bulk_write` of `$push` updates per batch, one per patient. The
write concern (w, j) from settings applies to every write. There is no load transaction: a
failed load is undone by dropping the collections (abort_load).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import pymongo
from pydantic import ValidationError
from pymongo import MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from backends.base import Backend, BackendError, EngineInfo, EngineUnavailable, NotLoaded, first_line
from backends.document import queries
from backends.document.queries import Command
from backends.document.schema import (
    CODEC_OPTIONS,
    COLLECTIONS,
    INDEXES,
    LAB_RESULTS,
    PATIENTS,
    VARIANTS,
    diagnosis_item,
    lab_result_doc,
    patient_doc,
    push_diagnoses,
    to_lab_result,
    to_patient,
    to_record,
    to_variant,
    variant_doc,
)
from backends.document.settings import MongoSettings
from models.catalog import CATALOG, Q
from models.dataset import ENTITY_KINDS, EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)

PRODUCT = "MongoDB"
EMULATOR = "mongo-java-server (MongoDB wire-protocol emulator)"

_INSERTED: dict[EntityKind, tuple[str, Any]] = {
    # kinds loaded as one document per entity: collection, entity -> document
    "patients": (PATIENTS, patient_doc),
    "lab_results": (LAB_RESULTS, lab_result_doc),
    "variants": (VARIANTS, variant_doc),
}


class MongoBackend(Backend):
    name: ClassVar[str] = "mongodb"
    model: ClassVar[str] = "document"

    def __init__(self, client: MongoClient, settings: MongoSettings, address: str) -> None:
        self.client, self.address = client, address
        options = settings.write_concern_options()
        self.db = client.get_database(settings.database, codec_options=CODEC_OPTIONS,
                                      write_concern=WriteConcern(**options) if options else None)
        self._info: EngineInfo | None = None
        self._schema_seen = False

    @classmethod
    def from_settings(cls, settings: MongoSettings | None = None) -> Self:
        try:
            settings = settings or MongoSettings()
        except ValidationError as exc:
            err = exc.errors()[0]
            raise BackendError(f"mongodb: setting MMBENCH_MONGODB_{str(err['loc'][0]).upper()}: {err['msg']}") from None
        address = _redacted(settings.url)
        try:
            client: MongoClient = MongoClient(settings.url, appname="mmbench", serverSelectionTimeoutMS=settings.timeout_ms,
                                              connectTimeoutMS=settings.timeout_ms)
        except (PyMongoError, ValueError) as exc:  # a malformed URI, an unresolvable SRV record
            raise BackendError(f"mongodb: bad MMBENCH_MONGODB_URL {address}: {_first_line(exc)}") from None
        backend = cls(client, settings, address)
        try:
            with backend._errors():
                client.admin.command("ping")
        except BackendError:
            client.close()
            raise
        return backend

    def close(self) -> None:
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
            self._info = EngineInfo(EMULATOR if emulator else PRODUCT, version, emulator,
                                    driver=f"pymongo {pymongo.version}", address=self.address)
        return self._info

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors -> one-line BackendError (EngineUnavailable when the server is gone)."""
        try:
            yield
        except ConnectionFailure as exc:
            raise EngineUnavailable(self.name, PRODUCT, self.address, _first_line(exc)) from None
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or [{}]
            raise BackendError(f"mongodb: {len(errors)} write(s) failed, first: "
                               f"{errors[0].get('errmsg', _first_line(exc))}") from None
        except OperationFailure as exc:
            raise BackendError(f"mongodb: {(exc.details or {}).get('errmsg') or _first_line(exc)}") from None
        except PyMongoError as exc:
            raise BackendError(f"mongodb: {_first_line(exc)}") from None

    # -- schema and loading

    def reset(self) -> None:
        """Drop the collections (only ours: the database may hold others) and recreate them."""
        with self._errors():
            for name in COLLECTIONS:
                self.db.drop_collection(name)
            for name in COLLECTIONS:
                self.db.create_collection(name)
            for kind in ENTITY_KINDS:
                self._create_indexes(kind)

    def _create_indexes(self, kind: EntityKind) -> None:
        collection, indexes = INDEXES[kind]
        self.db[collection].create_indexes(list(indexes))

    def begin_load(self) -> None:
        """Secondary indexes go; each is built once its kind is loaded (finish_kind). One by
        name: the emulator fails `dropIndexes: "*"`."""
        with self._errors():
            for collection in map(self.db.get_collection, COLLECTIONS):
                for index in list(collection.list_indexes()):
                    if index["name"] != "_id_":
                        collection.drop_index(index["name"])

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        with self._errors():
            if kind == "diagnoses":
                self._push_diagnoses(rows)
            else:
                collection, to_doc = _INSERTED[kind]
                self.db[collection].insert_many([to_doc(r) for r in rows], ordered=False)

    def _push_diagnoses(self, rows: list[Diagnosis]) -> None:
        """One `$push` per patient: its diagnoses of this batch, kept in catalog order."""
        by_patient: dict[int, list[dict[str, Any]]] = {}
        for d in rows:
            by_patient.setdefault(d.patient_id, []).append(diagnosis_item(d))
        ops = [UpdateOne({"_id": pid}, push_diagnoses(items)) for pid, items in by_patient.items()]
        result = self.db[PATIENTS].bulk_write(ops, ordered=False)
        if result.acknowledged and result.matched_count < len(ops):
            found = {d["_id"] for d in self.db[PATIENTS].find({"_id": {"$in": list(by_patient)}}, {"_id": 1})}
            missing = sorted(set(by_patient) - found)
            raise BackendError(f"mongodb: diagnoses of {len(missing)} unknown patient(s), e.g. {missing[:5]}")

    def finish_kind(self, kind: EntityKind) -> None:
        with self._errors():
            self._create_indexes(kind)

    def abort_load(self) -> None:
        """No transaction to roll back: drop what was written."""
        self.reset()

    # -- reads

    def _docs(self, command: Command) -> list[dict[str, Any]]:
        with self._errors():
            docs = list(command.run(self.db))
            if not docs and not self._schema_seen:
                self._require_schema()
        return docs

    def _require_schema(self) -> None:
        """An empty answer from a database without our collections means nothing was loaded."""
        if not set(COLLECTIONS) <= set(self.db.list_collection_names()):
            raise NotLoaded(self.name, f"collections in database {self.db.name!r} at {self.address}")
        self._schema_seen = True

    def _variants(self, command: Command) -> list[Variant]:
        return [to_variant(d) for d in self._docs(command)]

    def _patients(self, command: Command) -> list[Patient]:
        return [to_patient(d) for d in self._docs(command)]

    def _code_counts(self, command: Command) -> list[CodeCount]:
        return [CodeCount(d["_id"], d["patients"]) for d in self._docs(command)]

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        return next(iter(self._variants(queries.variant_by_id(variant_id=variant_id))), None)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return self._variants(queries.variants_by_chromosome(chromosome=chromosome))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return self._variants(queries.variants_in_region(chromosome=chromosome, start=start, end=end))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return self._variants(queries.variants_min_depth(min_depth=min_depth))

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return self._variants(queries.variants_min_quality(min_quality=min_quality))

    def all_variants(self) -> list[Variant]:
        return self._variants(queries.all_variants())

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        docs = self._docs(queries.patient_by_id(patient_id=patient_id))
        return to_record(docs[0]) if docs else None

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return self._patients(queries.patients_older_than(age=age))

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return self._patients(queries.patients_with_diagnosis(code=code))

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return self._code_counts(queries.diagnosis_counts(min_age=min_age))

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        command = queries.lab_history(patient_id=patient_id, test_name=test_name, since=since, until=until)
        return [to_lab_result(d) for d in self._docs(command)]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return self._patients(queries.carriers_with_diagnosis(chromosome=chromosome, start=start, end=end, code=code))

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        docs = self._docs(self._sharing_command(patient_id))
        return [SharedDiagnoses(d["_id"], d["shared"]) for d in docs]

    def _sharing_command(self, patient_id: int) -> Command:
        """The pipeline of patients_sharing_diagnoses, given the asked patient's codes."""
        found = self._docs(queries.codes_of(patient_id=patient_id))
        codes = sorted({d["code"] for d in found[0]["diagnoses"]}) if found else []
        return queries.patients_sharing_diagnoses(patient_id=patient_id, codes=codes)

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return self._code_counts(queries.comorbid_codes(code=code))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        """One document, diagnoses embedded: atomic without a transaction."""
        with self._errors():
            self.db[PATIENTS].insert_one(patient_doc(patient.patient, patient.diagnoses))

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        item = diagnosis_item(Diagnosis(diagnosis_id, patient_id, code, diagnosed_on))
        with self._errors():
            result = self.db[PATIENTS].update_one({"_id": patient_id}, push_diagnoses([item]))
        if result.acknowledged and result.matched_count == 0:
            raise BackendError(f"mongodb: no patient {patient_id} to add diagnosis {diagnosis_id} to")

    def add_variants(self, *, variants: list[Variant]) -> None:
        if variants:
            with self._errors():
                self.db[VARIANTS].insert_many([variant_doc(v) for v in variants], ordered=False)

    # -- plans

    def explain(self, query: Q | str, params: Mapping[str, Any] | None = None) -> list[str]:
        """The indexes a read query uses on this server (`queries.plan_summary` of its explain,
        run with executionStats). Real MongoDB only: the emulator has no explain."""
        spec = CATALOG[Q(query)]
        if spec.is_write:
            raise BackendError(f"mongodb: explain covers read queries, not {spec.name}")
        if self.engine_info().emulator:
            raise BackendError("mongodb: the emulator (mongo-java-server) has no explain and builds no secondary "
                               "indexes; point MMBENCH_MONGODB_URL at a real MongoDB")
        if spec.name is Q.PATIENTS_SHARING_DIAGNOSES:
            command = self._sharing_command(**(params or {}))
        else:
            command = getattr(queries, spec.name)(**(params or {}))
        with self._errors():
            answer = self.db.command({"explain": command.command(), "verbosity": "executionStats"},
                                     codec_options=CODEC_OPTIONS)
        return queries.plan_summary(answer)


def _redacted(url: str) -> str:
    """The URL without credentials and options: safe to print."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}" if parts.scheme else url


def _first_line(exc: BaseException) -> str:
    """The driver's message without its appendices (full error document, topology, timeouts)."""
    return first_line(exc, cut=(", full error:", " (configured timeouts", ", Timeout:"))
