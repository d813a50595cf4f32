"""The `postgres:jsonb` schema: the document model on a relational engine.

    jsonb_patients     (doc JSONB)  one document per patient, its diagnoses embedded:
                       {"patient_id", "name", "age", "sex",
                        "diagnoses": [{"diagnosis_id", "code", "diagnosed_on"}, ...]}  (diagnosed_on, code, id order)
                       indexes: unique ((doc->>'patient_id')::bigint)            the document key
                                ((doc->>'age')::int)                             patients_older_than, min_age
                                GIN ((doc->'diagnoses') jsonb_path_ops)          "has code X": doc->'diagnoses' @> [{"code": X}]
    jsonb_lab_results  (doc JSONB)  one document per lab result (its LabResult fields)
                       indexes: unique ((doc->>'result_id')::bigint),
                                ((doc->>'patient_id')::bigint, doc->>'test_name', (doc->>'taken_on') COLLATE "C")
    jsonb_variants     (doc JSONB)  one document per variant call (its Variant fields)
                       indexes: unique (doc->>'variant_id'),
                                (doc->>'chromosome', (doc->>'position')::bigint, (doc->>'variant_id') COLLATE "C"),
                                ((doc->>'depth')::int), ((doc->>'quality')::float8)
    jsonb_holdings     (id, holdings, writes_since)  what the backend holds, written by a load

Why everything is a document: this design asks what the document model costs and gains on a
real server, next to MongoDB (whose local engine here is an emulator), so it mirrors MongoDB's
design: patients embed their diagnoses (one read serves `patient_by_id`; "patients with code X"
is a containment query on a GIN index), variants and lab results are documents in their own
collections (they grow without bound per patient, so embedding them would make patient
documents huge and every variant write rewrite a patient). Access paths are expression indexes
on the document fields, as PostgreSQL users index JSONB. Dates are ISO text inside documents,
compared with the "C" collation (byte order = date order); codes and ids sort by code point.

What it costs: no foreign keys (a document store enforces no references; a diagnosis added to
a missing patient is refused because there is no document to add it to), every query casts
fields out of the documents, a diagnosis written rewrites its patient's whole document (a new
row version), and aggregations over codes unnest every patient's array.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

patients = Table("jsonb_patients", metadata, Column("doc", JSONB, nullable=False))
lab_results = Table("jsonb_lab_results", metadata, Column("doc", JSONB, nullable=False))
variants = Table("jsonb_variants", metadata, Column("doc", JSONB, nullable=False))
holdings = Table(
    "jsonb_holdings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holdings", Text, nullable=False),
    Column("writes_since", BigInteger, nullable=False),
)

TABLES = {"patients": patients, "diagnoses": patients, "lab_results": lab_results, "variants": variants}
"""The table each entity kind ends up in (diagnoses inside the patient documents)."""

C = 'COLLATE "C"'
INDEXES: dict[str, tuple[str, ...]] = {
    "jsonb_patients": (
        "CREATE UNIQUE INDEX ix_jsonb_patients_key ON {t} (((doc->>'patient_id')::bigint))",
        "CREATE INDEX ix_jsonb_patients_age ON {t} (((doc->>'age')::int))",
        "CREATE INDEX ix_jsonb_patients_codes ON {t} USING gin ((doc->'diagnoses') jsonb_path_ops)",
    ),
    "jsonb_lab_results": (
        "CREATE UNIQUE INDEX ix_jsonb_lab_results_key ON {t} (((doc->>'result_id')::bigint))",
        ("CREATE INDEX ix_jsonb_lab_results_patient_test_date ON {t} "
        f"(((doc->>'patient_id')::bigint), (doc->>'test_name'), ((doc->>'taken_on') {C}))"),
    ),
    "jsonb_variants": (
        "CREATE UNIQUE INDEX ix_jsonb_variants_key ON {t} ((doc->>'variant_id'))",
        ("CREATE INDEX ix_jsonb_variants_region ON {t} "
        f"((doc->>'chromosome'), ((doc->>'position')::bigint), ((doc->>'variant_id') {C}))"),
        "CREATE INDEX ix_jsonb_variants_depth ON {t} (((doc->>'depth')::int))",
        "CREATE INDEX ix_jsonb_variants_quality ON {t} (((doc->>'quality')::float8))",
    ),
    "jsonb_holdings": (),
}

STAGING: dict[str, str] = {
    "patients": "patient_id bigint PRIMARY KEY, name text NOT NULL, age int NOT NULL, sex text NOT NULL",
    "diagnoses": "diagnosis_id bigint PRIMARY KEY, patient_id bigint NOT NULL, code text NOT NULL, "
                 "diagnosed_on date NOT NULL",
    "lab_results": "result_id bigint PRIMARY KEY, patient_id bigint NOT NULL, test_name text NOT NULL, "
                   "value float8 NOT NULL, unit text NOT NULL, taken_on date NOT NULL",
    "variants": "variant_id text PRIMARY KEY, chromosome text NOT NULL, position bigint NOT NULL, "
                "reference_allele text NOT NULL, alternate_allele text NOT NULL, genotype text NOT NULL, "
                "quality float8 NOT NULL, depth int NOT NULL, patient_id bigint",
}
"""The load's typed staging tables (TEMP, dropped at the end of the load's transaction): rows are
COPYed in with their types checked, then turned into documents by one INSERT ... SELECT."""
