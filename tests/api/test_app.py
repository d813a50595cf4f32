"""The genomics REST API over SQLite (in-process ASGI client): routes, paging, errors, read-only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import BackendPool, create_app, decode_token, encode_token
from backends import open_backend
from backends.base import EngineUnavailable
from models.catalog import READS
from models.dataset import MemoryDataset
from models.seed import seed_dataset
from tests.helpers import other_namespace


@pytest.fixture(scope="module")
def client(seed_sqlite: str) -> Iterator[TestClient]:
    with TestClient(create_app("sqlite")) as c:
        yield c


def all_pages(client: TestClient, **params: object) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    token = None
    while True:
        r = client.get("/genomics", params={**params, **({"next": token} if token else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == len(body["items"])
        seen += [v["ID"] for v in body["items"]]
        pages += 1
        token = body["next"]
        if token is None:
            return seen, pages


def test_lecture_requests(client: TestClient) -> None:
    """The issue's checks: chromosome 4 -> IDs 7 and 8; limit=3 pages through all 10."""
    r = client.get("/genomics", params={"chromosome": "4"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    items = r.json()["items"]
    assert [v["ID"] for v in items] == ["7", "8"]
    assert items[0] == {"ID": "7", "Chromosome": "4", "Position": 900007, "Reference_Allele": "G",
                        "Alternate_Allele": "T", "Genotype": "GT", "Quality": 31.0, "Depth": 52, "Patient_ID": 12354}
    ids, pages = all_pages(client, limit=3)
    assert sorted(ids, key=int) == [str(i) for i in range(1, 11)] and len(ids) == 10 and pages == 4
    assert client.get("/genomics/7").json()["Position"] == 900007


@pytest.mark.parametrize("limit", [1, 2, 4, 9, 10, 11, 10_000])
def test_every_page_size_returns_every_row_once(client: TestClient, limit: int) -> None:
    ids, pages = all_pages(client, limit=limit)
    assert sorted(ids) == sorted(str(i) for i in range(1, 11)) and len(set(ids)) == 10
    assert pages == max(1, -(-10 // limit))
    one, _ = all_pages(client, limit=limit, chromosome="chr2")
    assert one == ["3", "4"]


def test_token_is_opaque_and_checked(client: TestClient) -> None:
    token = client.get("/genomics", params={"limit": 2}).json()["next"]
    assert decode_token(token, None) == (0, 150002, "2")
    r = client.get("/genomics", params={"limit": 2, "next": token, "chromosome": "1"})
    assert r.status_code == 400 and "another chromosome filter" in r.json()["error"]
    for bad in ("abc", "x" * 40, encode_token(None, (0, 1, "1"))[:-3] + "!!!"):
        r = client.get("/genomics", params={"next": bad})
        assert r.status_code == 400 and "invalid `next` token" in r.json()["error"]


@pytest.mark.parametrize("path, status, says", [
    ("/queries/nope", 404, "unknown query 'nope'"),
    ("/queries/add_patient", 404, "read-only"),
    ("/genomics/999", 404, "no variant call with ID '999'"),
    ("/genomics?chromosome=99", 400, "is not a chromosome"),
    ("/genomics?limit=0", 422, "limit"),
    ("/genomics?limit=x", 422, "limit"),
    ("/queries/variants_min_depth", 422, "min_depth: Field required"),
    ("/queries/variants_min_depth?min_depth=1.5", 422, "min_depth"),
    ("/queries/variants_min_depth?min_depth=99999999999", 422, "min_depth"),
    ("/queries/variants_min_quality?min_quality=inf", 422, "finite"),
    ("/queries/patients_with_diagnosis?code=ZZZ", 400, "not an ICD-10-CM code"),
    ("/queries/lab_history?patient_id=1&test_name=x&since=2020-13-01&until=2021-01-01", 422, "since"),
    ("/queries/variant_by_id?variant_id=%20", 400, "is empty"),
    ("/nope", 404, "no such path"),
])
def test_errors_are_json_with_the_right_status(client: TestClient, path: str, status: int, says: str) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert says in r.json()["error"] and "Traceback" not in r.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(client: TestClient, method: str) -> None:
    r = client.request(method, "/genomics", json={"ID": "11"})
    assert r.status_code == 405 and "read-only" in r.json()["error"]
    assert len(client.get("/genomics").json()["items"]) == 10


def test_every_read_query_answers_like_the_backend(client: TestClient) -> None:
    from models.catalog import CATALOG
    from models.reference import Reference

    ref = Reference(seed_dataset())
    params = {"variant_by_id": {"variant_id": "7"}, "variants_by_chromosome": {"chromosome": "2"},
              "variants_in_region": {"chromosome": "1", "start": 1, "end": 150002},
              "variants_min_depth": {"min_depth": 50}, "variants_min_quality": {"min_quality": 30.0},
              "all_variants": {}, "patient_by_id": {"patient_id": 12345}, "patients_older_than": {"age": 50},
              "patients_with_diagnosis": {"code": "I10"}, "diagnosis_counts": {"min_age": 40},
              "lab_history": {"patient_id": 12345, "test_name": "HbA1c", "since": "2020-01-01", "until": "2025-12-31"},
              "carriers_with_diagnosis": {"chromosome": "1", "start": 1, "end": 200000, "code": "I10"},
              "patients_sharing_diagnoses": {"patient_id": 12345}, "comorbid_codes": {"code": "I10"}}
    assert set(params) == {q.value for q in READS}
    for name, p in params.items():
        r = client.get(f"/queries/{name}", params=p)
        assert r.status_code == 200, (name, r.text)
        spec = CATALOG[name]  # type: ignore[index]
        expected = spec.canonical(getattr(ref, name)(**spec.parse_params(p)))
        assert r.json()["answer"] == expected, name


def test_openapi_describes_every_read_query(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for q in READS:
        op = doc["paths"][f"/queries/{q.value}"]["get"]
        from models.catalog import CATALOG

        assert [p["name"] for p in op.get("parameters", [])] == [p.name for p in CATALOG[q].params]
    depth = doc["paths"]["/queries/variants_min_depth"]["get"]["parameters"][0]
    assert depth["required"] and depth["schema"]["type"] == "integer"
    assert set(doc["paths"]) >= {"/genomics", "/genomics/{id}", "/health", "/queries"}
    assert client.get("/docs").status_code == 200


def test_engine_down_is_503_naming_it(seed_sqlite: str) -> None:
    def unreachable(name: str) -> object:  # what every backend raises when its engine does not answer
        raise EngineUnavailable(name, "PostgreSQL", "127.0.0.1:1", "connection refused")

    with TestClient(create_app("postgres", opener=unreachable)) as c:  # type: ignore[arg-type]
        r = c.get("/genomics")
        assert r.status_code == 503 and r.json()["backend"] == "postgres"
        assert "cannot reach PostgreSQL at 127.0.0.1:1" in r.json()["error"] and "Traceback" not in r.text
        assert c.get("/health").status_code == 503


def fresh_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMBENCH_SQLITE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")


def test_nothing_loaded_is_503_saying_what_to_do(seed_sqlite: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_sqlite(monkeypatch, tmp_path)
    with other_namespace(), TestClient(create_app("sqlite")) as c:
        r = c.get("/genomics")
        assert r.status_code == 503 and "load --backend sqlite" in r.json()["error"]
        h = c.get("/health")
        assert h.status_code == 200 and h.json()["holdings"] is None


def test_a_load_elsewhere_is_followed(seed_sqlite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `mmbench load` in another process, the pooled instances are replaced and the API
    answers from the new data."""
    fresh_sqlite(monkeypatch, tmp_path)
    with other_namespace():
        with open_backend("sqlite") as b:
            b.load(seed_dataset())
        app = create_app("sqlite", recheck_s=0.0)
        pool: BackendPool = app.state.pool
        with TestClient(app) as c:
            assert c.get("/genomics").json()["count"] == 10
            generation = pool._generation
            seed = seed_dataset()
            three = MemoryDataset("three", patient_list=seed.patient_list, variant_list=seed.variant_list[:3])
            with open_backend("sqlite") as b:
                b.load(three)
            assert c.get("/genomics").json()["count"] == 3
            assert pool._generation == generation + 1
            assert c.get("/health").json()["holdings"]["dataset"] == "three"


def test_pool_caps_instances(seed_sqlite: str) -> None:
    opened: list[object] = []

    def opener(name: str) -> object:
        b = open_backend(name)
        opened.append(b)
        return b

    pool = BackendPool("sqlite", size=2, opener=opener)  # type: ignore[arg-type]
    with pool.borrow() as a, pool.borrow() as b:
        assert a is not b
    with pool.borrow():
        pass
    assert len(opened) == 2
    pool.close()


def test_binds_loopback_by_default() -> None:
    from api.server import DEFAULT_HOST, check_bind
    from models.errors import UsageError

    assert DEFAULT_HOST == "127.0.0.1"
    with pytest.raises(UsageError):
        check_bind("not a host", 8080)
    assert os.environ.get("MMBENCH_NAMESPACE")  # tests never serve the user's namespace
