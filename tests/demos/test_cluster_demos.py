"""The replication and failure demos (issue 16) against real engines they start themselves:

- `consistency` on a 3-node Cassandra ring started here (127.0.0.2-4, ~1 GB per node, about a
  minute to start): with node 2 stopped, ALL fails and QUORUM and ONE succeed, reads and writes;
  the writes made at ONE meanwhile reach node 2 by hinted handoff once it is back. The ring is
  stopped and removed at the end.
- `staleness` on a PostgreSQL replica of the shared local server, started here and stopped at the
  end: no stale read under `remote_apply`.

Each runs under a runtime directory of its own; neither touches the single Cassandra node or
stops the shared PostgreSQL. The demos' timings are not asserted, only what they must show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.demos.base import Context
from bench.demos.consistency import HINTED, Consistency
from bench.engines.cassandra import CassandraRing
from bench.engines.postgres import Postgres, Replica
from bench.engines.process import port_open
from models.errors import MMBenchError


def mmbench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **env}, timeout=900, check=False)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A runtime directory of this module's own (ring and replica state), set for the module."""
    path = tmp_path_factory.mktemp("cluster-demos")
    before = os.environ.get("MMBENCH_RUNTIME")
    os.environ["MMBENCH_RUNTIME"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("MMBENCH_RUNTIME", None)
        else:
            os.environ["MMBENCH_RUNTIME"] = before


# ---------------------------------------------------------------- what each demo needs, said in one line

def test_consistency_says_how_to_start_the_ring(tmp_path: Path) -> None:
    done = mmbench("demo", "consistency", env={"MMBENCH_RUNTIME": str(tmp_path)})
    assert done.returncode == 1, done.stderr
    assert "mmbench up cassandra --nodes 3" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_staleness_says_how_to_start_the_replica(tmp_path: Path) -> None:
    done = mmbench("demo", "staleness", env={"MMBENCH_RUNTIME": str(tmp_path), "MMBENCH_POSTGRES_REPLICA_PORT": "1"})
    assert done.returncode == 1, done.stderr
    assert "mmbench up postgres --replica" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- staleness on a replica

@pytest.fixture(scope="module")
def replica(runtime: Path) -> Iterator[Replica]:
    os.environ.pop("MMBENCH_POSTGRES_REPLICATION", None)
    replica = Replica()
    if port_open(replica.host, replica.port):
        pytest.fail(f"something already listens on {replica.address}; stop it first (mmbench down postgres)",
                    pytrace=False)
    assert Postgres().pid() is None  # the shared primary is not ours here
    try:
        replica.start(timeout=300)
        yield replica
    finally:
        replica.stop()


def test_staleness_no_stale_read_under_remote_apply(replica: Replica, runtime: Path, tmp_path: Path) -> None:
    done = mmbench("demo", "staleness", "--json", "--out", str(tmp_path), env={"MMBENCH_RUNTIME": str(runtime)})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    rows = {r["synchronous_commit"]: r for r in doc["rows"]}
    assert set(rows) == {"local", "on", "remote_apply"}
    assert all(r["writes"] == doc["data"]["samples_per_mode"] for r in rows.values())
    assert rows["remote_apply"]["stale reads"] == 0
    assert all(s["reads"] == 1 for s in doc["data"]["samples"]["remote_apply"])
    assert all(r["never seen"] == 0 for r in rows.values())  # asynchronous writes arrive too
    assert doc["data"]["postgres_options"]["reads"] == "replica 127.0.0.1:5433/mmbench"
    assert "remote_apply: 0 of" in doc["takeaway"]
    dynamodb = {(r["query"], r["ConsistentRead"]): r for r in doc["data"]["dynamodb"]["rows"]}  # the DynamoDB half
    assert dynamodb[("variant_by_id", True)]["rcu"] == 2 * dynamodb[("variant_by_id", False)]["rcu"] > 0
    assert "ConsistentRead" in doc["takeaway"]
    assert Path(doc["plots"][0]).is_file() and (tmp_path / "staleness.json").is_file()
    assert replica.sync_state() == "sync"


# ---------------------------------------------------------------- consistency on a ring

@pytest.fixture(scope="module")
def ring(runtime: Path) -> Iterator[CassandraRing]:
    ring = CassandraRing(3)
    busy = [n.address for n in ring.nodes if port_open(n.host, n.port)]
    if busy:
        pytest.fail(f"a Cassandra ring already answers on {', '.join(busy)}; stop it first (mmbench down)",
                    pytrace=False)
    try:
        ring.start(timeout=600)
        yield ring
    finally:
        ring.stop()
        ring.remove()


@pytest.fixture(scope="module")
def consistency(ring: CassandraRing, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ctx = Context("consistency", ops=5, out_dir=tmp_path_factory.mktemp("consistency"))
    try:
        result = Consistency().run(ctx)
    finally:
        ctx.close()
    return json.loads(result.to_json())


def cell(doc: dict[str, Any], phase: str, level: str, op: str) -> dict[str, Any]:
    (row,) = [r for r in doc["rows"] if (r["phase"], r["level"], r["operation"]) == (phase, level, op)]
    return row


def test_every_level_succeeds_with_all_nodes_up(consistency: dict[str, Any]) -> None:
    for level in ("ONE", "QUORUM", "ALL"):
        for op in ("read", "write"):
            row = cell(consistency, "3 of 3 nodes up", level, op)
            assert (row["ok"], row["failed"]) == (5, 0), row


def test_with_node_2_stopped_all_fails_and_quorum_and_one_succeed(consistency: dict[str, Any]) -> None:
    for op in ("read", "write"):
        failed = cell(consistency, "node 2 stopped", "ALL", op)
        assert (failed["ok"], failed["failed"]) == (0, 5)
        assert "Unavailable: Cannot achieve consistency level ALL (3 replicas required, 2 alive)" in failed["result"]
        for level in ("QUORUM", "ONE"):
            row = cell(consistency, "node 2 stopped", level, op)
            assert (row["ok"], row["failed"]) == (5, 0), row
    assert "ALL reads" in consistency["takeaway"] and "QUORUM writes" in consistency["takeaway"]


def test_hinted_handoff_brings_the_writes_to_node_2(consistency: dict[str, Any], ring: CassandraRing) -> None:
    h = consistency["data"]["handoff"]
    assert 1 <= h["writes_at_one"] <= HINTED  # keys whose reads at ONE node 2 serves
    assert sum(h["hint_files"].values()) >= 1  # the other nodes kept hints while node 2 was down
    assert h["handoff_s"] is not None
    after = h["after_handoff"]
    assert after["served_by_node"] >= 1 and after["found"] == after["served_by_node"]
    assert h["read_at_all_after"] == h["writes_at_one"] == h["writes_found"]
    assert [s.up for s in ring.status()] == [True, True, True]  # the demo leaves the ring as it found it
    assert sum(ring.hint_files().values()) == 0
    assert Path(consistency["plots"][0]).is_file()


def test_the_demo_refuses_a_ring_with_a_node_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Status:
        def __init__(self, up: bool) -> None:
            self.up = up

    class HalfRing:
        size = 3

        def status(self) -> list[Status]:
            return [Status(True), Status(True), Status(False)]

    monkeypatch.setattr(CassandraRing, "existing", classmethod(lambda cls: HalfRing()))
    with pytest.raises(MMBenchError, match="mmbench node start cassandra 3"):
        Consistency().run(Context("consistency", ops=1, out_dir=tmp_path))
