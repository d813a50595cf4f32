"""Latency statistics: an HdrHistogram of nanoseconds plus the exact count, sum, min and max.

The timed loop stores raw `perf_counter_ns` differences in a flat array (recording straight
into the `hdrhistogram` package costs ~3.5 µs per value in pure Python, more than the
harness budget); `Latencies.from_ns` adds them in bulk afterwards. Bulk adding is exact: each
value is first rounded down to the lowest value its histogram bucket holds (what
`record_value` would do), then every distinct bucket is recorded once with its count.

Percentiles come from the histogram (3 significant digits: each is the highest value of its
bucket, at most 0.1% above the true value); count, mean, standard deviation, min and max are
exact (kept as sums beside the histogram). Histograms of
several workers merge with the histogram's own `add`; the results file carries each
histogram in the standard compressed base64 encoding (`HdrHistogram.decode` reads it back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_NS = 1
HIGHEST_NS = 3_600 * 1_000_000_000  # one hour: anything slower is clamped (and max shows it)
DIGITS = 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, DIGITS)


def bucket_floor(values: np.ndarray, hist: HdrHistogram) -> np.ndarray:
    """The lowest equivalent value of each value in `hist` (its bucket's start), vectorised."""
    _, bits = np.frexp((values | hist.sub_bucket_mask).astype(np.float64))  # bit length; exact below 2**53
    shift = bits.astype(np.int64) - hist.sub_bucket_half_count_magnitude - 1  # bucket index + unit magnitude
    return (values >> shift) << shift


def add_ns(hist: HdrHistogram, values: Sequence[int] | np.ndarray) -> None:
    """Record many nanosecond values into `hist`: one `record_value` per distinct bucket."""
    arr = np.clip(np.asarray(values, dtype=np.int64), LOWEST_NS, HIGHEST_NS)
    if arr.size == 0:
        return
    floors, counts = np.unique(bucket_floor(arr, hist), return_counts=True)
    for value, count in zip(floors.tolist(), counts.tolist(), strict=True):
        hist.record_value(value, count)


@dataclass
class Latencies:
    """One latency distribution (nanoseconds)."""

    hist: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    total_ns: int = 0
    total_sq_ns: int = 0  # sum of squares: an exact, mergeable standard deviation
    min_ns: int = 0
    max_ns: int = 0

    @classmethod
    def from_ns(cls, values: Sequence[int] | np.ndarray) -> Latencies:
        arr = np.asarray(values, dtype=np.int64)
        out = cls()
        if arr.size:
            add_ns(out.hist, arr)
            out.count, out.total_ns = int(arr.size), int(arr.sum())
            out.total_sq_ns = sum(v * v for v in arr.tolist())  # Python ints: no overflow
            out.min_ns, out.max_ns = int(arr.min()), int(arr.max())
        return out

    def merge(self, other: Latencies) -> None:
        """Add `other` into this distribution (workers' histograms merge this way)."""
        if not other.count:
            return
        self.hist.add(other.hist)
        self.min_ns = min(self.min_ns, other.min_ns) if self.count else other.min_ns
        self.max_ns = max(self.max_ns, other.max_ns)
        self.count += other.count
        self.total_ns += other.total_ns
        self.total_sq_ns += other.total_sq_ns

    @classmethod
    def merged(cls, parts: Iterable[Latencies]) -> Latencies:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.count if self.count else 0.0

    @property
    def stddev_ns(self) -> float:
        """Population standard deviation, exact (from the sums, not the buckets)."""
        if not self.count:
            return 0.0
        return math.sqrt(self.count * self.total_sq_ns - self.total_ns**2) / self.count

    def percentiles_ns(self) -> dict[str, int]:
        if not self.count:
            return dict.fromkeys(PERCENTILES, 0)
        at = self.hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
        # A bucket's highest value may lie above the largest sample: never report past max (or min).
        return {name: min(self.max_ns, max(self.min_ns, int(at[p]))) for name, p in PERCENTILES.items()}

    def summary(self) -> dict[str, Any]:
        """count and latencies in microseconds: min, mean, p50, p90, p99, p99.9 (`p999`), max."""
        us = {name: v / 1000 for name, v in self.percentiles_ns().items()}
        return {"count": self.count, "min_us": self.min_ns / 1000, "mean_us": self.mean_ns / 1000, **{
            f"{name}_us": value for name, value in us.items()}, "max_us": self.max_ns / 1000,
            "stddev_us": self.stddev_ns / 1000}

    # -- the wire (between processes) and the results file

    def encode(self) -> str:
        return self.hist.encode().decode("ascii")

    def to_wire(self) -> dict[str, Any]:
        return {"histogram": self.encode(), "count": self.count, "total_ns": self.total_ns,
                "total_sq_ns": self.total_sq_ns, "min_ns": self.min_ns, "max_ns": self.max_ns}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Latencies:
        hist = HdrHistogram.decode(wire["histogram"].encode("ascii")) if wire["count"] else new_histogram()
        return cls(hist, wire["count"], wire["total_ns"], wire["total_sq_ns"], wire["min_ns"], wire["max_ns"])
