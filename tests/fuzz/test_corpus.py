"""The malformed-input corpus against SQLite through the CLI: every case is refused with one line
naming file, line and field (a parameter: a usage error naming it), no traceback, and the seed's
answers are unchanged afterwards. `python -m tests.fuzz.corpus --backend B` runs it on any backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.fuzz import corpus

MINIMUM = {"integer beyond 64 bits": 50, "non-ASCII digits": 50, "bytes not UTF-8": 50, "NUL": 15,
           "lone surrogate": 8, "1 MB field": 10, "deep nesting": 15, "out of domain": 30, "bad date": 30,
           "repeated key": 15, "repeated column": 9, "trailing garbage": 20, "REF == ALT": 5,
           "genotype not from REF/ALT": 7, "malformed structure": 40}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[corpus.Case]:
    return corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture()
def sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "corpus.db"
    monkeypatch.setenv("MMBENCH_SQLITE_URL", f"sqlite:///{path}")
    return path


def test_corpus_covers_every_category_and_kind(built: list[corpus.Case]) -> None:
    cases = built
    counts = Counter(c.category for c in cases)
    for category, least in MINIMUM.items():
        assert counts[category] >= least, (category, counts[category])
    assert {c.kind for c in cases} == set(corpus.KINDS)
    assert len(cases) > 1000


def test_every_malformed_input_is_one_line_and_loses_nothing(built: list[corpus.Case], sqlite_file: Path) -> None:
    cases = built
    tallies = corpus.check("sqlite", cases)
    print("\n" + corpus.table(tallies))
    bad = {key: t.examples for key, t in tallies.items() if not t.ok()}
    assert not bad, bad
    assert sum(t.cases for t in tallies.values()) == len(cases)


def test_the_good_files_the_corpus_breaks_load(tmp_path: Path, sqlite_file: Path) -> None:
    """The corpus breaks one thing per file: its unbroken files load (else every case could fail for one reason)."""
    c = corpus.Corpus(tmp_path / "corpus")
    g = c.good
    for argv in (["load", "--backend", "sqlite", "--csv", str(g["genomics"]), "--samples", str(g["samples"]),
                  "--patients", str(g["patients"]), "--diagnoses", str(g["diagnoses"]),
                  "--lab-results", str(g["lab_results"])],
                 ["load", "--backend", "sqlite", "--vcf", str(g["vcf"])]):
        outcome = corpus.run_cli(argv)
        assert outcome.code == 0, outcome.stderr or outcome.traceback


@pytest.mark.parametrize("kind", ["genomics", "patients", "vcf", "parameter"])
def test_a_real_process_says_the_same(built: list[corpus.Case], sqlite_file: Path, kind: str) -> None:
    """In a real `mmbench` process (argv as bytes, stderr as the terminal gets it), one case per kind."""
    cases = [c for c in built if c.kind == kind]
    case = next(c for c in cases if c.category in ("bytes not UTF-8", "integer beyond 64 bits"))
    assert corpus.run_cli(["load", "--backend", "sqlite", "--dataset", "seed"]).code == 0
    argv = [os.fsencode(a) for a in case.command("sqlite")]
    done = subprocess.run([sys.executable, "-m", "bench.cli", *argv], capture_output=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    outcome = corpus.Outcome(done.returncode, done.stderr.decode("utf-8", "replace"))
    assert corpus.judge(case, outcome) is None, outcome.stderr


def test_the_check_catches_what_it_counts(tmp_path: Path, sqlite_file: Path) -> None:
    """The check is not vacuous: a "malformed" file that loads is counted as not refused and as data lost,
    and an error naming another line or field is counted too."""
    c = corpus.Corpus(tmp_path / "corpus")
    loads = corpus.Case("self-test", "vcf", ("load", "--vcf", str(c.good["vcf"])), str(c.good["vcf"]), 1, "(header)")
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Patient_ID\n1,x\n")
    misplaced = corpus.Case("self-test", "samples", ("load", "--csv", str(c.good["genomics"]), "--samples", str(bad),
                                                     "--patients", str(c.good["patients"])), str(bad), 3, "ID")
    tallies = corpus.check("sqlite", [loads, misplaced])
    vcf, samples = tallies[("vcf", "self-test")], tallies[("samples", "self-test")]
    assert (vcf.unlocated, vcf.data_lost) == (1, 1), vcf.examples
    assert (samples.unlocated, samples.data_lost) == (1, 0), samples.examples
    assert "line 2, not 3" in samples.examples[0]
