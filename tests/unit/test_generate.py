"""The synthetic generator: deterministic, streaming, and shaped like real data."""

from __future__ import annotations

from collections import Counter
from itertools import islice

from models.catalog import CATALOG, READS
from models.generate import GRCH38_LENGTHS, SyntheticDataset
from models.readers import ICD10CM
from models.reference import Reference
from models.sampling import SampleSource


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = SyntheticDataset(1, 5), SyntheticDataset(1, 5), SyntheticDataset(1, 6)
    for kind in ("patients", "diagnoses", "lab_results", "variants"):
        assert list(islice(a.stream(kind), 500)) == list(islice(b.stream(kind), 500))
    assert list(islice(a.variants(), 50)) != list(islice(c.variants(), 50))


def test_sizes_scale() -> None:
    data = SyntheticDataset(2, 1).materialize()
    assert len(data.patient_list) == 2000 and len(data.variant_list) == 20000
    assert 2.0 <= len(data.diagnosis_list) / 2000 <= 4.0
    assert 7 <= len(data.lab_result_list) / 2000 <= 14
    ids = [d.diagnosis_id for d in data.diagnosis_list]
    assert ids == sorted(set(ids))


def test_variants_look_like_calls() -> None:
    data = SyntheticDataset(1, 3).materialize()
    sexes = {p.patient_id: p.sex for p in data.patient_list}
    chroms = Counter(v.chromosome for v in data.variant_list)
    assert chroms["1"] > chroms["21"] > chroms.get("MT", 0)
    for v in data.variant_list:
        assert 1 <= v.position <= GRCH38_LENGTHS[v.chromosome]
        assert v.reference_allele != v.alternate_allele
        assert set(v.genotype) <= {v.reference_allele, v.alternate_allele} and len(v.genotype) == 2
        assert v.depth >= 1 and 0 < v.quality <= 99
        assert v.patient_id in sexes
        if v.chromosome == "Y":
            assert sexes[v.patient_id] == "M"


def test_diagnoses_cluster_and_codes_are_icd10cm() -> None:
    data = SyntheticDataset(3, 9).materialize()
    codes: dict[int, set[str]] = {}
    for d in data.diagnosis_list:
        assert ICD10CM.match(d.code)
        codes.setdefault(d.patient_id, set()).add(d.code)
    n = len(data.patient_list)
    has = lambda c: sum(1 for s in codes.values() if c in s) / n  # noqa: E731
    both = sum(1 for s in codes.values() if {"I10", "E11.9"} <= s) / n
    assert has("I10") > has("E11.9") > has("N39.0")
    assert both > 1.3 * has("I10") * has("E11.9")  # co-occurrence, not independence
    ages = sorted(p.age for p in data.patient_list)
    assert 18 <= ages[0] and ages[-1] <= 95 and 50 <= ages[len(ages) // 2] <= 68


def test_lab_results_have_units_and_dates_in_order() -> None:
    data = SyntheticDataset(1, 4).materialize()
    series: dict[tuple[int, str], list] = {}
    for r in data.lab_result_list:
        assert r.unit and r.value > 0
        series.setdefault((r.patient_id, r.test_name), []).append(r.taken_on)
    assert all(dates == sorted(dates) for dates in series.values())
    assert sum(1 for dates in series.values() if len(dates) > 1) > len(series) / 3


def test_sampled_parameters_give_non_empty_answers_mostly() -> None:
    data = SyntheticDataset(1, 2).materialize()
    ref = Reference(data)
    source = SampleSource.from_dataset(data, seed=1)
    import random

    rng = random.Random(0)
    for query in READS:
        spec = CATALOG[query]
        answers = [getattr(ref, query)(**spec.sample(source, rng, i)) for i in range(10)]
        non_empty = sum(1 for a in answers if a)
        assert non_empty >= 7, query
