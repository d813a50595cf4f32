"""The Cassandra keyspace, designed query-first: one table per access pattern, denormalised on write.

In Cassandra a query may read only what the primary key (or an index) leads to, so the tables
follow the catalog's questions, not the entities:

    patients               ((patient_id), diagnosed_on, code, diagnosis_id)
                           static name, age, sex                           SAI: age
        One partition per patient: the patient in static columns, its diagnoses as clustering
        rows already in the catalog's order (diagnosed_on, code, diagnosis_id). patient_by_id is
        one partition read; patients_older_than is `SELECT DISTINCT ... WHERE age > ?` on the SAI
        over the static `age` (one row per patient, whatever its number of diagnoses).
    patients_by_diagnosis  ((code), patient_id) name, age, sex             SAI: age
        "Who has code X": one partition per code, one row per patient (a code given twice to a
        patient is one row, so counting rows counts distinct patients). The patient's fields are
        copied in, so patients_with_diagnosis is a single partition read, and diagnosis_counts is
        `SELECT code, COUNT(*) ... [WHERE age > ?] GROUP BY code` aggregated by the server.
    comorbidities          ((code), other_code, patient_id)
        For every patient and every ordered pair of its distinct codes (a, b), a != b: a row
        (a, b, patient). comorbid_codes(X) is `SELECT other_code, COUNT(*) WHERE code = X
        GROUP BY other_code`: one partition, aggregated by the server. A patient with k codes
        costs k(k-1) rows (k is ~3 here). Partitions of common codes grow with the data (I10's
        holds ~18k rows at synthetic scale 10, so ~1.8M at scale 1000): past scale ~100 one
        would add a bucket (e.g. patient_id % 16) to the partition key of this table and of
        patients_by_diagnosis, and read the buckets concurrently.
    lab_results            ((patient_id, test_name), taken_on, result_id) value, unit
        A time series per (patient, test), clustered by date: lab_history is one slice of one
        partition, already in (taken_on, result_id) order.
    variants               ((variant_id)) all the call's fields            SAI: depth, quality
        variant_by_id is a key lookup; all_variants a token-ordered scan.
    variants_by_region     ((chromosome, bucket), position, variant_id) all the call's fields
        bucket = position // BUCKET_BP. A whole chromosome is too big a partition at scale (chr 1
        holds ~8% of all calls), so calls go to 10 Mb buckets: a region reads the one to three
        partitions it overlaps, each a clustering slice on position, in bucket order.
    variant_buckets        ((chromosome), bucket)
        Which buckets of a chromosome hold calls: variants_by_chromosome reads it, then those
        partitions in order (at most 25 for chromosome 1).

Range predicates on non-key columns (age > ?, depth > ?, quality > ?) use Storage-Attached
Indexes (SAI, new in Cassandra 5): the predicate is over the whole table, so there is no
partition key to use; the alternatives are a full scan with ALLOW FILTERING (reading every row
to return the top few percent) or tables keyed by value ranges that the writer maintains. SAI
indexes each SSTable and memtable on its node and answers the range without reading the rest
(on a cluster the coordinator asks every token range: fine for these rare analytical
questions, not for a hot path).

Not answerable on the server, and finished in the client (Tier `client`): carriers_with_
diagnosis (a join of a region's carriers with a code's patients) and patients_sharing_
diagnoses (a self-join of diagnoses through their codes). Cassandra has no joins, and a
denormalised patient-pair table would grow with the square of each code's patients.

Generations (the atomic replace of #19): the tables above live in a generation keyspace
`<base><n>[_<namespace>]` (`mmbench7`, `mmbench7_lecture`). A load fills a fresh generation, then
one lightweight transaction on the pointer row of the namespace's fixed keyspace `<base>[_
<namespace>]` makes it current, together with its Holdings; older generations are then dropped.
The digits after the base and the `_` before the namespace keep every namespace's names apart
(a namespace starts with a letter, so `mmbench7_x` can only be generation 7 of namespace x).
See `generations.py`.
"""

from __future__ import annotations

BUCKET_BP = 10_000_000
"""Width of a variants_by_region partition in base pairs."""

MIN_BUCKET, MAX_BUCKET = -(2**31), 2**31 - 1


def bucket(position: int) -> int:
    """The variants_by_region partition a position falls in."""
    return position // BUCKET_BP


TABLES: dict[str, str] = {
    "patients": """
        patient_id bigint, diagnosed_on date, code text, diagnosis_id bigint,
        name text STATIC, age int STATIC, sex text STATIC,
        PRIMARY KEY ((patient_id), diagnosed_on, code, diagnosis_id)""",
    "patients_by_diagnosis": """
        code text, patient_id bigint, name text, age int, sex text,
        PRIMARY KEY ((code), patient_id)""",
    "comorbidities": """
        code text, other_code text, patient_id bigint,
        PRIMARY KEY ((code), other_code, patient_id)""",
    "lab_results": """
        patient_id bigint, test_name text, taken_on date, result_id bigint, value double, unit text,
        PRIMARY KEY ((patient_id, test_name), taken_on, result_id)""",
    "variants": """
        variant_id text, chromosome text, position bigint, reference_allele text,
        alternate_allele text, genotype text, quality double, depth int, patient_id bigint,
        PRIMARY KEY ((variant_id))""",
    "variants_by_region": """
        chromosome text, bucket int, position bigint, variant_id text, reference_allele text,
        alternate_allele text, genotype text, quality double, depth int, patient_id bigint,
        PRIMARY KEY ((chromosome, bucket), position, variant_id)""",
    "variant_buckets": """
        chromosome text, bucket int,
        PRIMARY KEY ((chromosome), bucket)""",
}

INDEXES: dict[str, tuple[str, str]] = {
    "patients_age_sai": ("patients", "age"),
    "patients_by_diagnosis_age_sai": ("patients_by_diagnosis", "age"),
    "variants_depth_sai": ("variants", "depth"),
    "variants_quality_sai": ("variants", "quality"),
}


def create_statements(keyspace: str, replication: dict[str, str]) -> list[str]:
    """The DDL of one generation keyspace, in order (keyspace, tables, indexes)."""
    return [
        f"CREATE KEYSPACE {keyspace} WITH replication = {literal_map(replication)}",
        *(f"CREATE TABLE {keyspace}.{name} ({columns})" for name, columns in TABLES.items()),
        *(f"CREATE INDEX {name} ON {keyspace}.{table} ({column}) USING 'sai'"
          for name, (table, column) in INDEXES.items()),
    ]


def literal_map(items: dict[str, str]) -> str:
    """A CQL map literal (keys and values are validated names and digits: no quoting needed)."""
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in items.items()) + "}"
