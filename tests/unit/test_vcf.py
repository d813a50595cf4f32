"""VCF import: the mapping rules, both readers alike, the 1kg file, and bad input as one line."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from models.errors import DataError, UsageError
from models.vcf import (
    READERS,
    UNKNOWN_AGE,
    VCF_FIRST_PATIENT_ID,
    VcfDataset,
    default_reader,
    one_thousand_genomes,
    one_thousand_genomes_path,
)
from tests.unit.test_cli import run  # noqa: F401 - the CLI fixture (a real process, a SQLite file)

HEADER = """##fileformat=VCFv4.2
##contig=<ID=2>
##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Float,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
"""
HEADER_LINES = HEADER.count("\n")

# Every rule of the mapping, one record each (lines 8..14).
RECORDS = [
    "2\t100\trs1\tA\tG\t50\tPASS\tDP=20\tGT:GQ:DP\t0/1:30:10\t0/0:20:5\t./.:.:.",   # het; hom-ref and no-call are not variants
    "2\t200\t.\tC\tT,G\t.\tPASS\tDP=30\tGT:GQ:DP\t1/2:40:.\t2|2:.:7\t0|1:12.5:3",   # multi-allelic, QUAL/GQ/DP fallbacks
    "chr2\t300\trs3\tT\tC,A\t.\tPASS\t.\tGT:GQ:DP\t./1:.:.\t1|0:9:4\t2/1:8:2",       # partial call, phased, ID + 2 ALTs
    "X\t400\t.\tG\tA\t7\tPASS\tDP=9\tGT\t1\t0\t.",                                  # haploid calls
    "GL000192.1\t500\t.\tA\tT\t9\tPASS\t.\tGT\t1/1\t1/1\t1/1",                      # unplaced contig: skipped
    "2\t600\t.\tA\t<DEL>,C\t9\tPASS\t.\tGT\t1/2\t1/1\t0/0",                         # symbolic ALT: skipped, letter N
    "2\t700\trs7\tA\tT\t.\tPASS\t.\tGT:DP\t1/1:6\t0/1:.\t0/0:.",                     # no quality anywhere: 0
]

EXPECTED = [  # (variant_id, chromosome, position, ref, alt, genotype, quality, depth, sample index)
    ("rs1:S1", "2", 100, "A", "G", "AG", 50.0, 10, 0),
    ("2-200-C-T:S1", "2", 200, "C", "T", "TN", 40.0, 30, 0),  # 1/2: the other ALT is N
    ("2-200-C-G:S1", "2", 200, "C", "G", "NG", 40.0, 30, 0),
    ("2-200-C-G:S2", "2", 200, "C", "G", "GG", 0.0, 7, 1),
    ("2-200-C-T:S3", "2", 200, "C", "T", "CT", 12.5, 3, 2),
    ("rs3-C:S1", "2", 300, "T", "C", "NC", 0.0, 0, 0),
    ("rs3-C:S2", "2", 300, "T", "C", "CT", 9.0, 4, 1),
    ("rs3-C:S3", "2", 300, "T", "C", "NC", 8.0, 2, 2),
    ("rs3-A:S3", "2", 300, "T", "A", "AN", 8.0, 2, 2),
    ("X-400-G-A:S1", "X", 400, "G", "A", "A", 7.0, 9, 0),
    ("2-600-A-C:S1", "2", 600, "A", "C", "NC", 9.0, 0, 0),
    ("rs7:S1", "2", 700, "A", "T", "TT", 0.0, 6, 0),
    ("rs7:S2", "2", 700, "A", "T", "AT", 0.0, 0, 1),
]


def write(tmp_path: Path, text: str, name: str = "calls.vcf") -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def independent_count(path: Path) -> int:
    """What the mapping rules give, counted straight from the text: distinct non-REF alleles per call."""
    count = 0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                for column in line.rstrip("\n").split("\t")[9:]:
                    count += len(set(re.split(r"[/|]", column.split(":")[0])) - {"0", "."})
    return count


@pytest.mark.parametrize("reader", READERS)
def test_mapping_rules(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path, HEADER + "\n".join(RECORDS) + "\n", "calls.vcf.gz")
    data = VcfDataset(path, reader=reader)
    got = [(v.variant_id, v.chromosome, v.position, v.reference_allele, v.alternate_allele, v.genotype,
            v.quality, v.depth, v.patient_id - VCF_FIRST_PATIENT_ID) for v in data.variants()]
    assert got == EXPECTED
    assert data.describe()["skipped"] == {"records on other contigs": 1, "symbolic ALT alleles": 1}
    assert [(p.patient_id, p.name, p.age, p.sex) for p in data.patients()] == [
        (VCF_FIRST_PATIENT_ID + i, f"S{i + 1}", UNKNOWN_AGE, "U") for i in range(3)]
    assert list(data.diagnoses()) == [] and list(data.lab_results()) == []


def test_1kg_count_equals_the_rules_counted_independently() -> None:
    path = one_thousand_genomes_path()
    expected = independent_count(path)
    assert expected == 14_839  # 5,948 0|1 + 4,630 1|0 + 4,261 1|1 calls, all biallelic
    streams = {reader: list(one_thousand_genomes(reader).variants()) for reader in READERS}
    assert len(streams["vcfpy"]) == expected
    assert streams["cyvcf2"] == streams["vcfpy"]  # the fast reader gives the very same entities
    patients = list(one_thousand_genomes().patients())
    assert len(patients) == 629 and patients[0].name == "HG00098"
    first = streams["vcfpy"][0]  # QUAL is '.' in this file: quality is the sample's GQ
    assert (first.variant_id, first.genotype, first.quality, first.depth) == ("2-10205-T-G:HG00177", "TG", 9.0, 1)


def test_variants_stream(tmp_path: Path) -> None:
    """A record is yielded before later lines are read: a bad last line fails only when reached."""
    path = write(tmp_path, HEADER + RECORDS[0] + "\n2\tbad\n")
    stream = VcfDataset(path, reader="vcfpy").variants()
    assert next(stream).variant_id == "rs1:S1"
    with pytest.raises(DataError):
        next(stream)


def test_reader_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMBENCH_VCF_READER", raising=False)
    assert default_reader() == "cyvcf2"  # installed with the vcf-fast extra (part of dev)
    monkeypatch.setenv("MMBENCH_VCF_READER", "vcfpy")
    assert default_reader() == "vcfpy" and one_thousand_genomes().reader == "vcfpy"
    monkeypatch.setenv("MMBENCH_VCF_READER", "pysam")
    with pytest.raises(UsageError, match="MMBENCH_VCF_READER='pysam'; valid: vcfpy, cyvcf2"):
        default_reader()


GOOD = HEADER + "\n".join(RECORDS[:2]) + "\n"


def _truncated(tmp_path: Path) -> Path:
    body = "".join(f"2\t{100 + i}\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t1/1\t0/0\n" for i in range(5000))
    whole = gzip.compress((HEADER + body).encode())
    path = tmp_path / "cut.vcf.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return path


BAD = [  # (what, file text or maker, line, problem)
    ("truncated gzip", _truncated, None, "truncated or corrupt gzip data"),
    ("no fileformat line", GOOD.replace("##fileformat=VCFv4.2\n", ""), 1, "missing header"),
    ("no #CHROM line", "##fileformat=VCFv4.2\n" + RECORDS[0] + "\n", 2, "missing header: expected the #CHROM line"),
    ("empty file", "", 1, "missing header: the file is empty"),
    ("repeated sample", GOOD.replace("S2\tS3", "S1\tS3"), HEADER_LINES, "sample name 'S1' is repeated"),
    ("position not a number", GOOD.replace("2\t200\t", "2\t2oo\t"), 9, "field POS: '2oo' is not an integer"),
    ("missing columns", GOOD + "2\t300\t.\tA\n", 10, "malformed record"),
    ("empty line", HEADER + RECORDS[0] + "\n\n" + RECORDS[1] + "\n", 9, "malformed record: empty line"),
    ("genotype index out of range", GOOD.replace("0/1:30:10", "0/3:30:10"), 8,
     "field GT of sample S1: allele index 3 is out of range: the record has 1 ALT allele(s)"),
    ("not an allele", GOOD.replace("\tA\tG\t", "\tA\tZ\t"), 8, "field ALT: 'Z' is not an allele"),
    ("negative depth", GOOD.replace("0/1:30:10", "0/1:30:-4"), 8, "field DP of sample S1: '-4' is not a depth (at least 0)"),
    ("repeated site id", GOOD + RECORDS[0].replace("\t100\t", "\t150\t") + "\n", 10,
     "field ID: site 'rs1' already appears on line 8"),
]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("what", "text", "line", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_naming_file_line_problem(tmp_path: Path, reader: str, what: str, text,
                                                        line: int | None, problem: str) -> None:
    path = text(tmp_path) if callable(text) else write(tmp_path, text)
    with pytest.raises(DataError) as caught:
        VcfDataset(path, reader=reader).validate()
    message = str(caught.value)
    assert "\n" not in message
    assert re.match(rf"{re.escape(str(path))}:{line or '[0-9]+'}: ", message), message
    assert problem in message


def test_truncated_gzip_names_the_line_where_the_text_breaks(tmp_path: Path) -> None:
    path = _truncated(tmp_path)
    complete = 0
    with gzip.open(path, "rb") as fh:
        try:
            for _ in fh:
                complete += 1
        except EOFError:
            pass
    lines = {reader: _error_line(VcfDataset(path, reader=reader)) for reader in READERS}
    assert lines == {"vcfpy": complete + 1, "cyvcf2": complete + 1}


def _error_line(data: VcfDataset) -> int | None:
    with pytest.raises(DataError) as caught:
        data.validate()
    return caught.value.line


def test_cli_loads_1kg_into_sqlite(run) -> None:  # noqa: F811
    done = run("load", "--backend", "sqlite", "--dataset", "1kg")
    assert done.returncode == 0, done.stderr
    assert "14,839" in done.stdout and "629" in done.stdout
    answer = run("query", "all_variants", "--backend", "sqlite", "--json")
    assert len(json.loads(answer.stdout)) == independent_count(one_thousand_genomes_path())


def test_cli_bad_vcf_loads_nothing(run, tmp_path: Path) -> None:  # noqa: F811
    assert run("load", "--backend", "sqlite", "--dataset", "seed").returncode == 0
    bad = write(tmp_path, GOOD.replace("0/1:30:10", "0/3:30:10"))
    done = run("load", "--backend", "sqlite", "--vcf", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"mmbench: {bad}:8: field GT of sample S1: allele index 3 is out of range: "
                                   "the record has 1 ALT allele(s)")
    after = run("query", "all_variants", "--backend", "sqlite", "--json")
    assert len(json.loads(after.stdout)) == 10  # the seed is still there, untouched
    good = write(tmp_path, GOOD, "good.vcf")
    assert run("load", "--backend", "sqlite", "--vcf", str(good)).returncode == 0
    after = run("query", "all_variants", "--backend", "sqlite", "--json")
    assert [v["variant_id"] for v in json.loads(after.stdout)] == sorted(e[0] for e in EXPECTED[:5])
