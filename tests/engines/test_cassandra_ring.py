"""A 3-node Cassandra ring on 127.0.0.2-4 (issue 16): it comes up, a keyspace follows the node
count (replication factor 3), and with node 2 stopped a read and a write at ALL fail while QUORUM
and ONE succeed; node 2 restarts and rejoins; a node killed with SIGKILL is down; the ring stops.

The ring runs under a runtime directory of its own (the downloads are shared), next to the
single node on 127.0.0.1, which it does not touch. About 0.9 GB of memory per node; the whole
module takes a few minutes, most of it starting three JVMs one after another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backends.base import BackendError
from backends.column.backend import CassandraBackend
from backends.column.settings import CassandraSettings
from bench.engines.cassandra import CassandraRing
from bench.engines.process import port_open
from models.entities import Variant
from models.seed import seed_dataset

NODES = 3


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraRing]:
    before = os.environ.get("MMBENCH_RUNTIME")
    os.environ["MMBENCH_RUNTIME"] = str(tmp_path_factory.mktemp("ring-runtime"))
    ring = CassandraRing(NODES)
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
        if before is None:
            os.environ.pop("MMBENCH_RUNTIME", None)
        else:
            os.environ["MMBENCH_RUNTIME"] = before


def on_ring(ring: CassandraRing, level: str) -> CassandraBackend:
    """The backend on the ring, reads and writes at consistency `level`."""
    return CassandraBackend.from_settings(CassandraSettings(contact_points=ring.contact_points, consistency=level))


def test_three_nodes_come_up_on_their_own_addresses(ring: CassandraRing) -> None:
    status = ring.status()
    assert [s.address for s in status] == ["127.0.0.2:9042", "127.0.0.3:9042", "127.0.0.4:9042"]
    assert all(s.up and s.version and s.version.startswith("5.") for s in status)
    assert len({s.pid for s in status}) == NODES
    assert all(psutil.Process(s.pid).is_running() for s in status)
    assert Path(ring.node(2).runtime_dir, "data", "commitlog").is_dir()


def test_a_stopped_node_fails_all_but_not_quorum_or_one(ring: CassandraRing) -> None:
    with on_ring(ring, "QUORUM") as backend:
        backend.load(seed_dataset())  # the replication factor follows the node count
        options = backend.engine_info().options
        assert options["replication"].startswith("SimpleStrategy (replication_factor 3)")
        assert options["nodes"] == "3 up of 3"
    ring.stop_node(2)
    assert [s.up for s in ring.status()] == [True, False, True]
    for level in ("ALL", "QUORUM", "ONE"):
        with on_ring(ring, level) as backend:
            call = Variant(f"ring-{level}", "1", 123, "A", "G", "AG", 30.0, 20, None)
            if level == "ALL":
                with pytest.raises(BackendError, match="Unavailable") as read:
                    backend.variant_by_id(variant_id="3")
                with pytest.raises(BackendError, match="Unavailable") as write:
                    backend.add_variants(variants=[call])
                assert "\n" not in str(read.value) + str(write.value)
            else:
                assert backend.variant_by_id(variant_id="3").depth == 60
                backend.add_variants(variants=[call])
                assert backend.variant_by_id(variant_id=call.variant_id) == call
    ring.start_node(2)
    assert all(s.up for s in ring.status())
    with on_ring(ring, "ALL") as backend:
        assert backend.variant_by_id(variant_id="3").depth == 60
        backend.add_variants(variants=[Variant("ring-back", "1", 124, "A", "G", "AG", 30.0, 20, None)])


def test_a_killed_node_is_down_and_quorum_still_answers(ring: CassandraRing) -> None:
    pid = ring.node(3).pid()
    ring.stop_node(3, kill=True)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert [s.up for s in ring.status()] == [True, True, False]
    with on_ring(ring, "QUORUM") as backend:
        assert backend.variant_by_id(variant_id="3").depth == 60
