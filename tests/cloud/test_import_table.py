"""`mmbench import-table` (DynamoDB's Import from S3) and the lecture's Scan with Depth > 50.

Runs against the DynamoDB engine of MMBENCH_DYNAMODB_URL (the local one by default), with
table names in the test namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from etl.dynamo_import import dynamodb_client, import_table, scan_table, table_name
from etl.storage import copy
from models.errors import DataError, UsageError
from tests.helpers import unique

# Depths of one, two and three digits: where comparing text and comparing numbers disagree.
DEPTHS = """ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth
1,1,100001,A,T,AA,30,50
2,1,150002,C,G,CC,28,6
3,2,500003,G,A,GG,35,100
4,2,750004,T,C,TT,32,55
5,3,300005,A,G,AG,25,9
6,3,450006,C,T,CC,28.5,48
"""


@pytest.fixture
def tables() -> list[str]:
    created: list[str] = []
    yield created
    client, _, _ = dynamodb_client()
    for base in created:
        try:
            client.delete_table(TableName=table_name(base))
        except client.exceptions.ResourceNotFoundException:
            pass


@pytest.fixture
def depths_csv(bucket: str, tmp_path: Path) -> str:
    path = tmp_path / "depths.csv"
    path.write_text(DEPTHS)
    return copy(str(path), f"s3://{bucket}/genomics.csv")


def ids(result: object) -> list[str]:
    return [str(item["ID"]) for item in result.items]  # type: ignore[attr-defined]


def test_strings_versus_numbers(depths_csv: str, tables: list[str]) -> None:
    """The lecture's pitfall: imported as strings, `Depth > 50` is a comparison of text."""
    plain, typed = unique("genomics").replace("-", "_"), unique("typed").replace("-", "_")
    tables += [plain, typed]
    a = import_table(depths_csv, plain)
    b = import_table(depths_csv, typed, typed=True)
    assert (a.items, a.method, a.key, b.items) == (6, "put", "ID", 6)
    every = scan_table(plain)
    assert every.types["Depth"] == "S" and every.items[0]["Depth"] == "50" and every.items[0]["ID"] == "1"
    assert scan_table(typed).types == {k: "N" if k in ("ID", "Chromosome", "Position", "Quality", "Depth") else "S"
                                       for k in every.types}
    # the typed table answers right: 100 and 55 (and not 6 or 9)
    assert ids(scan_table(typed, "Depth > 50")) == ["3", "4"]
    # the string table, asked with a number, matches nothing: DynamoDB never compares N with S ...
    assert ids(scan_table(plain, "Depth > 50")) == []
    # ... and asked with a string (the console's filter, Type String) compares text: "6" > "50",
    # "9" > "50", "100" < "50" - wrong rows in, a right row out
    wrong = scan_table(plain, "Depth > '50'")
    assert ids(wrong) == ["2", "4", "5"] and wrong.scanned == 6
    assert ids(scan_table(typed, "Depth > 50 AND Quality BETWEEN 28.5 AND 40")) == ["3", "4"]


def test_existing_table_and_bad_input_touch_nothing(depths_csv: str, bucket: str, tmp_path: Path,
                                                    tables: list[str]) -> None:
    name = unique("genomics").replace("-", "_")
    tables.append(name)
    import_table(depths_csv, name)
    with pytest.raises(UsageError, match="already exists"):
        import_table(depths_csv, name)
    bad = tmp_path / "bad.csv"
    bad.write_text(DEPTHS + "4,9,1,A,C,AC,20,10\n")  # a duplicate key
    bad_url = copy(str(bad), f"s3://{bucket}/bad.csv")
    with pytest.raises(DataError, match="duplicate key '4'"):
        import_table(bad_url, name, replace=True)
    assert len(scan_table(name).items) == 6  # the refused import left the table as it was
    import_table(depths_csv, name, typed=True, replace=True)
    assert scan_table(name).types["Depth"] == "N"


def test_cli(depths_csv: str, tables: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    name = unique("cli").replace("-", "_")
    tables.append(name)
    main(["import-table", depths_csv, "--table", name, "--json"])
    assert json.loads(capsys.readouterr().out)["items"] == 6
    main(["scan-table", name, "--where", "Depth > '50'", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [i["ID"] for i in out["items"]] == ["2", "4", "5"] and out["attribute_types"]["Depth"] == "S"
    main(["scan-table", name, "--where", "Depth > '50'"])
    assert "Depth (S)" in capsys.readouterr().out
    main(["scan-table", name, "--where", "Depth > 50"])  # nothing matches: says why, not an empty table
    said = " ".join(capsys.readouterr().out.split())
    assert "0 of 6 items read" in said and "never compares a number with a string" in said
    with pytest.raises(SystemExit) as code:
        main(["scan-table", name, "--where", "Depth + 1 > 2"])
    assert code.value.code == 2 and "arithmetic" in capsys.readouterr().err


def test_import_table_api_where_the_engine_has_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--method import: DynamoDB's own ImportTable, which only AWS has (moto accepts the call but
    imports nothing from a CSV, and its DynamoDB-JSON import fails in this version; dynalite has
    none). Checked in moto's in-process AWS: what is asked of ImportTable, and the typed items
    staged in S3 as DynamoDB JSON with N for numbers."""
    from moto import mock_aws

    import etl.dynamo_import as di
    from etl import storage
    from etl.aws import CloudError

    for var in ("MMBENCH_S3_URL", "MMBENCH_DYNAMODB_URL"):
        monkeypatch.setenv(var, "aws")
    for var in ("MMBENCH_AWS_REGION", "MMBENCH_DYNAMODB_REGION"):
        monkeypatch.setenv(var, "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    path = tmp_path / "g.csv"
    path.write_text(DEPTHS)
    with mock_aws():
        url = copy(str(path), "s3://mmbench-import/genomics.csv")
        client, ep, on_aws = dynamodb_client()
        assert on_aws and ep.url is None
        s3, s3ep = storage.s3_client()
        asked: list[dict] = []
        staged: list[bytes] = []
        client.meta.events.register("provide-client-params.dynamodb.ImportTable", lambda params, **kw: asked.append(params))
        s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **kw: staged.append(params["Body"]))
        monkeypatch.setattr(di, "dynamodb_client", lambda: (client, ep, True))
        monkeypatch.setattr(storage, "s3_client", lambda ep=None: (s3, s3ep))

        def attempt(**kwargs: object) -> None:
            try:
                assert di.import_table(url, **kwargs).method == "import"  # type: ignore[arg-type]
            except CloudError as exc:  # moto's own import fails; the request is what is checked
                assert "ImportTable failed" in str(exc)

        attempt(table="as_strings")
        assert asked[0]["InputFormat"] == "CSV"
        assert asked[0]["S3BucketSource"] == {"S3Bucket": "mmbench-import", "S3KeyPrefix": "genomics.csv"}
        assert asked[0]["TableCreationParameters"]["KeySchema"] == [{"AttributeName": "ID", "KeyType": "HASH"}]
        assert asked[0]["TableCreationParameters"]["AttributeDefinitions"] == [{"AttributeName": "ID", "AttributeType": "S"}]
        attempt(table="typed", typed=True)
        assert asked[1]["InputFormat"] == "DYNAMODB_JSON"
        assert asked[1]["S3BucketSource"]["S3KeyPrefix"] == "genomics.csv.mmbench-typed/items.json"
        assert asked[1]["TableCreationParameters"]["AttributeDefinitions"] == [{"AttributeName": "ID", "AttributeType": "N"}]
        lines = [json.loads(line) for line in staged[0].decode().splitlines()]
        assert lines[2]["Item"]["Depth"] == {"N": "100"} and lines[2]["Item"]["Genotype"] == {"S": "GG"}
        assert len(lines) == 6
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mmbench-import").get("Contents", [])]
        assert keys == ["genomics.csv"]  # the staged JSON is removed afterwards
