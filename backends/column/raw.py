"""The raw-driver baseline of the Cassandra backend for the adapter-overhead benchmark (#17).

What a competent user of cassandra-driver writes to ask the same questions of the same tables:
one Cluster and Session, statements prepared once, rows as plain tuples (the driver's fastest
row factory), one `execute` per partition read (several at once with `execute_async` when a
region spans several buckets), rows turned into the same domain objects as the adapter's. It
reads the keyspace of the current data generation once, from the namespace's pointer row.
"""

from __future__ import annotations

from typing import Any, Self

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import SimpleStatement, tuple_factory

from backends.base import NotLoaded, namespace
from backends.column.generations import keyspace_names
from backends.column.schema import BUCKET_BP
from backends.column.settings import CassandraSettings
from models.entities import Diagnosis, Patient, PatientRecord, Variant

VARIANT = "variant_id, chromosome, position, reference_allele, alternate_allele, genotype, quality, depth, patient_id"


class RawCassandra:
    name = "cassandra"

    def __init__(self, cluster: Cluster, keyspace: str) -> None:
        self.cluster = cluster
        self.session = session = cluster.connect()
        self._variant = session.prepare(f"SELECT {VARIANT} FROM {keyspace}.variants WHERE variant_id = ?")
        self._patient = session.prepare(f"SELECT patient_id, name, age, sex, diagnosis_id, code, diagnosed_on"
                                        f" FROM {keyspace}.patients WHERE patient_id = ?")
        self._bucket = session.prepare(f"SELECT {VARIANT} FROM {keyspace}.variants_by_region"
                                       " WHERE chromosome = ? AND bucket = ? AND position >= ? AND position <= ?")
        self._buckets = session.prepare(f"SELECT bucket FROM {keyspace}.variant_buckets"
                                        " WHERE chromosome = ? AND bucket >= ? AND bucket <= ?")

    @classmethod
    def from_settings(cls, keyspace: str | None = None) -> Self:
        """Connected with the backend's settings (env MMBENCH_CASSANDRA_*) to the namespace's
        current data (or to `keyspace`)."""
        settings = CassandraSettings()
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
            consistency_level=ConsistencyLevel.name_to_value[settings.read_level],
            request_timeout=settings.request_timeout, row_factory=tuple_factory)
        cluster = Cluster(settings.hosts, port=settings.port, protocol_version=settings.protocol_version,
                          connect_timeout=settings.connect_timeout, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            return cls(cluster, keyspace or _current_keyspace(cluster, settings))
        except BaseException:
            cluster.shutdown()
            raise

    def variant_by_id(self, variant_id: str) -> Variant | None:
        row = self.session.execute(self._variant, (variant_id,)).one()
        return Variant(*row) if row else None

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        rows = self.session.execute(self._patient, (patient_id,)).all()
        if not rows or rows[0][2] is None:
            return None
        return PatientRecord(Patient(*rows[0][:4]), tuple(
            Diagnosis(r[4], patient_id, r[5], r[6].date()) for r in rows if r[4] is not None))

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        first, last = start // BUCKET_BP, end // BUCKET_BP
        if first == last:
            return [Variant(*r) for r in self.session.execute(self._bucket, (chromosome, first, start, end))]
        if last - first < 4:
            buckets: Any = range(first, last + 1)
        else:
            buckets = [b for b, in self.session.execute(self._buckets, (chromosome, first, last))]
        futures = [self.session.execute_async(self._bucket, (chromosome, b, start, end)) for b in buckets]
        return [Variant(*r) for f in futures for r in f.result()]

    def close(self) -> None:
        self.cluster.shutdown()


def _current_keyspace(cluster: Cluster, settings: CassandraSettings) -> str:
    fixed, pattern = keyspace_names(settings.keyspace, namespace())
    session = cluster.connect()
    try:
        row = session.execute(SimpleStatement(f"SELECT generation FROM {fixed}.current WHERE id = 'data'",
                                              consistency_level=ConsistencyLevel.SERIAL)).one()
    except Exception:  # noqa: BLE001 - no keyspace or table: nothing loaded
        row = None
    finally:
        session.shutdown()
    if not row or not row[0]:
        raise NotLoaded("cassandra", f"data in keyspace {fixed}")
    return pattern.format(n=row[0])


RAW = {"cassandra": RawCassandra}
