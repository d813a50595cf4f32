"""The relational design's statements: SQLAlchemy Core constructs, compiled ONCE per backend into the
driver's own SQL text and reused on every call (the hot path never goes through SQLAlchemy).

Each statement declares the order of its positional parameters; compiling checks that the
dialect renders them in that order, so a method passes a plain tuple. Parameters are always
bound, never spliced into the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, and_, bindparam, distinct, func, select
from sqlalchemy.engine import Dialect

from backends.sql.schema import (
    TABLES,
    diagnoses,
    holdings,
    lab_results,
    patients,
    variants,
)
from models.dataset import FIELDS


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement as the driver receives it: its text and the names of its positional parameters."""

    sql: str
    names: tuple[str, ...]


def compile_stmt(construct: Any, names: tuple[str, ...], dialect: Dialect, schema: str | None) -> Stmt:
    """`construct` as `dialect`'s SQL text (tables in `schema`, or unqualified), positional parameters."""
    compiled = construct.compile(dialect=dialect, schema_translate_map={None: schema} if schema else None,
                                 render_schema_translate=bool(schema))
    order = tuple(compiled.positiontup or ())
    if order != names:
        raise AssertionError(f"parameters render as {order}, declared {names}: {compiled}")
    return Stmt(str(compiled), names)


def compile_all(spec: dict[str, tuple[Any, tuple[str, ...]]], dialect: Dialect, schema: str | None) -> SimpleNamespace:
    return SimpleNamespace(**{name: compile_stmt(c, names, dialect, schema) for name, (c, names) in spec.items()})


def holdings_spec(table: Table) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """What the backend holds: the statements on a design's holdings table (one row)."""
    return {
        "holdings": (select(table.c.holdings, table.c.writes_since), ()),
        "insert_holdings": (table.insert(), ("id", "holdings", "writes_since")),
        "record_writes": (table.update().values(writes_since=table.c.writes_since + bindparam("n")), ("n",)),
    }


PATIENT_COLS = (patients.c.patient_id, patients.c.name, patients.c.age, patients.c.sex)
VARIANT_COLS = tuple(variants.c[f] for f in FIELDS["variants"])
LAB_COLS = tuple(lab_results.c[f] for f in FIELDS["lab_results"])

_p, _d, _v, _l = patients, diagnoses, variants, lab_results
_d2 = diagnoses.alias("other")
_REGION = and_(_v.c.chromosome == bindparam("chromosome"), _v.c.position.between(bindparam("start"), bindparam("end")))
_N_PATIENTS = func.count(distinct(_d.c.patient_id))
_N_SHARED = func.count(distinct(_d2.c.code))
_N_COMORBID = func.count(distinct(_d2.c.patient_id))
_REGION_NAMES = ("chromosome", "start", "end")

SPEC: dict[str, tuple[Any, tuple[str, ...]]] = {
    "variant_by_id": (select(*VARIANT_COLS).where(_v.c.variant_id == bindparam("variant_id")), ("variant_id",)),
    "variants_by_chromosome": (
        select(*VARIANT_COLS).where(_v.c.chromosome == bindparam("chromosome")).order_by(_v.c.position, _v.c.variant_id),
        ("chromosome",)),
    "variants_in_region": (select(*VARIANT_COLS).where(_REGION).order_by(_v.c.position, _v.c.variant_id),
                           _REGION_NAMES),
    "variants_min_depth": (select(*VARIANT_COLS).where(_v.c.depth > bindparam("min_depth")), ("min_depth",)),
    "variants_min_quality": (select(*VARIANT_COLS).where(_v.c.quality > bindparam("min_quality")), ("min_quality",)),
    "all_variants": (select(*VARIANT_COLS), ()),
    "patient_by_id": (
        select(*PATIENT_COLS, _d.c.diagnosis_id, _d.c.code, _d.c.diagnosed_on)
        .select_from(_p.outerjoin(_d, _d.c.patient_id == _p.c.patient_id))
        .where(_p.c.patient_id == bindparam("patient_id"))
        .order_by(_d.c.diagnosed_on, _d.c.code, _d.c.diagnosis_id),
        ("patient_id",)),
    "patients_older_than": (select(*PATIENT_COLS).where(_p.c.age > bindparam("age")), ("age",)),
    "patients_with_diagnosis": (
        select(*PATIENT_COLS).where(_p.c.patient_id.in_(select(_d.c.patient_id).where(_d.c.code == bindparam("code")))),
        ("code",)),
    "diagnosis_counts": (
        select(_d.c.code, _N_PATIENTS).group_by(_d.c.code).order_by(_N_PATIENTS.desc(), _d.c.code), ()),
    "diagnosis_counts_older": (
        select(_d.c.code, _N_PATIENTS).join(_p, _p.c.patient_id == _d.c.patient_id)
        .where(_p.c.age > bindparam("min_age")).group_by(_d.c.code).order_by(_N_PATIENTS.desc(), _d.c.code),
        ("min_age",)),
    "lab_history": (
        select(*LAB_COLS)
        .where(_l.c.patient_id == bindparam("patient_id"), _l.c.test_name == bindparam("test_name"),
               _l.c.taken_on.between(bindparam("since"), bindparam("until")))
        .order_by(_l.c.taken_on, _l.c.result_id),
        ("patient_id", "test_name", "since", "until")),
    "carriers_with_diagnosis": (
        select(*PATIENT_COLS).where(
            _p.c.patient_id.in_(select(_v.c.patient_id).where(_REGION)),
            _p.c.patient_id.in_(select(_d.c.patient_id).where(_d.c.code == bindparam("code")))),
        (*_REGION_NAMES, "code")),
    "patients_sharing_diagnoses": (
        select(_d2.c.patient_id, _N_SHARED)
        .select_from(_d.join(_d2, and_(_d2.c.code == _d.c.code, _d2.c.patient_id != _d.c.patient_id)))
        .where(_d.c.patient_id == bindparam("patient_id"))
        .group_by(_d2.c.patient_id).order_by(_N_SHARED.desc(), _d2.c.patient_id),
        ("patient_id",)),
    "comorbid_codes": (
        select(_d2.c.code, _N_COMORBID)
        .select_from(_d.join(_d2, _d2.c.patient_id == _d.c.patient_id))
        .where(_d.c.code == bindparam("code"), _d2.c.code != bindparam("code2"))
        .group_by(_d2.c.code).order_by(_N_COMORBID.desc(), _d2.c.code),
        ("code", "code2")),
    # writes (one row per execution; a batch is an executemany)
    **{f"insert_{kind}": (table.insert(), FIELDS[kind]) for kind, table in TABLES.items()},
    **holdings_spec(holdings),
}
