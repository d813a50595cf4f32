"""The raw-driver baseline of the graph backend (#17): what a competent user of the `neo4j` driver
would write to ask Neo4j what the adapter asks, for `python -m bench.adapters`.

`Driver.execute_query` (the driver's recommended call: a managed, retried read transaction)
with the Cypher text inlined, records turned into the same domain objects as the adapter's.
The labels are those of the data the adapter loaded: `from_settings` reads them once from the
namespace's pointer node (see `backends.graph.backend`), as a user would look up where the
data is before querying it.

`load_variants(rows)` is the baseline for the loader: the plain `UNWIND $rows CREATE` batch
load of the same variant rows, with the same uniqueness constraint and range indexes, and the
same CARRIES relationships to the patients already loaded, into a scratch label of its own
(`Variant_<scope>_raw`; relationships `CARRIES_<scope>_raw` from the loaded patients), so no
answer over the loaded data changes. Call `prepare_load()` (its constraint and indexes) untimed first, `drop_scratch()`
between repeated loads; `close()` drops the scratch label and its schema. Compare its rows/s
with the adapter's variants phase of `load()` (the time from the first variant batch produced
to the last written, as the harness's progress events give it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Self

from neo4j import Driver, GraphDatabase, RoutingControl

from backends.base import NotLoaded, namespace
from backends.graph.settings import Neo4jSettings
from models.entities import Diagnosis, Patient, PatientRecord, Variant

READ = RoutingControl.READ


class RawNeo4j:
    """The three reads and a plain batch load, straight on the driver."""

    name = "neo4j"

    def __init__(self, driver: Driver, database: str, scope: str) -> None:
        self._driver, self._database, self._scope = driver, database, scope
        patient, variant, carries = f"Patient_{scope}", f"Variant_{scope}", f"CARRIES_{scope}"
        has_diagnosis = f"HAS_DIAGNOSIS_{scope}"
        self._variant_by_id = (
            f"MATCH (v:{variant} {{variant_id: $variant_id}}) "
            "RETURN v.variant_id, v.chromosome, v.position, v.reference_allele, v.alternate_allele, "
            f"v.genotype, v.quality, v.depth, [(v)<-[:{carries}]-(p) | p.patient_id][0]")
        self._patient_by_id = (
            f"MATCH (p:{patient} {{patient_id: $patient_id}}) "
            f"RETURN p.patient_id, p.name, p.age, p.sex, COLLECT {{ MATCH (p)-[d:{has_diagnosis}]->(c) "
            "RETURN [d.diagnosis_id, c.code, d.diagnosed_on] ORDER BY d.diagnosed_on, c.code, d.diagnosis_id }")
        self._variants_in_region = (
            f"MATCH (v:{variant}) WHERE v.chromosome = $chromosome AND $start <= v.position <= $end "
            "RETURN v.variant_id, v.chromosome, v.position, v.reference_allele, v.alternate_allele, "
            f"v.genotype, v.quality, v.depth, [(v)<-[:{carries}]-(p) | p.patient_id][0] "
            "ORDER BY v.position, v.variant_id")
        self._scratch = f"Variant_{scope}_raw"
        self._create_variants = (
            f"UNWIND $rows AS r CREATE (v:{self._scratch} {{variant_id: r.variant_id, chromosome: r.chromosome, "
            "position: r.position, reference_allele: r.reference_allele, alternate_allele: r.alternate_allele, "
            "genotype: r.genotype, quality: r.quality, depth: r.depth}) "
            f"WITH v, r WHERE r.patient_id IS NOT NULL MATCH (p:{patient} {{patient_id: r.patient_id}}) "
            f"CREATE (p)-[:{carries}_raw]->(v)")
        self._scratch_schema = (
            f"CREATE CONSTRAINT {self._scratch}_id IF NOT EXISTS FOR (v:{self._scratch}) REQUIRE v.variant_id IS UNIQUE",
            f"CREATE RANGE INDEX {self._scratch}_region IF NOT EXISTS FOR (v:{self._scratch}) ON (v.chromosome, v.position)",
            f"CREATE RANGE INDEX {self._scratch}_depth IF NOT EXISTS FOR (v:{self._scratch}) ON (v.depth)",
            f"CREATE RANGE INDEX {self._scratch}_quality IF NOT EXISTS FOR (v:{self._scratch}) ON (v.quality)",
        )
        self._loaded_scratch = False

    @classmethod
    def from_settings(cls) -> Self:
        """Connected to the engine and namespace of `neo4j`, on the data it holds now."""
        settings = Neo4jSettings.from_env()
        driver = GraphDatabase.driver(settings.url, auth=settings.auth)
        ns = namespace()
        meta = "MMBenchMeta" + (f"_{ns}" if ns else "")
        records, _, _ = driver.execute_query(f"MATCH (m:{meta}) RETURN m.scope", routing_=READ,
                                             database_=settings.database)
        if not records or records[0][0] is None:
            driver.close()
            raise NotLoaded(cls.name, "graph")
        return cls(driver, settings.database, records[0][0])

    def variant_by_id(self, variant_id: str) -> Variant | None:
        records, _, _ = self._driver.execute_query(self._variant_by_id, {"variant_id": variant_id},
                                                   routing_=READ, database_=self._database)
        return Variant(*records[0]) if records else None

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        records, _, _ = self._driver.execute_query(self._patient_by_id, {"patient_id": patient_id},
                                                   routing_=READ, database_=self._database)
        if not records:
            return None
        pid, name, age, sex, diagnoses = records[0]
        return PatientRecord(Patient(pid, name, age, sex), tuple(
            Diagnosis(did, pid, code, on.to_native()) for did, code, on in diagnoses))

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        records, _, _ = self._driver.execute_query(
            self._variants_in_region, {"chromosome": chromosome, "start": start, "end": end},
            routing_=READ, database_=self._database)
        return [Variant(*r) for r in records]

    def prepare_load(self) -> None:
        """Create the scratch label's constraint and range indexes (idempotent; untimed: the
        adapter creates its indexes when a load begins, before any variant is written)."""
        if self._loaded_scratch:
            return
        with self._driver.session(database=self._database) as session:
            for statement in self._scratch_schema:
                session.run(statement).consume()
        for _ in range(3000):  # its own indexes only, as the adapter waits (db.awaitIndexes waits for
            with self._driver.session(database=self._database) as session:  # every index of the database)
                states = [r["state"] for r in session.run(
                    "SHOW INDEXES YIELD state, labelsOrTypes WHERE $label IN labelsOrTypes RETURN state",
                    label=self._scratch)]
            if "FAILED" in states:
                raise RuntimeError(f"an index of {self._scratch} failed to populate")
            if all(state == "ONLINE" for state in states):
                break
            time.sleep(0.1)  # a wait, not a measurement
        else:
            raise RuntimeError(f"the indexes of {self._scratch} did not come online within 300 s")
        self._loaded_scratch = True

    def load_variants(self, rows: list[Variant], batch_size: int = 5000) -> int:
        """The plain batch load: one `UNWIND $rows CREATE` write transaction per batch into the
        scratch label (prepared first if `prepare_load` was not called). Returns the variants written."""
        self.prepare_load()
        with self._driver.session(database=self._database) as session:
            for batch in _batches(rows, batch_size):
                maps = [{"variant_id": v.variant_id, "chromosome": v.chromosome, "position": v.position,
                         "reference_allele": v.reference_allele, "alternate_allele": v.alternate_allele,
                         "genotype": v.genotype, "quality": v.quality, "depth": v.depth,
                         "patient_id": v.patient_id} for v in batch]
                session.execute_write(lambda tx, maps=maps: tx.run(self._create_variants, rows=maps).consume())
        return len(rows)

    def drop_scratch(self, *, schema: bool = False) -> None:
        """Delete what `load_variants` wrote (and its constraint and indexes with `schema`); untimed,
        between repeated loads."""
        with self._driver.session(database=self._database) as session:
            session.run(f"MATCH (v:{self._scratch}) CALL (v) {{ DETACH DELETE v }} IN TRANSACTIONS OF 10000 ROWS"
                        ).consume()
            if schema:
                for name in ("id", "region", "depth", "quality"):
                    kind = "CONSTRAINT" if name == "id" else "INDEX"
                    session.run(f"DROP {kind} {self._scratch}_{name} IF EXISTS").consume()
                self._loaded_scratch = False

    def close(self) -> None:
        if self._loaded_scratch:
            self.drop_scratch(schema=True)
        self._driver.close()


def _batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


RAW: dict[str, type[RawNeo4j]] = {"neo4j": RawNeo4j}
