"""`mmbench sweep`: growth exponents from real loads at several scales, and how they are classified."""

from __future__ import annotations

import json

import pytest

from bench.sweep import Fit, growth_of
from tests.bench.test_cli import env, mmbench  # noqa: F401  (env is a fixture)


def test_a_key_lookup_examines_a_flat_number_of_rows_and_a_full_read_a_linear_one(env, tmp_path) -> None:  # noqa: F811
    out = tmp_path / "sweeps"
    done = mmbench(env, "sweep", "--backends", "sqlite", "--scales", "1,2,4", "--queries", "variant_by_id,all_variants",
                   "--ops", "30", "--max-time", "1", "--out", str(out), "--html")
    assert done.returncode == 0, done.stderr
    (folder,) = out.glob("sweep-*")
    sweep = json.loads((folder / "sweep.json").read_text())
    assert sorted(p.name for p in folder.glob("scale-*.json")) == ["scale-1.json", "scale-2.json", "scale-4.json"]
    assert (folder / "sweep.html").read_text().count("<img") == 2  # one log-log plot per query
    by_id, full = sweep["fits"]["sqlite"]["variant_by_id"], sweep["fits"]["sqlite"]["all_variants"]
    assert abs(by_id["examined"]["k"]) < 0.2 and by_id["examined"]["growth"] == "flat"
    assert 0.8 <= full["examined"]["k"] <= 1.2
    rows = [p["examined"] for p in sweep["points"]["sqlite"]["all_variants"]]
    assert rows[0] < rows[1] < rows[2]
    assert "growth exponents" in done.stdout and "all_variants" in done.stdout


@pytest.mark.parametrize(("k", "lo", "hi", "growth"), [
    (1.01, 0.94, 1.09, "linear"),
    (1.13, 0.95, 1.31, "linear to super-linear"),
    (1.83, -2.11, 5.77, "unclear (interval too wide)"),
    (0.02, -0.05, 0.09, "flat"),
    (-0.5, None, None, "flat (two scales, no interval)"),
])
def test_growth_is_named_only_as_far_as_the_interval_allows(k, lo, hi, growth) -> None:
    assert growth_of(k, lo, hi) == growth


def test_an_exact_power_law_is_fitted_exactly() -> None:
    fit = Fit.of([1, 2, 4, 8], [3.0, 6.0, 12.0, 24.0])
    assert fit is not None and fit.k == pytest.approx(1.0) and fit.lo == pytest.approx(1.0) and fit.growth == "linear"
    assert Fit.of([1, 2], [5.0, None]) is None  # one point: nothing to fit
