"""`mmbench s3 cp/ls` and `load --csv s3://...` against the S3 API (local moto server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from etl.storage import S3Url, copy, data_files, open_lines
from models.errors import UsageError


def test_cp_up_down_and_ls(bucket: str, seed_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = bucket + "-new"  # cp creates the bucket, as the lecture's first step does
    main(["s3", "cp", str(seed_csv), f"s3://{fresh}/in/"])
    main(["s3", "cp", f"s3://{fresh}/in/genomics.csv", f"s3://{bucket}/copy.csv"])
    main(["s3", "cp", f"s3://{bucket}/copy.csv", str(tmp_path / "back.csv")])
    assert (tmp_path / "back.csv").read_bytes() == seed_csv.read_bytes()
    capsys.readouterr()
    main(["s3", "ls", f"s3://{fresh}/", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert [o["url"] for o in listed] == [f"s3://{fresh}/in/genomics.csv"] and listed[0]["size"] == seed_csv.stat().st_size
    main(["s3", "ls"])
    assert f"s3://{fresh}/" in capsys.readouterr().out
    assert "".join(open_lines(f"s3://{fresh}/in/genomics.csv")) == seed_csv.read_text()
    from etl.storage import s3_client

    s3, _ = s3_client()
    s3.delete_object(Bucket=fresh, Key="in/genomics.csv")
    s3.delete_bucket(Bucket=fresh)


@pytest.mark.parametrize("args, says", [
    (["s3", "cp", "a.csv", "b.csv"], "one of SRC and DEST must be an s3://"),
    (["s3", "cp", "/no/such/file.csv", "s3://mmbench-x/"], "no such file"),
    (["s3", "ls", "s3://Bad_Bucket/"], "not a valid bucket name"),
])
def test_usage_errors_are_one_line(args: list[str], says: str, cloud: dict[str, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        main(args)
    assert code.value.code == 2
    message = capsys.readouterr().err.strip()
    assert says in message and len(message.splitlines()) == 1


def test_missing_object_and_unreachable_endpoint(bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["s3", "cp", f"s3://{bucket}/nope.csv", str(tmp_path)])
    assert "404" in capsys.readouterr().err or "Not Found" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no partial file left behind
    monkeypatch.setenv("MMBENCH_S3_URL", "http://127.0.0.1:1")
    with pytest.raises(SystemExit) as code:
        main(["s3", "ls"])
    message = capsys.readouterr().err.strip()
    assert code.value.code == 1 and len(message.splitlines()) == 1
    assert "cannot reach the S3 API at http://127.0.0.1:1" in message and "mmbench up s3" in message


def test_data_files_of_a_prefix(bucket: str, seed_csv: Path) -> None:
    copy(str(seed_csv), f"s3://{bucket}/a/b/one.csv")
    copy(str(seed_csv), f"s3://{bucket}/a/two.csv")
    copy(str(seed_csv), f"s3://{bucket}/a/_SUCCESS")
    copy(str(seed_csv), f"s3://{bucket}/ab.csv")
    assert data_files(f"s3://{bucket}/a/") == [f"s3://{bucket}/a/b/one.csv", f"s3://{bucket}/a/two.csv"]
    assert data_files(f"s3://{bucket}/a") == data_files(f"s3://{bucket}/a/")  # a prefix is a folder
    assert data_files(f"s3://{bucket}/ab.csv") == [f"s3://{bucket}/ab.csv"]
    with pytest.raises(UsageError, match="no objects"):
        data_files(f"s3://{bucket}/zzz/")
    assert S3Url.parse("s3:/b-x/k") == S3Url("b-x", "k")  # what pathlib makes of s3://b-x/k


def test_load_csv_from_s3(bucket: str, seed_csv: Path, sqlite_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`load --csv s3://...` works like a local path (here into SQLite)."""
    copy(str(seed_csv), f"s3://{bucket}/genomics.csv")
    main(["load", "--backend", "sqlite", "--csv", f"s3://{bucket}/genomics.csv"])
    capsys.readouterr()
    main(["query", "variants_min_quality", "--backend", "sqlite", "-p", "min_quality=30", "--json"])
    assert [v["variant_id"] for v in json.loads(capsys.readouterr().out)] == ["3", "4", "7", "9"]
    from backends import open_backend

    with open_backend("sqlite") as b:
        held = b.holdings()
    assert held is not None and held.rows["variants"] == 10
    with pytest.raises(SystemExit):
        main(["load", "--backend", "sqlite", "--csv", f"s3://{bucket}/missing.csv"])
    with open_backend("sqlite") as b:  # a missing object loads nothing: the data stays
        assert len(b.all_variants()) == 10
