"""The PostgreSQL streaming replica (issue 16): `mmbench up postgres --replica` clones the local
PostgreSQL (the shared one on 5432, which this module never stops) into a hot standby on 5433;
`mmbench status` lists it; a row written on the primary is read on the replica; the postgres
backend with its reads routed there answers the catalog as the reference does; the replication
mode is a setting; `mmbench down postgres` stops it and leaves the primary waiting for nobody.

The replica runs under a runtime directory of its own: there, the primary has no pid file, so
`mmbench down postgres` stops only the replica. A few tens of seconds in all (the clone copies
the primary's data directory).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from backends import open_backend
from backends.base import BackendError, run_query
from backends.sql.replica import ReplicaUnavailable
from backends.sql.settings import PostgresSettings
from bench.engines.postgres import REPLICA_NAME, Postgres, Replica
from bench.engines.process import port_open
from models.catalog import CATALOG, READS, WRITES, Q
from models.reference import Reference
from models.sampling import SampleSource
from models.seed import seed_dataset
from tests.helpers import assert_same, draws, other_namespace

PRIMARY = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"


def mmbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, check=False)


def primary_setting(name: str) -> str:
    with psycopg.connect(PRIMARY, autocommit=True) as conn:
        return conn.execute(f"SHOW {name}").fetchone()[0]


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    before = os.environ.get("MMBENCH_RUNTIME")
    os.environ["MMBENCH_RUNTIME"] = str(tmp_path_factory.mktemp("replica-runtime"))
    os.environ.pop("MMBENCH_POSTGRES_REPLICATION", None)
    replica = Replica()
    if port_open(replica.host, replica.port):
        pytest.fail(f"something already listens on {replica.address}; stop it first (mmbench down postgres)",
                    pytrace=False)
    assert Postgres().pid() is None, "the primary must not be ours here: `mmbench down postgres` would stop it"
    try:
        done = mmbench("up", "postgres", "--replica")
        assert done.returncode == 0, done.stdout + done.stderr
        with other_namespace("replica"):
            yield replica
    finally:
        replica.stop()
        if before is None:
            os.environ.pop("MMBENCH_RUNTIME", None)
        else:
            os.environ["MMBENCH_RUNTIME"] = before


def routed(commit: str | None = "remote_apply", **more: Any) -> Any:
    """The postgres backend, its reads on the local replica."""
    return open_backend("postgres", PostgresSettings(read_replica=True, synchronous_commit=commit, **more))


def test_up_starts_a_synchronous_replica_that_status_lists(replica: Replica) -> None:
    done = mmbench("status", "postgres", "--json")
    rows = {r["engine"]: r for r in json.loads(done.stdout)["engines"]}
    assert rows["postgres"]["up"] and rows["postgres-replica"]["up"]
    assert rows["postgres-replica"]["address"] == "127.0.0.1:5433"
    assert rows["postgres-replica"]["product"].endswith("(synchronous)")
    assert rows["postgres-replica"]["version"] == rows["postgres"]["version"]
    assert replica.sync_state() == "sync"
    assert primary_setting("synchronous_standby_names") == REPLICA_NAME
    assert primary_setting("synchronous_commit") == "local"  # sessions that do not ask never wait
    with psycopg.connect(host="127.0.0.1", port=5433, user="postgres", dbname="postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE mmbench_replica_test (x int)")


def test_a_row_written_on_the_primary_is_read_on_the_replica(replica: Replica) -> None:
    with routed() as backend:
        backend.load(seed_dataset())  # on the primary; returns once the replica has replayed it
        options = backend.engine_info().options
        assert options["reads"] == "replica 127.0.0.1:5433/mmbench"
        assert options["synchronous_commit"] == "remote_apply"
        backend.add_diagnosis(diagnosis_id=777001, patient_id=12345, code="E11.9", diagnosed_on=dt.date(2024, 5, 1))
        record = backend.patient_by_id(patient_id=12345)  # on the replica, right after the commit
        assert 777001 in {d.diagnosis_id for d in record.diagnoses}
        schema = backend.schema
    # the row is there on the replica itself, asked without the backend
    with psycopg.connect(host="127.0.0.1", port=5433, user="postgres", dbname="mmbench", connect_timeout=5) as conn:
        found = conn.execute(f'SELECT code FROM "{schema}".diagnoses WHERE diagnosis_id = %s', (777001,)).fetchone()
    assert found == ("E11.9",)


def test_asynchronous_commits_reach_the_replica_too(replica: Replica) -> None:
    with routed("local") as backend:
        backend.load(seed_dataset())
        backend.add_diagnosis(diagnosis_id=777002, patient_id=12346, code="I10", diagnosed_on=dt.date(2024, 5, 2))
        for _ in range(400):  # not waited for by the commit: visible a little later
            if 777002 in {d.diagnosis_id for d in backend.patient_by_id(patient_id=12346).diagnoses}:
                break
        else:
            pytest.fail("an asynchronous write never reached the replica")


def test_reads_routed_to_the_replica_answer_the_catalog(replica: Replica) -> None:
    data = seed_dataset()
    reference = Reference(data)
    with routed() as backend:
        backend.load(data)
        for query in READS:
            for params in draws(query, data, n=3):
                assert_same(backend, reference, query, params)
        source = SampleSource.from_dataset(data, seed=11)
        for write in WRITES:  # writes on the primary, read back on the replica (remote_apply)
            params = CATALOG[write].sample(source, random.Random(f"replica-{write}"), 0)
            assert run_query(backend, write, params) is None
            run_query(reference, write, params)
            for check in CATALOG[write].observers(params):
                assert_same(backend, reference, *check)


def test_explain_of_a_read_runs_on_the_replica(replica: Replica) -> None:
    with routed() as backend:
        backend.load(seed_dataset())
        read = backend.explain(Q.PATIENT_BY_ID, {"patient_id": 12345})
        assert any("read replica at 127.0.0.1:5433" in n for n in read.notes)
        assert read.work.answer == 1 and read.server_us is not None
        write = backend.explain(Q.ADD_DIAGNOSIS, {"diagnosis_id": 777003, "patient_id": 12345, "code": "I10",
                                                  "diagnosed_on": dt.date(2024, 1, 1)})
        assert not any("read replica" in n for n in write.notes)  # a write is explained on the primary
        assert 777003 not in {d.diagnosis_id for d in backend.patient_by_id(patient_id=12345).diagnoses}


def test_a_replica_that_does_not_answer_is_one_line(replica: Replica) -> None:
    with pytest.raises(ReplicaUnavailable) as exc:
        routed(replica_port=1)
    assert "\n" not in str(exc.value) and "mmbench up postgres --replica" in str(exc.value)
    with pytest.raises(BackendError, match="MMBENCH_POSTGRES_READ_URL") as bad:
        routed(read_url="postgresql+psycopg://u:secret@127.0.0.1:notaport/db")
    assert "secret" not in str(bad.value)


def test_the_replication_mode_is_a_setting(replica: Replica) -> None:
    done = mmbench("up", "postgres", "--replica", env={"MMBENCH_POSTGRES_REPLICATION": "async"})
    assert done.returncode == 0, done.stderr
    assert replica.sync_state() == "async"
    assert primary_setting("synchronous_standby_names") == ""
    with routed("remote_apply") as backend:
        assert backend.engine_info().options["synchronous_standby_names"].startswith("none")
    bad = mmbench("up", "postgres", "--replica", env={"MMBENCH_POSTGRES_REPLICATION": "sometimes"})
    assert bad.returncode == 1 and "MMBENCH_POSTGRES_REPLICATION" in bad.stderr
    assert replica.status().up  # a bad setting stops nothing
    done = mmbench("up", "postgres", "--replica")
    assert done.returncode == 0 and replica.sync_state() == "sync"


def test_down_stops_the_replica_and_releases_the_primary(replica: Replica) -> None:
    pid = replica.pid()
    done = mmbench("down", "postgres")
    assert done.returncode == 0, done.stderr
    assert replica.pid() is None and not replica.status().up
    assert not psutil_alive(pid)
    assert primary_setting("synchronous_standby_names") == ""
    assert primary_setting("synchronous_commit") == "on"
    assert not (replica.data_dir / "PG_VERSION").exists()  # the clone is deleted; the next start makes a fresh one
    assert Postgres().probe() is not None  # the primary is untouched


def psutil_alive(pid: int | None) -> bool:
    import psutil

    return pid is not None and psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
