"""`mmbench run`, `report` and `compare` as a user runs them: real processes, SQLite in a temp dir."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from bench.results import SCHEMA


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200",
            "MMBENCH_POSTGRES_URL": "postgresql+psycopg://postgres:hunter2@127.0.0.1:9/mmbench"}


def mmbench(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], env=env, text=True, capture_output=True,
                          timeout=timeout)


def only_file(directory: Path, pattern: str = "*.json") -> Path:
    (path,) = directory.glob(pattern)
    return path


def test_run_writes_a_results_file_and_report_renders_it(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = mmbench(env, "run", "--backends", "sqlite", "--dataset", "seed", "--ops", "200", "--out", str(out))
    assert done.returncode == 0, done.stderr
    path = only_file(out)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}\.json", path.name)
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA and doc["status"] == "complete"
    assert doc["tool"]["version"] and doc["tool"]["git_commit"]
    assert {"cpu_model", "cpu_cores_logical", "memory_bytes", "os"} <= set(doc["machine"])
    assert doc["python"]["version"] and doc["packages"]["sqlalchemy"]
    assert doc["settings"]["ops"] == 200 and doc["settings"]["datasets"] == ["seed"]
    assert doc["datasets"]["seed"]["rows"] == {"patients": 12, "diagnoses": 21, "lab_results": 22, "variants": 10}
    sqlite = doc["backends"]["sqlite"]
    assert sqlite["engine"]["product"] == "SQLite" and sqlite["engine"]["emulator"] is False and sqlite["driver"]
    assert sqlite["loads"]["seed"]["kinds"]["variants"]["rows_per_s"] > 0
    assert len(doc["results"]) == 17
    for r in doc["results"]:
        assert r["status"] == "ok" and r["ops"] == 200 and r["tier"] == "native"
        assert set(r["latency"]) >= {"p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"}
        assert HdrHistogram.decode(r["histogram"].encode()).get_total_count() == 200
    assert "variant_by_id" in done.stdout and "sqlite" in done.stdout and "1.0×" in done.stdout

    html = tmp_path / "report.html"
    shown = mmbench(env, "report", str(path), "--html", str(html))
    assert shown.returncode == 0, shown.stderr
    page = html.read_text()
    assert page.count('src="data:image/png;base64,') >= 19  # heat map, load, one per query
    assert not re.search(r"(src|href)=\"https?:", page)     # self-contained

    compared = mmbench(env, "compare", str(path), str(path))
    assert compared.returncode == 0 and compared.stdout.count("1.00") >= 34


def test_an_unreachable_engine_fails_the_run_but_the_others_are_measured(env: dict[str, str], tmp_path: Path) -> None:
    done = mmbench(env, "run", "--backends", "postgres,sqlite", "--dataset", "seed", "--queries", "patient_by_id",
                   "--ops", "20", "--out", str(tmp_path))
    assert done.returncode == 1
    doc = json.loads(only_file(tmp_path).read_text())
    assert doc["status"] == "failures"
    assert doc["backends"]["postgres"]["status"] == "unavailable"
    assert [(r["backend"], r["status"]) for r in doc["results"]] == [("sqlite", "ok")]
    assert "hunter2" not in only_file(tmp_path).read_text()  # never a credential
    assert "postgres: skipped: postgres: cannot reach PostgreSQL" in done.stderr


def test_ctrl_c_writes_what_was_measured(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--backends", "sqlite", "--dataset", "seed",
                             "--duration", "2", "--out", str(tmp_path)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    started = 0
    for line in proc.stderr:
        started += line.startswith("sqlite · seed · ") and "load" not in line
        if started == 3:  # two phases done, the third begun: let it measure for a while (of 2 s)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            break
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    doc = json.loads(only_file(tmp_path).read_text())
    assert doc["status"] == "interrupted" and doc["finished_at"]
    assert [r["status"] for r in doc["results"]] == ["ok", "ok", "interrupted"]
    assert doc["results"][2]["ops"] > 0  # the part of the interrupted phase that was measured


@pytest.mark.parametrize(("args", "fragment"), [
    (["--ops", "5", "--duration", "1"], "give --ops or --duration, not both"),
    (["--workers", "0"], "Invalid value for '--workers'"),
    (["--repeat", "0"], "Invalid value for '--repeat'"),
    (["--out", "/proc/version"], "--out /proc/version: not a directory"),
    (["--queries", "nope"], "unknown query 'nope'"),
    (["--workloads", "Z"], "unknown workload 'Z'"),
    (["--keys", "pareto"], "'pareto' is not one of 'uniform', 'zipfian'"),
    (["--dataset", "tiny"], "unknown data set 'tiny'"),
    (["--backends", "oracle"], "unknown backend 'oracle'"),
    (["--queries", "none"], "nothing to run"),
])
def test_bad_run_options_are_one_line(env: dict[str, str], args: list[str], fragment: str) -> None:
    done = mmbench(env, "run", *args)
    assert done.returncode == 2 and fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_report_rejects_what_is_not_a_results_file(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "something/9"}')
    done = mmbench(env, "report", str(bad))
    assert done.returncode == 2 and "not an mmbench results file" in done.stderr
