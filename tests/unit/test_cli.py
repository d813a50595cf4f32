"""The `mmbench` command as a user runs it: a real process, a SQLite file in a temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture()
def run(tmp_path: Path):
    env = {**os.environ, "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bench.cli", *args], env=env, text=True,
                              capture_output=True, timeout=300)

    return call


def test_query_seed_json(run) -> None:
    done = run("query", "variants_by_chromosome", "--backend", "sqlite", "--dataset", "seed", "-p", "chromosome=4", "--json")
    assert done.returncode == 0, done.stderr
    assert [v["variant_id"] for v in json.loads(done.stdout)] == ["7", "8"]
    counts = run("query", "diagnosis_counts", "--backend", "sqlite", "--json")  # over what the backend holds now
    assert json.loads(counts.stdout)[0] == {"code": "I10", "patients": 6}


@pytest.mark.parametrize(("args", "fragment"), [
    (["query", "nope", "--backend", "sqlite"], "unknown query 'nope'; valid: variant_by_id"),
    (["query", "variant_by_id", "--backend", "oracle", "-p", "variant_id=1"], "'oracle' is not one of 'sqlite', 'postgres'"),
    (["query", "variants_min_depth", "--backend", "sqlite", "-p", "min_depth=deep"], "min_depth (integer): 'deep' is not an integer"),
    (["query", "variants_min_depth", "--backend", "sqlite", "-p", "depth=3"], "unknown parameter 'depth'; valid: min_depth"),
    (["load", "--backend", "sqlite", "--dataset", "tiny"], "'tiny' is not one of 'seed', 'synthetic', '1kg'"),
    (["query", "all_variants", "--backend", "sqlite", "--no-such-flag"], "No such option"),
])
def test_usage_errors_are_one_line_exit_2(run, args: list[str], fragment: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_bad_csv_loads_nothing(run, tmp_path: Path) -> None:
    assert run("load", "--backend", "sqlite", "--dataset", "seed").returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n"
                   "1,1,100,A,G,AG,30,40\n2,1,1oo,C,T,CT,30,40\n")
    done = run("load", "--backend", "sqlite", "--csv", str(bad))
    assert done.returncode != 0
    assert done.stderr.strip() == f"mmbench: {bad}:3: field Position: '1oo' is not an integer (ASCII digits, optional sign)"
    after = run("query", "all_variants", "--backend", "sqlite", "--json")
    assert len(json.loads(after.stdout)) == 10  # the seed is still there, untouched


def test_load_csv_then_query(run, tmp_path: Path) -> None:
    good = tmp_path / "calls.csv"
    good.write_text("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n"
                    "a,X,100,A,G,AG,30,40\nb,X,90,C,T,CT,31,41\n")
    assert run("load", "--backend", "sqlite", "--csv", str(good)).returncode == 0
    done = run("query", "variants_by_chromosome", "--backend", "sqlite", "-p", "chromosome=X", "--json")
    assert [v["variant_id"] for v in json.loads(done.stdout)] == ["b", "a"]


def test_backends_lists_registry(run) -> None:
    done = run("backends")
    assert done.returncode == 0 and "sqlite" in done.stdout and "postgres" in done.stdout
