"""The statistics: against a histogram computed by hand, bulk adding, merging, the wire."""

from __future__ import annotations

import random

import pytest

from hdrh.histogram import HdrHistogram

from bench.stats import HIGHEST_NS, Latencies, add_ns, new_histogram


def test_summary_matches_a_hand_computed_histogram() -> None:
    # 3 significant digits: values below 2048 ns are exact; 10,000 ns falls in a bucket of
    # width 8 (10,000..10,007), and a percentile reports the highest value of its bucket,
    # but never more than the largest value recorded.
    lat = Latencies.from_ns([300, 100, 10_000, 200, 400])
    s = lat.summary()
    assert s["count"] == 5
    assert s["min_us"] == 0.1 and s["max_us"] == 10.0          # exact, not bucketed
    assert s["mean_us"] == 2.2                                  # (100+200+300+400+10000) / 5, exact
    assert s["p50_us"] == 0.3                                   # 3rd of 5 values
    assert s["p90_us"] == s["p99_us"] == s["p999_us"] == 10.0  # 5th of 5: its bucket's top 10.007, clamped to max
    assert s["stddev_us"] == pytest.approx(3.901282, abs=1e-6)  # sqrt(mean of squares - 2200**2) ns, exact


def test_percentiles_of_one_to_a_thousand_microseconds() -> None:
    lat = Latencies.from_ns([us * 1000 for us in range(1, 1001)])
    p = lat.percentiles_ns()
    # value k µs lies in a bucket of width 2**(bit_length(k*1000) - 11) ns; the percentile is its top
    assert p == {"p50": 500_223, "p90": 900_095, "p99": 990_207, "p999": 999_423}
    assert lat.mean_ns == 500_500


def test_bulk_add_equals_recording_one_by_one() -> None:
    rng = random.Random(7)
    values = ([rng.randint(1, 10**12) for _ in range(5000)] + [rng.randint(1, 5000) for _ in range(2000)]
              + [2**k for k in range(41)] + [2**k - 1 for k in range(1, 41)] + [2**k + 1 for k in range(41)])
    one_by_one = new_histogram()
    for v in values:
        one_by_one.record_value(v)
    bulk = new_histogram()
    add_ns(bulk, values)
    assert list(bulk.counts) == list(one_by_one.counts)
    assert bulk.get_total_count() == len(values)


def test_values_beyond_the_range_are_clamped_and_max_stays_exact() -> None:
    lat = Latencies.from_ns([5, HIGHEST_NS * 2])
    assert lat.count == 2 and lat.max_ns == HIGHEST_NS * 2
    assert lat.hist.get_total_count() == 2


def test_merging_workers_equals_one_histogram_of_all_values() -> None:
    rng = random.Random(3)
    parts = [[rng.randint(1_000, 5_000_000) for _ in range(n)] for n in (800, 1, 1500)]
    merged = Latencies.merged(Latencies.from_wire(Latencies.from_ns(p).to_wire()) for p in parts)
    everything = Latencies.from_ns([v for p in parts for v in p])
    assert merged.summary() == everything.summary()
    assert list(merged.hist.counts) == list(everything.hist.counts)
    assert merged.min_ns == min(min(p) for p in parts)


def test_merging_an_empty_part_changes_nothing() -> None:
    lat = Latencies.from_ns([1000, 2000])
    lat.merge(Latencies())
    assert lat.summary() == Latencies.from_ns([1000, 2000]).summary()
    assert Latencies().summary()["p99_us"] == 0


def test_the_encoded_histogram_decodes_with_the_library() -> None:
    lat = Latencies.from_ns([100, 200, 300])
    decoded = HdrHistogram.decode(lat.encode().encode("ascii"))
    assert decoded.get_total_count() == 3 and decoded.get_value_at_percentile(50) == 200


def test_percentiles_never_exceed_the_extremes() -> None:
    lat = Latencies.from_ns([1_234_567] * 10)
    assert set(lat.percentiles_ns().values()) == {1_234_567}
