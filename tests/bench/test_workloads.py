"""Phases: deterministic streams, fresh write ids per position, YCSB mixes, key choice."""

from __future__ import annotations

import pickle
import random
from collections import Counter
from itertools import islice

import pytest

from bench.datasets import make_dataset
from bench.workloads import QUERY_PHASES, WORKLOADS, Zipf, parse_workloads, phase_by_name
from models.catalog import Q
from models.errors import UsageError
from models.sampling import SampleSource

SOURCE = SampleSource.from_dataset(make_dataset("synthetic", scale=1, seed=5), 5)


def take(phase, n: int, seed: str = "s", base: int = 0, keys: str = "uniform"):
    return list(islice(phase.ops(SOURCE, seed, base, keys), n))


@pytest.mark.parametrize("name", [*QUERY_PHASES, *(w.name for w in WORKLOADS.values())])
def test_same_seed_same_questions(name: str) -> None:
    phase = phase_by_name(name)
    assert take(phase, 50) == take(phase, 50)
    assert take(phase, 50) != take(phase, 50, seed="other") or name == "all_variants"


def test_every_write_position_gets_fresh_ids() -> None:
    patients = [op.params["patient"].patient.patient_id for op in take(QUERY_PHASES["add_patient"], 300)]
    diagnoses = [op.params["diagnosis_id"] for op in take(QUERY_PHASES["add_diagnosis"], 300, base=300)]
    variants = [v.variant_id for op in take(QUERY_PHASES["add_variants"], 50) for v in op.params["variants"]]
    assert len(set(patients)) == 300 and min(patients) > SOURCE.max_patient_id
    assert len(set(diagnoses)) == 300 and min(diagnoses) > SOURCE.max_diagnosis_id
    assert len(set(variants)) == 500


@pytest.mark.parametrize(("letter", "shares"), [
    ("A", {"read": 0.5, "update": 0.5}), ("B", {"read": 0.95, "update": 0.05}), ("C", {"read": 1.0}),
    ("D", {"read_latest": 0.95, "insert": 0.05}), ("E", {"scan": 0.95, "insert_variants": 0.05}),
    ("F", {"read": 0.5, "read_modify_write": 0.5}),
])
def test_workload_mixes(letter: str, shares: dict[str, float]) -> None:
    workload = WORKLOADS[letter]
    ops = take(workload, 4000)
    seen = Counter(workload.labels[op.label] for op in ops)
    for label, share in shares.items():
        assert abs(seen[label] / len(ops) - share) < 0.03, (label, seen)


def test_read_latest_reads_what_d_inserted() -> None:
    ops = take(WORKLOADS["D"], 3000, keys="zipfian")
    inserted = {op.params["patient"].patient.patient_id for op in ops if op.call == Q.ADD_PATIENT}
    read = Counter(op.params["patient_id"] for op in ops if op.call == Q.PATIENT_BY_ID)
    assert inserted and sum(read[pid] for pid in inserted) > 0.3 * sum(read.values())


def test_zipfian_keys_are_skewed_and_uniform_are_not() -> None:
    def top_share(keys: str) -> float:
        reads = Counter(op.params["patient_id"] for op in take(WORKLOADS["C"], 5000, keys=keys))
        return reads.most_common(1)[0][1] / 5000

    assert top_share("zipfian") > 0.05 > top_share("uniform")


def test_zipf_ranks_follow_the_law() -> None:
    zipf, rng = Zipf(theta=1.0), random.Random(1)
    ranks = Counter(zipf.rank(rng, 4) for _ in range(60_000))
    weights = [1, 1 / 2, 1 / 3, 1 / 4]
    for k in range(4):  # P(k) = (1/(k+1)) / H_4
        assert abs(ranks[k] / 60_000 - weights[k] / sum(weights)) < 0.01
    assert set(ranks) == {0, 1, 2, 3}


def test_read_modify_write_reads_and_updates_the_same_patient() -> None:
    for op in take(WORKLOADS["F"], 200):
        if op.call == "read_modify_write":
            assert op.params["diagnosis"]["patient_id"] == op.params["patient_id"]


def test_parse_and_pickle() -> None:
    assert [w.letter for w in parse_workloads("a, ycsb_c,F")] == ["A", "C", "F"]
    assert parse_workloads("none") == [] and len(parse_workloads("all")) == 6
    with pytest.raises(UsageError, match="unknown workload 'G'"):
        parse_workloads("G")
    assert pickle.loads(pickle.dumps(WORKLOADS["E"])) is WORKLOADS["E"]
    assert pickle.loads(pickle.dumps(QUERY_PHASES["lab_history"])) is QUERY_PHASES["lab_history"]
