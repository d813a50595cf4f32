"""The results file's schema: the JSON Schema in the repo is current, a fresh run's file validates
against it, malformed files are refused in one line, and the README documents every field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from bench.overhead import NoopBackend
from bench.results import load_results
from bench.runner import RunSettings, Runner, Target
from bench.schema import SCHEMA_FILE, BackendEntry, PhaseResult, ResultsFile, json_schema
from models.catalog import Q
from models.errors import UsageError

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = RunSettings(datasets=("seed",), queries=(Q.VARIANT_BY_ID, Q.DIAGNOSIS_COUNTS, Q.ADD_PATIENT),
                           workloads=("A",), ops=40, warmup=2, repeat=2)
    doc = Runner(settings, [Target("noop", NoopBackend), Target("noop2", NoopBackend)]).run()
    return doc.write(tmp_path_factory.mktemp("results"))


def test_the_json_schema_in_the_repo_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run: python -m bench.schema"


def test_a_fresh_results_file_validates_against_the_json_schema(fresh: Path) -> None:
    doc = json.loads(fresh.read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert doc["schema"] == "mmbench.results/2"
    query = next(r for r in doc["results"] if r["phase"] == "variant_by_id")
    assert len(query["rounds"]) == 2 and query["stats"]["rounds"] == 2
    assert query["stats"]["vs_fastest"]["verdict"] in ("≈", "slower", "faster")
    assert query["explain"]["statements"] and query["cpu"]["client_us_per_op"] > 0


def _broken(fresh: Path, tmp_path: Path, change) -> Path:
    doc = json.loads(fresh.read_text())
    change(doc)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d["results"][0].__setitem__("histogram", "bm90IGEgaGlzdG9ncmFt"), "not an encoded HdrHistogram"),
    (lambda d: d["results"][0].pop("backend"), "results.0.backend: Field required"),
    (lambda d: d["results"][0]["latency"].__setitem__("p50_us", "fast"), "results.0.latency.p50_us"),
    (lambda d: d["results"][0]["latency"].__setitem__("p99_us", 0.0), "percentiles out of order"),
    (lambda d: d.__setitem__("backends", []), "backends: Input should be a valid dictionary"),
    (lambda d: d.__setitem__("surprise", 1), "surprise: Extra inputs are not permitted"),
])
def test_malformed_results_files_are_refused_in_one_line(fresh: Path, tmp_path: Path, change, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_results(_broken(fresh, tmp_path, change))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_version_1_files_are_still_read(fresh: Path, tmp_path: Path) -> None:
    def to_v1(d: dict) -> None:
        d["schema"] = "mmbench.results/1"
        for r in d["results"]:
            for key in ("rounds", "stats", "cpu", "explain", "explain_error", "server"):
                r.pop(key, None)

    doc = load_results(_broken(fresh, tmp_path, to_v1))
    assert doc["schema"] == "mmbench.results/1" and doc["results"][0]["rounds"] == []


def _fields(model: type) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def test_the_readme_documents_every_field() -> None:
    text = README.read_text()
    section = text[text.index("## Results file"):]
    section = section[:section.index("\n## ", 4)]
    documented = set(re.findall(r"`([a-z_0-9]+)`", section))
    for model in (ResultsFile, BackendEntry, PhaseResult):
        missing = _fields(model) - documented
        assert not missing, f"README, section Results file, lacks {model.__name__} fields: {sorted(missing)}"
