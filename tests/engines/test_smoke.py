"""One round trip per local engine with its Python driver, against the running engines.

`make test` starts the engines (`python -m bench.engines up`) before pytest. These tests do not
start anything: an engine that does not answer fails with a message saying how to start it.
"""

from __future__ import annotations

import uuid

import pytest

from bench.engines import Engine, get_engine


def running(name: str) -> Engine:
    """The engine ``name`` if it answers its probe; fail the test otherwise."""
    engine = get_engine(name)
    if engine.probe(timeout=5.0) is None:
        pytest.fail(
            f"{name} is not answering on {engine.address} ({engine.last_probe_error}); "
            f"start it with `python -m bench.engines up {name}` (log: {engine.log_path})",
            pytrace=False,
        )
    return engine


def test_postgres_select_1() -> None:
    import psycopg

    engine = running("postgres")
    with psycopg.connect(
        host=engine.host, port=engine.port, user="postgres", dbname="mmbench", connect_timeout=30
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_dynamodb_create_put_get() -> None:
    import boto3

    engine = running("dynamodb")
    client = boto3.client(
        "dynamodb",
        endpoint_url=engine.address,
        region_name="us-east-1",
        aws_access_key_id="mmbench",
        aws_secret_access_key="mmbench",
    )
    table = f"mmbench_smoke_{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        client.get_waiter("table_exists").wait(TableName=table)
        client.put_item(TableName=table, Item={"pk": {"S": "p1"}, "age": {"N": "42"}})
        item = client.get_item(TableName=table, Key={"pk": {"S": "p1"}}, ConsistentRead=True)["Item"]
        assert item == {"pk": {"S": "p1"}, "age": {"N": "42"}}
    finally:
        client.delete_table(TableName=table)


def test_mongodb_ping_insert_find() -> None:
    from pymongo import MongoClient

    engine = running("mongodb")
    with MongoClient(
        engine.host, engine.port, directConnection=True, serverSelectionTimeoutMS=60000
    ) as client:
        assert client.admin.command("ping")["ok"] == 1
        db_name = f"mmbench_smoke_{uuid.uuid4().hex[:12]}"
        try:
            coll = client[db_name]["patients"]
            coll.insert_one({"_id": 1, "name": "Ada", "age": 36})
            assert coll.find_one({"age": {"$gt": 30}}) == {"_id": 1, "name": "Ada", "age": 36}
        finally:
            client.drop_database(db_name)


def test_cassandra_release_version() -> None:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    engine = running("cassandra")
    cluster = Cluster(
        [engine.host],
        port=engine.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())},
        protocol_version=5,
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version.startswith("5.0")
    finally:
        cluster.shutdown()


def test_neo4j_return_1() -> None:
    from neo4j import GraphDatabase

    engine = running("neo4j")
    with GraphDatabase.driver(engine.address, auth=None) as driver:
        with driver.session() as session:
            assert session.run("RETURN 1 AS one").single()["one"] == 1
