"""How sure a number is: confidence intervals over rounds, ratios with intervals, and verdicts.

A phase measured in N rounds (`--repeat N`) gives N latency histograms. Its estimate is the
median of the rounds' p50 (or p99). Its 95% interval comes from a **hierarchical bootstrap**:
each replicate resamples the rounds with replacement and, within each chosen round, resamples
its latencies (multinomially, from the round's histogram), then takes the median of those
rounds' percentiles. Why both levels: the rounds carry the slow noise of a shared machine
(drift, other processes, caches), which dominates and which resampling raw latencies alone
would hide; the latencies carry the sampling noise of each round, which the few round
medians alone would hide (with 3 rounds they take only 10 distinct resamples). With one
round, only the within-round level remains, and the interval says nothing about drift.

A ratio (a backend to the fastest, run B to run A) takes its interval from the same
replicates of both sides, drawn independently. The verdict is `faster` or `slower` only when
the interval excludes 1, otherwise `≈`: no difference at this noise.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

REPLICATES = 1000
LEVEL = 0.95
P99_FEW_SAMPLES = 10   # fewer operations than this beyond p99: say p99 is shaky
P999_MIN_OPS = 1000    # below this many operations, p99.9 is not shown


@dataclass(frozen=True)
class Buckets:
    """A histogram as sorted bucket values (µs) and their counts."""

    values_us: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, hist: HdrHistogram) -> Buckets:
        values, counts = [], []
        for item in hist.get_recorded_iterator():
            values.append(hist.get_highest_equivalent_value(item.value_iterated_to) / 1000)
            counts.append(item.count_at_value_iterated_to)
        return cls(np.asarray(values, dtype=np.float64), np.asarray(counts, dtype=np.int64))

    @classmethod
    def decode(cls, encoded: str) -> Buckets:
        return cls.of(HdrHistogram.decode(encoded.encode("ascii")))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def percentile(self, q: float) -> float:
        cum = np.cumsum(self.counts)
        return float(self.values_us[np.searchsorted(cum, q / 100 * cum[-1], side="left")])

    def resampled_percentiles(self, q: float, rng: np.random.Generator, replicates: int) -> np.ndarray:
        """`replicates` bootstrap values of the q-th percentile (multinomial resampling)."""
        n = self.n
        draws = rng.multinomial(n, self.counts / n, size=replicates)
        cum = np.cumsum(draws, axis=1)
        idx = (cum >= q / 100 * n).argmax(axis=1)
        return self.values_us[idx]


def replicates(rounds: Sequence[Buckets], q: float, rng: np.random.Generator, n: int = REPLICATES) -> np.ndarray:
    """Bootstrap replicates of the median over rounds of the q-th percentile (hierarchical)."""
    rounds = [r for r in rounds if r.n]
    if not rounds:
        return np.full(n, np.nan)
    within = np.stack([r.resampled_percentiles(q, rng, n) for r in rounds])  # rounds x replicates
    picks = rng.integers(0, len(rounds), size=(n, len(rounds)))              # replicates x rounds
    return np.median(within[picks, np.arange(n)[:, None]], axis=1)


def estimate(rounds: Sequence[Buckets], q: float) -> float:
    """The median over rounds of each round's q-th percentile."""
    values = [r.percentile(q) for r in rounds if r.n]
    return float(np.median(values)) if values else float("nan")


def interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    lo, hi = np.nanpercentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def verdict(lo: float, hi: float) -> str:
    """`slower` / `faster` only when the interval of a ratio excludes 1; else `≈`."""
    if lo > 1:
        return "slower"
    if hi < 1:
        return "faster"
    return "≈"


def ratio(num: np.ndarray, den: np.ndarray, point: float) -> dict[str, float | str]:
    """A ratio's point value, interval and verdict from two sides' bootstrap replicates."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = interval(num / den)
    return {"value": point, "lo": lo, "hi": hi, "verdict": verdict(lo, hi)}


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded by `key` (so a report's intervals are the same each time it is drawn)."""
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def samples_beyond(n: int, q: float) -> int:
    """How many of `n` operations lie beyond the q-th percentile."""
    return int(n * (100 - q) / 100)


def shaky_p99(n: int) -> str | None:
    """A warning when p99 rests on too few samples: `p99 of 120 operations: 1 sample beyond it`."""
    beyond = samples_beyond(n, 99)
    if beyond < P99_FEW_SAMPLES:
        return f"p99 of {n:,} operations: {beyond} sample{'s' if beyond != 1 else ''} beyond it"
    return None
