"""The runner: closed and open loop, workers, error handling, verification, failures."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from backends import open_backend
from bench.datasets import make_dataset
from bench.engines.postgres import Postgres
from bench.overhead import NoopBackend
from bench.pool import WorkerPool
from bench.runner import PhaseSpec, RunSettings, Runner, Target, combine
from bench.timing import Outcome, measure
from bench.stats import Latencies
from bench.workloads import QUERY_PHASES, WORKLOADS
from models.catalog import Q
from models.sampling import SampleSource
from tests.bench.fakes import FlakyBackend, LiarBackend, SleepBackend

SOURCE = SampleSource.from_dataset(make_dataset("seed"), 1)


def spec_for(query: str, ops: int, **kw) -> PhaseSpec:
    return PhaseSpec(QUERY_PHASES[query], SOURCE, "t", kw.pop("base_index", 0), kw.pop("warmup", 0), ops,
                     kw.pop("time_cap_s", 60.0), **kw)


def latency(outcome: Outcome, key: str = "labels") -> Latencies:
    return Latencies.from_wire(outcome.labels[0] if key == "labels" else outcome.service)


def test_closed_loop_counts_every_operation() -> None:
    out = measure(NoopBackend(), spec_for("patient_by_id", 500, warmup=20))
    assert out.state == "ok" and out.errors == 0
    assert latency(out).count == 500 and out.service is None
    assert out.cpu_ns > 0  # the worker's own CPU time for its share


def test_open_loop_charges_the_queueing_delay() -> None:
    """Due every 2 ms, served in >= 10 ms: op k ends at >= (k+1)*10 ms but was due at k*2 ms,
    so its latency (from the due time) is >= 8k + 10 ms, though each service took ~10 ms."""
    n, period_ms, sleep_ms = 20, 2, SleepBackend.delay_s * 1000
    out = measure(SleepBackend(), spec_for("patient_by_id", n, rate=1000 / period_ms))
    lat, service = latency(out), latency(out, "service")
    assert lat.count == service.count == n
    assert lat.max_ns >= (n * sleep_ms - (n - 1) * period_ms) * 1e6  # 162 ms: the queue, not the engine
    assert service.min_ns >= sleep_ms * 1e6
    assert lat.total_ns > service.total_ns + sum(k * (sleep_ms - period_ms) for k in range(n)) * 1e6 * 0.99


def test_closed_loop_on_the_same_backend_hides_the_queue() -> None:
    out = measure(SleepBackend(), spec_for("patient_by_id", 20))
    assert out.service is None and latency(out).count == 20
    assert latency(out).max_ns < (20 * 10 - 19 * 2) * 1e6  # nothing queues in a closed loop


def test_errors_are_counted_and_left_out_of_the_histogram() -> None:
    out = measure(FlakyBackend(), spec_for("patient_by_id", 100))
    assert out.state == "ok" and out.errors == 10
    assert latency(out).count == 90 and out.error == "ConnectionError: lost a packet"


def test_consecutive_errors_abort_the_phase() -> None:
    out = measure(FlakyBackend(), spec_for("variant_by_id", 100))
    assert out.state == "failed" and out.errors == 3
    assert out.error == "ConnectionError: connection refused" and latency(out).count == 0


def test_workers_merge_their_histograms_and_share_positions() -> None:
    spec = spec_for("patient_by_id", 301, warmup=10, workers=3)
    pool = WorkerPool(NoopBackend, 3)
    try:
        outcomes = pool.measure(spec)
        again = pool.measure(spec)  # the pool is reused across phases
    finally:
        pool.close()
    counts = [latency(o).count for o in outcomes]
    assert counts == [spec.counts(w)[1] for w in range(3)] == [latency(o).count for o in again]
    assert sum(counts) == 301
    entry = combine(spec.phase, outcomes, NoopBackend.tier(Q.PATIENT_BY_ID))
    merged = Latencies.merged(latency(o) for o in outcomes)
    assert entry["ops"] == 301 and entry["total"].summary() == merged.summary()
    assert entry["total"].encode() == merged.encode()


@pytest.fixture()
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    monkeypatch.setenv("MMBENCH_SQLITE_URL", url)
    return url


def test_writes_from_several_workers_never_collide(sqlite_url: str) -> None:
    settings = RunSettings(datasets=("seed",), queries=(Q.ADD_PATIENT, Q.ADD_VARIANTS), ops=60, warmup=6, workers=2)
    doc = Runner(settings, [Target.registered("sqlite")]).run()
    assert doc.data["status"] == "complete", doc.results
    assert [(r["phase"], r["ops"], r["errors"]) for r in doc.results] == [("add_patient", 60, 0), ("add_variants", 60, 0)]
    with open_backend("sqlite") as b:
        count = len(b.patients_older_than(age=-1))
    assert count == 12 + 6 + 60  # the seed's patients, the warmup's and the timed ones: all distinct ids


def test_run_verifies_orders_phases_and_records_workloads(sqlite_url: str) -> None:
    settings = RunSettings(datasets=("seed",), queries=(Q.ADD_DIAGNOSIS, Q.PATIENT_BY_ID, Q.DIAGNOSIS_COUNTS),
                           workloads=("F",), ops=30, warmup=3, verify=True)
    doc = Runner(settings, [Target.registered("sqlite")]).run()
    assert [r["phase"] for r in doc.results] == ["patient_by_id", "diagnosis_counts", "add_diagnosis", "ycsb_f"]
    assert [r["verified"] for r in doc.results] == [True, True, True, None]
    f = doc.results[-1]
    assert set(f["operations"]) == {"read", "read_modify_write"}
    assert sum(o["ops"] for o in f["operations"].values()) == f["ops"] == 30
    assert doc.data["status"] == "complete"


def test_a_wrong_answer_is_flagged(sqlite_url: str) -> None:
    settings = RunSettings(datasets=("seed",), queries=(Q.VARIANTS_BY_CHROMOSOME,), ops=5, warmup=0, verify=True)
    doc = Runner(settings, [Target("liar", LiarBackend)]).run()
    (entry,) = doc.results
    assert entry["verified"] is False and entry["status"] == "ok"  # timed all the same, but flagged
    assert entry["verify_error"].startswith("variants_by_chromosome(chromosome=") and "0 rows" in entry["verify_error"]
    assert doc.data["status"] == "failures"


# ---------------------------------------------------------------- an engine killed mid-run

def test_an_engine_killed_mid_run_fails_its_remaining_phases_only(private_postgres: Postgres, sqlite_url: str) -> None:
    def kill_after_second_phase(entry: dict) -> None:
        if (entry["backend"], entry["dataset"], entry["phase"]) == ("postgres", "seed", "variants_by_chromosome"):
            os.killpg(private_postgres.pid(), signal.SIGKILL)

    queries = (Q.VARIANT_BY_ID, Q.VARIANTS_BY_CHROMOSOME, Q.PATIENT_BY_ID, Q.ADD_PATIENT)
    settings = RunSettings(datasets=("seed", "synthetic"), queries=queries, ops=50, warmup=5)
    targets = [Target.registered("postgres"), Target.registered("sqlite")]
    doc = Runner(settings, targets, after_phase=kill_after_second_phase).run()

    pg = [r for r in doc.results if r["backend"] == "postgres"]
    assert [r["status"] for r in pg[:2]] == ["ok", "ok"]
    assert all(r["status"] == "failed" and r["error"] for r in pg[2:]) and len(pg) == 8
    assert "stopped answering" in pg[-1]["error"]
    assert doc.data["backends"]["postgres"]["status"] == "failed"
    sqlite = [r for r in doc.results if r["backend"] == "sqlite"]
    assert len(sqlite) == 8 and all(r["status"] == "ok" for r in sqlite)  # the others go on
    assert doc.data["status"] == "failures"
    path = doc.write(Path(os.environ["MMBENCH_RUNTIME"]) / "results")
    assert path.exists()


def test_a_worker_killed_mid_phase_is_a_failure_not_a_hang() -> None:
    spec = spec_for("patient_by_id", 10_000, workers=2)
    pool = WorkerPool(SleepBackend, 2)
    try:
        os.kill(pool.procs[1].pid, signal.SIGKILL)
        outcomes = pool.measure(spec)
    finally:
        pool.close()
    entry = combine(spec.phase, outcomes, SleepBackend.tier(Q.PATIENT_BY_ID))
    assert entry["status"] == "failed" and "worker 1 died" in entry["error"]


def test_workload_tier_is_client_if_any_of_its_queries_is() -> None:
    from backends.base import Tier
    from bench.runner import phase_tier

    class Partly(NoopBackend):
        tiers = {Q.VARIANTS_IN_REGION: Tier.CLIENT}

    assert phase_tier(Partly, WORKLOADS["E"]) is Tier.CLIENT
    assert phase_tier(Partly, WORKLOADS["A"]) is Tier.NATIVE


def test_open_loop_counts_operations_still_waiting_at_the_deadline() -> None:
    """An engine too slow for the rate: the calls due but never started are not dropped."""
    import time as _time

    from bench.timing import Errors, open_loop

    calls = [(lambda: _time.sleep(0.02), {})] * 10
    lat: list[int] = []
    service: list[int] = []
    start = _time.perf_counter_ns()
    open_loop(calls, lat, service, Errors(), start + 30_000_000, start, 1_000_000, 0, 1)
    assert len(service) == 2  # two calls ran before the deadline passed
    assert len(lat) == 10     # the eight already due still count, with what they waited
    assert all(later <= earlier for earlier, later in zip(lat[2:], lat[3:]))  # later due: waited less
