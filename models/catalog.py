"""The query catalog: every named question, its parameters, answer order and sampling.

`CATALOG[Q.X]` is the QuerySpec of query X. A spec knows:
- its parameters (names, types, optional or not) and how to parse them from text;
- whether it reads or writes, and how its answer is ordered (one object, an ordered list,
  a set, nothing);
- how to draw realistic parameters from a data set (deterministic for a given rng), so
  benchmarks ask questions whose answers are not empty;
- the canonical form of its answer: plain dicts with the entity field names, floats
  rounded to 6 places, dates as ISO strings, sets sorted. Comparisons are on this form.

The meaning of each query is `models.reference.Reference`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from models import validate
from models.entities import (
    BASES,
    CodeCount,
    Diagnosis,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
    diagnosis_order,
)
from models.errors import UsageError
from models.sampling import SampleSource


class Q(enum.StrEnum):
    """The names of the catalog's queries (also the Backend method names)."""

    VARIANT_BY_ID = "variant_by_id"
    VARIANTS_BY_CHROMOSOME = "variants_by_chromosome"
    VARIANTS_IN_REGION = "variants_in_region"
    VARIANTS_MIN_DEPTH = "variants_min_depth"
    VARIANTS_MIN_QUALITY = "variants_min_quality"
    ALL_VARIANTS = "all_variants"
    PATIENT_BY_ID = "patient_by_id"
    PATIENTS_OLDER_THAN = "patients_older_than"
    PATIENTS_WITH_DIAGNOSIS = "patients_with_diagnosis"
    DIAGNOSIS_COUNTS = "diagnosis_counts"
    LAB_HISTORY = "lab_history"
    CARRIERS_WITH_DIAGNOSIS = "carriers_with_diagnosis"
    PATIENTS_SHARING_DIAGNOSES = "patients_sharing_diagnoses"
    COMORBID_CODES = "comorbid_codes"
    ADD_PATIENT = "add_patient"
    ADD_DIAGNOSIS = "add_diagnosis"
    ADD_VARIANTS = "add_variants"


class Order(enum.StrEnum):
    ONE = "one"          # a single object or None
    ORDERED = "ordered"  # a list whose order is part of the answer
    SET = "set"          # a list whose order is not (canonical form sorts it)
    NONE = "none"        # writes answer nothing


class Kind(enum.StrEnum):
    READ = "read"
    WRITE = "write"


# ---------------------------------------------------------------- parameter types

def _parse_patient_record(value: Any) -> PatientRecord:
    """A patient with its diagnoses, by the rules of `models.validate` (the same as the files')."""
    obj = _json_value(value, dict)
    try:
        validate.check_keys("patients", obj, extra=("diagnoses",))
        validate.check_json_types("patients", obj)
        patient = validate.make_patient(obj)
    except validate.FieldError as exc:
        raise ValueError(str(exc)) from None
    items = obj.get("diagnoses", [])
    if not isinstance(items, list):
        raise ValueError(f"field diagnoses: {validate.show(items)} is not an array of diagnoses")
    diagnoses: list[Diagnosis] = []
    seen: set[int] = set()
    for i, d in enumerate(items):
        try:
            if not isinstance(d, dict):
                raise validate.FieldError("diagnoses", f"{validate.show(d)} is not an object")
            validate.check_keys("diagnoses", d)
            validate.check_json_types("diagnoses", d)
            if "patient_id" in d and validate.field_value("diagnoses", "patient_id", d) != patient.patient_id:
                raise validate.FieldError("patient_id", f"{validate.show(d['patient_id'])} is not the patient's "
                                                        f"id {patient.patient_id}")
            diagnosis = validate.make_diagnosis({**d, "patient_id": patient.patient_id})
            if diagnosis.diagnosis_id in seen:
                raise validate.FieldError("diagnosis_id", f"{diagnosis.diagnosis_id} repeated")
        except validate.FieldError as exc:
            raise ValueError(f"diagnosis {i}: {exc}") from None
        seen.add(diagnosis.diagnosis_id)
        diagnoses.append(diagnosis)
    return PatientRecord(patient, tuple(diagnoses))


def _parse_variants(value: Any) -> list[Variant]:
    """A batch of variant calls, by the rules of `models.validate` (the same as the files')."""
    items = _json_value(value, list)
    out = []
    seen: set[str] = set()
    for i, o in enumerate(items):
        try:
            if not isinstance(o, dict):
                raise ValueError(f"{validate.show(o)} is not an object")
            validate.check_keys("variants", o)
            validate.check_json_types("variants", o)
            variant = validate.make_variant(o)
            if variant.variant_id in seen:
                raise validate.FieldError("variant_id", f"{variant.variant_id!r} repeated")
        except ValueError as exc:
            raise ValueError(f"variant {i}: {exc}") from None
        seen.add(variant.variant_id)
        out.append(variant)
    return out


def _json_value(value: Any, kind: type) -> Any:
    """JSON text (or an already decoded value) by the rules: nothing after it, no repeated key, bounded nesting."""
    if isinstance(value, str):
        value = validate.loads(value)
    elif validate.nesting(value) > validate.JSON_MAX_DEPTH:
        raise ValueError(f"nested deeper than {validate.JSON_MAX_DEPTH} levels")
    if not isinstance(value, kind):
        raise ValueError(f"expected a JSON {'object' if kind is dict else 'array'}, not {validate.show(value)}")
    return value


@dataclass(frozen=True)
class ParamType:
    name: str
    parse: Callable[[Any], Any]


INT = ParamType("integer", validate.integer)
FLOAT = ParamType("number", validate.number)
VARIANT_ID = ParamType("text", validate.variant_id)
TEST_NAME = ParamType("text", validate.test_name)
DATE = ParamType("date (YYYY-MM-DD)", validate.date)
CHROMOSOME = ParamType("chromosome (1-22, X, Y, MT)", validate.chromosome)
CODE = ParamType("ICD-10-CM code", validate.code)
PATIENT_RECORD = ParamType("JSON patient with diagnoses", _parse_patient_record)
VARIANTS = ParamType("JSON array of variants", _parse_variants)


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    optional: bool = False


# ---------------------------------------------------------------- canonical form

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_plain(obj: Any) -> Any:
    """Dataclasses to dicts (PatientRecord flattened), floats rounded to 6, dates ISO."""
    kind = type(obj)
    if kind is int or kind is str or obj is None or kind is bool:
        return obj
    if kind is float:
        return round(obj, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    if kind is PatientRecord:
        out = to_plain(obj.patient)
        out["diagnoses"] = [to_plain(d) for d in obj.diagnoses]
        return out
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        return {name: to_plain(getattr(obj, name)) for name in names}
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, (list, tuple)):
        return [to_plain(x) for x in obj]
    if isinstance(obj, float):  # numpy and Decimal-like floats
        return round(float(obj), 6) + 0.0
    return obj


def _set_key(item: dict[str, Any]) -> Any:
    """Set answers are entities with unique ids: they sort by their first field, the id."""
    return next(iter(item.values()))


# ---------------------------------------------------------------- the spec

Sampler = Callable[[SampleSource, random.Random, int], dict[str, Any]]
Observer = Callable[[dict[str, Any]], list[tuple["Q", dict[str, Any]]]]


@dataclass(frozen=True)
class QuerySpec:
    name: Q
    summary: str
    params: tuple[Param, ...]
    order: Order
    sampler: Sampler
    kind: Kind = Kind.READ
    observe: Observer | None = None
    """Writes: the reads (query, parameters) whose answers show the write's effect. The runner's
    `--verify` and the conformance suite both check a write through them."""

    @property
    def is_write(self) -> bool:
        return self.kind is Kind.WRITE

    def observers(self, params: dict[str, Any]) -> list[tuple[Q, dict[str, Any]]]:
        """The reads that show the effect of this write with `params` ([] for a read)."""
        return self.observe(params) if self.observe else []

    def sample(self, source: SampleSource, rng: random.Random, op_index: int = 0) -> dict[str, Any]:
        """Parameters for one operation. `op_index` must be unique per write in a run: new ids derive from it."""
        return self.sampler(source, rng, op_index)

    def parse_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters from text (the command line); UsageError names what is wrong."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise UsageError(f"query {self.name}: unknown parameter {unknown[0]!r}; valid: {self.signature() or 'none'}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name not in raw:
                if p.optional:
                    out[p.name] = None
                    continue
                raise UsageError(f"query {self.name}: missing parameter {p.name!r}; valid: {self.signature()}")
            try:
                out[p.name] = p.type.parse(raw[p.name])
            except ValueError as exc:
                raise UsageError(f"query {self.name}: parameter {p.name} ({p.type.name}): {exc}") from None
        return out

    def signature(self) -> str:
        return ", ".join(f"{p.name}={p.type.name}" + (" (optional)" if p.optional else "") for p in self.params)

    def canonical(self, answer: Any) -> Any:
        """The form answers are compared in (JSON-ready)."""
        if self.order is Order.NONE:
            return None
        if self.order is Order.ONE:
            return None if answer is None else to_plain(answer)
        items = [to_plain(x) for x in answer]
        if self.order is Order.SET:
            items.sort(key=_set_key)
        return items


# ---------------------------------------------------------------- samplers

def _pick(rng: random.Random, items: list[Any], what: str) -> Any:
    if not items:
        raise UsageError(f"the data set has no {what} to draw parameters from")
    return rng.choice(items)


def _percentile(rng: random.Random, values: list[Any], lo: float, hi: float, what: str) -> Any:
    if not values:
        raise UsageError(f"the data set has no {what} to draw parameters from")
    q = rng.uniform(lo, hi)
    return values[min(len(values) - 1, int(q * len(values)))]


def _region(src: SampleSource, rng: random.Random) -> dict[str, Any]:
    chromosome, position, _ = _pick(rng, src.calls, "variants")
    half = rng.choice((500, 50_000, 1_000_000))
    return {"chromosome": chromosome, "start": max(1, position - half), "end": position + half}


def _sample_region_carriers(src: SampleSource, rng: random.Random, _: int) -> dict[str, Any]:
    chromosome, position, pid = _pick(rng, src.carrier_calls, "variants of diagnosed patients")
    half = rng.choice((50_000, 1_000_000, 10_000_000))
    return {"chromosome": chromosome, "start": max(1, position - half), "end": position + half,
            "code": rng.choice(src.patient_codes[pid])}


def _sample_lab_history(src: SampleSource, rng: random.Random, _: int) -> dict[str, Any]:
    s = _pick(rng, src.lab_series, "lab results")
    span = (s.last - s.first).days
    since = s.first + dt.timedelta(days=rng.randint(-30, max(0, span // 3)))
    until = s.last - dt.timedelta(days=rng.randint(0, max(0, span // 3)))
    if until < since:
        until = since
    return {"patient_id": s.patient_id, "test_name": s.test_name, "since": since, "until": until}


# Fresh ids for writes come in blocks of 16 per op_index, so concurrent writers never collide.
ID_BLOCK = 16


def new_diagnosis_ids(src: SampleSource, op_index: int) -> range:
    start = src.max_diagnosis_id + 1 + op_index * ID_BLOCK
    return range(start, start + ID_BLOCK)


def _sample_add_patient(src: SampleSource, rng: random.Random, op_index: int) -> dict[str, Any]:
    pid = src.max_patient_id + 1 + op_index
    ids = new_diagnosis_ids(src, op_index)
    n = rng.choice((0, 1, 2, 3))
    diagnoses = tuple(
        Diagnosis(ids[k], pid, _pick(rng, src.codes, "diagnosis codes"),
                  dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365)))
        for k in range(n)
    )
    sex = rng.choice("FM")
    patient = Patient(pid, f"New Patient {op_index}", rng.randint(18, 95), sex)
    return {"patient": PatientRecord(patient, tuple(sorted(diagnoses, key=diagnosis_order)))}


def _sample_add_diagnosis(src: SampleSource, rng: random.Random, op_index: int) -> dict[str, Any]:
    return {
        "diagnosis_id": new_diagnosis_ids(src, op_index)[-1],
        "patient_id": _pick(rng, src.patient_ids, "patients"),
        "code": _pick(rng, src.codes, "diagnosis codes"),
        "diagnosed_on": dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365)),
    }


def _sample_add_variants(src: SampleSource, rng: random.Random, op_index: int) -> dict[str, Any]:
    variants = []
    for k in range(10):
        chromosome, position, _ = _pick(rng, src.calls, "variants")
        ref = rng.choice(BASES)
        alt = rng.choice(BASES.replace(ref, ""))
        variants.append(Variant(
            variant_id=f"new-{op_index}-{k}", chromosome=chromosome,
            position=max(1, position + rng.randint(-5000, 5000)),
            reference_allele=ref, alternate_allele=alt, genotype=rng.choice((ref + alt, alt + alt)),
            quality=round(rng.uniform(20, 60), 2), depth=rng.randint(10, 90),
            patient_id=_pick(rng, src.patient_ids, "patients"),
        ))
    return {"variants": variants}


def _spec(name: Q, summary: str, params: tuple[Param, ...], order: Order, sampler: Sampler,
          kind: Kind = Kind.READ, observe: Observer | None = None) -> QuerySpec:
    return QuerySpec(name, summary, params, order, sampler, kind, observe)


# ---------------------------------------------------------------- how to observe a write

def _observe_add_patient(p: dict[str, Any]) -> list[tuple[Q, dict[str, Any]]]:
    record = p["patient"]
    checks = [(Q.PATIENT_BY_ID, {"patient_id": record.patient.patient_id}),
              (Q.PATIENTS_OLDER_THAN, {"age": record.patient.age - 1}),
              (Q.DIAGNOSIS_COUNTS, {"min_age": None})]
    return checks + [(Q.PATIENTS_WITH_DIAGNOSIS, {"code": d.code}) for d in record.diagnoses]


def _observe_add_diagnosis(p: dict[str, Any]) -> list[tuple[Q, dict[str, Any]]]:
    return [(Q.PATIENT_BY_ID, {"patient_id": p["patient_id"]}),
            (Q.PATIENTS_WITH_DIAGNOSIS, {"code": p["code"]}),
            (Q.COMORBID_CODES, {"code": p["code"]}),
            (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": p["patient_id"]}),
            (Q.DIAGNOSIS_COUNTS, {"min_age": None})]


def _observe_add_variants(p: dict[str, Any]) -> list[tuple[Q, dict[str, Any]]]:
    checks: list[tuple[Q, dict[str, Any]]] = []
    for v in p["variants"]:
        checks += [(Q.VARIANT_BY_ID, {"variant_id": v.variant_id}),
                   (Q.VARIANTS_IN_REGION, {"chromosome": v.chromosome, "start": max(1, v.position - 10),
                                           "end": v.position + 10})]
    return checks


CATALOG: dict[Q, QuerySpec] = {s.name: s for s in (
    _spec(Q.VARIANT_BY_ID, "the variant call with this id, or none",
          (Param("variant_id", VARIANT_ID),), Order.ONE,
          lambda s, r, i: {"variant_id": _pick(r, s.variant_ids, "variants")}),
    _spec(Q.VARIANTS_BY_CHROMOSOME, "variant calls on a chromosome, by position, variant_id",
          (Param("chromosome", CHROMOSOME),), Order.ORDERED,
          lambda s, r, i: {"chromosome": _pick(r, s.calls, "variants")[0]}),
    _spec(Q.VARIANTS_IN_REGION, "variant calls with start <= position <= end on a chromosome, by position, variant_id",
          (Param("chromosome", CHROMOSOME), Param("start", INT), Param("end", INT)), Order.ORDERED,
          lambda s, r, i: _region(s, r)),
    _spec(Q.VARIANTS_MIN_DEPTH, "variant calls with depth > min_depth",
          (Param("min_depth", INT),), Order.SET,
          lambda s, r, i: {"min_depth": _percentile(r, s.depths, 0.95, 0.999, "variants")}),
    _spec(Q.VARIANTS_MIN_QUALITY, "variant calls with quality > min_quality",
          (Param("min_quality", FLOAT),), Order.SET,
          lambda s, r, i: {"min_quality": _percentile(r, s.qualities, 0.95, 0.999, "variants")}),
    _spec(Q.ALL_VARIANTS, "every variant call", (), Order.SET, lambda s, r, i: {}),
    _spec(Q.PATIENT_BY_ID, "the patient with its diagnoses (by diagnosed_on, code), or none",
          (Param("patient_id", INT),), Order.ONE,
          lambda s, r, i: {"patient_id": _pick(r, s.patient_ids, "patients")}),
    _spec(Q.PATIENTS_OLDER_THAN, "patients with age > age",
          (Param("age", INT),), Order.SET,
          lambda s, r, i: {"age": _percentile(r, s.ages, 0.9, 0.99, "patients")}),
    _spec(Q.PATIENTS_WITH_DIAGNOSIS, "patients having the code",
          (Param("code", CODE),), Order.SET,
          lambda s, r, i: {"code": _pick(r, s.codes, "diagnosis codes")}),
    _spec(Q.DIAGNOSIS_COUNTS, "(code, distinct patients) over patients with age > min_age (all without it), by patients desc, code",
          (Param("min_age", INT, optional=True),), Order.ORDERED,
          lambda s, r, i: {"min_age": r.choice((None, _percentile(r, s.ages, 0.2, 0.8, "patients")))}),
    _spec(Q.LAB_HISTORY, "a patient's results of one test with since <= taken_on <= until, by taken_on, result_id",
          (Param("patient_id", INT), Param("test_name", TEST_NAME), Param("since", DATE), Param("until", DATE)),
          Order.ORDERED, _sample_lab_history),
    _spec(Q.CARRIERS_WITH_DIAGNOSIS, "patients carrying a variant call in the region and having the code",
          (Param("chromosome", CHROMOSOME), Param("start", INT), Param("end", INT), Param("code", CODE)),
          Order.SET, _sample_region_carriers),
    _spec(Q.PATIENTS_SHARING_DIAGNOSES, "(patient_id, shared distinct codes) of other patients sharing a code, by shared desc, patient_id",
          (Param("patient_id", INT),), Order.ORDERED,
          lambda s, r, i: {"patient_id": _pick(r, s.diagnosed_patient_ids, "diagnosed patients")}),
    _spec(Q.COMORBID_CODES, "(code, distinct patients) of other codes among patients having the code, by patients desc, code",
          (Param("code", CODE),), Order.ORDERED,
          lambda s, r, i: {"code": _pick(r, s.codes, "diagnosis codes")}),
    _spec(Q.ADD_PATIENT, "insert a patient with its diagnoses",
          (Param("patient", PATIENT_RECORD),), Order.NONE, _sample_add_patient, Kind.WRITE, _observe_add_patient),
    _spec(Q.ADD_DIAGNOSIS, "insert one diagnosis of an existing patient",
          (Param("diagnosis_id", INT), Param("patient_id", INT), Param("code", CODE), Param("diagnosed_on", DATE)),
          Order.NONE, _sample_add_diagnosis, Kind.WRITE, _observe_add_diagnosis),
    _spec(Q.ADD_VARIANTS, "insert a batch of variant calls",
          (Param("variants", VARIANTS),), Order.NONE, _sample_add_variants, Kind.WRITE, _observe_add_variants),
)}

READS: tuple[Q, ...] = tuple(q for q, s in CATALOG.items() if not s.is_write)
WRITES: tuple[Q, ...] = tuple(q for q, s in CATALOG.items() if s.is_write)


def get_spec(name: str) -> QuerySpec:
    """The spec of a query by name; UsageError listing valid names otherwise."""
    try:
        return CATALOG[Q(name)]
    except ValueError:
        raise UsageError(f"unknown query {name!r}; valid: {', '.join(q.value for q in Q)}") from None


__all__ = ["CATALOG", "CodeCount", "Kind", "Order", "Param", "Q", "QuerySpec", "READS", "SharedDiagnoses",
           "WRITES", "get_spec", "to_plain"]
