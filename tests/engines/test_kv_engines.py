"""The DynamoDB API's two local engines: dynalite (engine `dynamodb`, port 8000) and moto (engine
`moto`, port 5000, also the S3 and Glue APIs of the cloud hands-on).

The first tests talk to the running engines (`mmbench up` starts both); the others check the
recipes themselves (pinned package files, command line, advice when Node.js is missing).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

from bench.engines import SERVICES, EngineError, get_engine
from bench.engines import dynamodb as dynalite_engine
from bench.engines.base import Engine


def running(name: str) -> Engine:
    engine = get_engine(name)
    if engine.probe(timeout=5.0) is None:
        pytest.fail(f"{name} is not answering on {engine.address} ({engine.last_probe_error}); "
                    f"start it with `mmbench up {name}` (log: {engine.log_path})", pytrace=False)
    return engine


def client(service: str, address: str):
    import boto3

    return boto3.client(service, endpoint_url=address, region_name="us-east-1",
                        aws_access_key_id="mmbench", aws_secret_access_key="mmbench")


def test_dynamodb_is_dynalite_on_loopback_with_data_on_disk() -> None:
    engine = running("dynamodb")
    status = engine.status()
    assert status.product.startswith("dynalite") and status.emulator
    assert status.version == dynalite_engine.VERSION
    with urllib.request.urlopen(f"{engine.address}/", timeout=5) as answer:
        assert answer.read().decode().startswith("healthy: dynamodb")
    if status.pid is not None:  # started by `mmbench up` (not, e.g., by docker compose)
        argv = psutil.Process(status.pid).cmdline()
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        assert Path(argv[argv.index("--path") + 1]) == engine.runtime_dir / "data"


def test_moto_serves_dynamodb_s3_and_glue() -> None:
    engine = running("moto")
    assert "moto" in SERVICES and engine.status().version
    name = f"mmbench-smoke-{uuid.uuid4().hex[:12]}"
    dynamodb = client("dynamodb", engine.address)
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    try:
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "p1"}})
        assert dynamodb.get_item(TableName=name, Key={"pk": {"S": "p1"}})["Item"] == {"pk": {"S": "p1"}}
    finally:
        dynamodb.delete_table(TableName=name)
    s3 = client("s3", engine.address)
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="genomics.csv", Body=b"ID,Chromosome\n1,4\n")
        assert s3.get_object(Bucket=name, Key="genomics.csv")["Body"].read() == b"ID,Chromosome\n1,4\n"
    finally:
        s3.delete_object(Bucket=name, Key="genomics.csv")
        s3.delete_bucket(Bucket=name)
    glue = client("glue", engine.address)
    database = name.replace("-", "_")
    glue.create_database(DatabaseInput={"Name": database})
    try:
        assert glue.get_database(Name=database)["Database"]["Name"] == database
    finally:
        glue.delete_database(Name=database)


def test_each_probe_refuses_the_other_emulator() -> None:
    """`mmbench up dynamodb` must not take moto for dynalite (nor the reverse): both speak DynamoDB."""
    dynalite, moto = running("dynamodb"), running("moto")
    dynalite.port, moto.port = moto.port, dynalite.port  # instance attributes: each probes the other
    assert dynalite.probe(timeout=5.0) is None and "not dynalite" in (dynalite.last_probe_error or "")
    assert moto.probe(timeout=5.0) is None and "not moto" in (moto.last_probe_error or "")


def test_dynalite_is_pinned_by_the_projects_own_files() -> None:
    package = json.loads((dynalite_engine.PACKAGE_FILES / "package.json").read_text())
    lock = json.loads((dynalite_engine.PACKAGE_FILES / "package-lock.json").read_text())
    assert package["dependencies"] == {"dynalite": dynalite_engine.VERSION}
    assert lock["packages"]["node_modules/dynalite"]["version"] == dynalite_engine.VERSION
    assert all(entry.get("integrity") for path, entry in lock["packages"].items() if path)


def test_dynalite_command_listens_on_loopback_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_RUNTIME", str(tmp_path / "state"))
    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dynalite_engine, "_node_and_npm", lambda: ("/usr/bin/node", "/usr/bin/npm"))
    engine = get_engine("dynamodb")
    argv = list(engine._command().argv)
    assert argv[:2] == ["/usr/bin/node", str(tmp_path / "cache" / "dynamodb" / "dynalite" / "serve.js")]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "8000"
    assert argv[argv.index("--path") + 1] == str(tmp_path / "state" / "dynamodb" / "data")


def test_missing_node_is_one_line_of_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dynalite_engine.shutil, "which", lambda name: None)
    with pytest.raises(EngineError) as caught:
        get_engine("dynamodb").fetch()
    message = str(caught.value)
    assert "\n" not in message and "Node.js 20" in message and "apt-get install" in message
