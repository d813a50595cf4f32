"""The rules of models.validate, one by one, and that every path applies the same ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from models import validate
from models.catalog import CATALOG, Q
from models.dataset import ENTITY_KINDS
from models.errors import DataError, UsageError
from models.generate import SyntheticDataset
from models.readers import iter_entities_json, read_genomics_csv, read_samples
from models.seed import seed_dataset
from models.vcf import VcfDataset


@pytest.mark.parametrize("text", ["0", "-5", "+7", " 42 ", "9223372036854775807", "-9223372036854775808", "007"])
def test_integers_accepted(text: str) -> None:
    assert validate.integer(text) == int(text)


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "1" * 5000, 2**63, "1_000",
                                   "١٢", "１２", "१२", "1.0", "1e3", "", " ", "0x10", True, 1.0, None, "٣"])
def test_integers_refused(value: object) -> None:
    with pytest.raises(ValueError):
        validate.integer(value)


@pytest.mark.parametrize(("text", "value"), [("30", 30.0), ("-2.5", -2.5), ("1e-3", 0.001), (".5", 0.5), ("5.", 5.0),
                                             ("0", 0.0), ("1e15", 1e15), ("1e-15", 1e-15)])
def test_numbers_accepted(text: str, value: float) -> None:
    assert validate.number(text) == value


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e400", "1e-400", "1e16", "1e-16", "1_000", "٣٫٥",
                                   "３.５", "0x1p3", "1,5", "", float("nan"), float("inf"), 10**20, True])
def test_numbers_refused(value: object) -> None:
    with pytest.raises(ValueError):
        validate.number(value)


def test_dates_only_iso() -> None:
    assert validate.date("2024-01-31") == dt.date(2024, 1, 31)
    assert dt.date.fromisoformat("20240101") == dt.date.fromisoformat("2024-W01-1")  # what Python 3.11 would accept
    for text in ("20240101", "2024-W01-1", "2024-001", "2024-1-05", "2024-02-30", "2024-01-01T00:00", "0000-01-01",
                 "２０２４-01-01", "2024/01/01"):
        with pytest.raises(ValueError):
            validate.date(text)


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "a\udcffb", "a\x01", "a\x7f", "a\x85", "", "   ", "x" * 201, 5])
def test_text_refused(value: object) -> None:
    with pytest.raises(ValueError):
        validate.name(value)


def test_text_stripped_and_bounded() -> None:
    assert validate.name("  Zoë Åberg  ") == "Zoë Åberg"
    assert validate.name("x" * 200) == "x" * 200
    assert validate.variant_id("v" * 500) == "v" * 500


@pytest.mark.parametrize(("value", "ok"), [(-1, True), (0, True), (150, True), (151, False), (-2, False)])
def test_age_domain(value: int, ok: bool) -> None:
    if ok:
        assert validate.age(value) == value
    else:
        with pytest.raises(ValueError):
            validate.age(value)


@pytest.mark.parametrize(("genotype", "ref", "alt", "ok"), [
    ("AG", "A", "G", True), ("GA", "A", "G", True), ("AA", "A", "T", True), ("G", "A", "G", True),
    ("NG", "A", "G", True), ("GGGG", "A", "G", True), ("ATA", "AT", "A", True), ("AAT", "AT", "A", True),
    ("GC", "A", "G", False), ("T", "A", "G", False), ("ATT", "AT", "A", False), ("A" * 60 + "C", "A", "AA", False),
])
def test_genotype_spelled_by_the_calls_alleles(genotype: str, ref: str, alt: str, ok: bool) -> None:
    assert validate.spelled_by(genotype, (ref, alt, "N")) is ok


def test_json_rules() -> None:
    assert validate.loads(' [ {"a": 1} ] ') == [{"a": 1}]
    for text, fragment in (('{"a": 1, "a": 2}', "repeated key 'a'"), ("[1] x", "unexpected text after"),
                           ("[" * 20 + "]" * 20, "nested deeper than 16"), ("[" * 100_000, "nested deeper"),
                           ("[1,]", "invalid JSON at line 1 column 4")):
        with pytest.raises(ValueError, match=fragment.replace("[", r"\[")):
            validate.loads(text)
    assert isinstance(validate.loads("NaN"), validate.JsonConstant)
    assert isinstance(validate.loads("1" * 30), validate.LongInteger)


def test_bom_accepted_in_csv_and_json(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_bytes(b"\xef\xbb\xbfID,Patient_ID\r\n1,5\r\n")
    assert read_samples(csv)["1"][0] == 5
    js = tmp_path / "p.json"
    js.write_bytes(b'\xef\xbb\xbf[{"patient_id": 1, "name": "A", "age": 3, "sex": "F"}]')
    assert len(list(iter_entities_json(js, "patients"))) == 1


@pytest.mark.parametrize(("text", "where"), [
    ("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth,Depth\n", ":1: field Depth: column repeated"),
    ("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n1,1,5,A,G,AC,30,5\n",
     ":2: field Genotype: 'AC' is not spelled with the call's alleles"),
    ("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n1,1,1_000,A,G,AG,30,5\n",
     ":2: field Position: '1_000' is not an integer"),
    ('ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n"1\n2",1,5,A,G,AG,30,5\n',
     ":2: field ID: '1\\n2' contains the control character U+000A"),
    (("ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n\n1,1,5,A,G,AG,30,5\n\n"
      "3,1,5,A,G,AG,30,x\n"), ":5: field Depth:"),
])
def test_csv_errors_name_the_line_the_record_starts_on(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "g.csv"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        list(read_genomics_csv(path))
    assert str(caught.value).startswith(str(path) + where.split(" field")[0]), caught.value
    assert where.split(":", 2)[2].strip() in str(caught.value)


def test_json_errors_name_the_line_the_object_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    objects = [{"diagnosis_id": i, "patient_id": 1, "code": "I10", "diagnosed_on": "2024-01-01"} for i in range(3)]
    objects[2]["diagnosed_on"] = "20240101"
    path.write_text(json.dumps(objects, indent=1))
    with pytest.raises(DataError, match=r"d.json:14: field diagnosed_on: '20240101' is not a date written YYYY-MM-DD"):
        list(iter_entities_json(path, "diagnoses"))


def test_parameters_follow_the_same_rules() -> None:
    spec = CATALOG[Q.PATIENT_BY_ID]
    for bad in ("9223372036854775808", "١٢", "1_000", "\udcff"):
        with pytest.raises(UsageError, match="parameter patient_id"):
            spec.parse_params({"patient_id": bad})
    variants = CATALOG[Q.ADD_VARIANTS]
    good = {"variant_id": "n1", "chromosome": "4", "position": 5, "reference_allele": "A", "alternate_allele": "G",
            "genotype": "AG", "quality": 30, "depth": 40}
    assert variants.parse_params({"variants": json.dumps([good])})["variants"][0].position == 5
    for change, fragment in (({"genotype": "AC"}, "field genotype"), ({"position": "5"}, "is not an integer"),
                             ({"position": 0}, "not a position"), ({"extra": 1}, "field extra: unknown field")):
        with pytest.raises(UsageError, match=f"parameter variants .*variant 0: .*{fragment}"):
            variants.parse_params({"variants": json.dumps([{**good, **change}])})


def test_data_that_skips_validation_obeys_the_rules() -> None:
    """Generated data is loaded without a validation pass (valid by construction): it must be."""
    for data in (seed_dataset(), SyntheticDataset(scale=1, seed=3)):
        for kind in ENTITY_KINDS:
            for entity in data.stream(kind):
                values = {f: getattr(entity, f) for f in validate.RULES[kind]}
                assert validate.MAKERS[kind](values) == entity


def test_vcf_genotype_spells_other_alts_as_n(tmp_path: Path) -> None:
    path = tmp_path / "m.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
                    "2\t5\t.\tA\tG,T\t9\tPASS\t.\tGT\t1/2\n")
    for reader in ("vcfpy", "cyvcf2"):
        got = {v.alternate_allele: v.genotype for v in VcfDataset(path, reader=reader).variants()}
        assert got == {"G": "GN", "T": "NT"}
        for v in VcfDataset(path, reader=reader).variants():
            validate.check_genotype(v.genotype, v.reference_allele, v.alternate_allele)
