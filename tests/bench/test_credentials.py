"""Credentials never reach output: a distinctive password goes through every backend's settings
(with and without characters that break naive URL parsing), the commands run against addresses
where nothing answers, and every output — terminal, results file, HTML report — is searched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends import REGISTRY

PASSWORDS = ["Zebra7Quokka", "p@ss@word:/x"]


def credentials_env(password: str) -> dict[str, str]:
    """Every backend pointed at a closed port, with `password` wherever its settings take one."""
    from urllib.parse import quote

    raw = password  # unencoded on purpose: a URL with an `@` in the password must not leak either
    return {
        "MMBENCH_POSTGRES_URL": f"postgresql+psycopg://user:{raw}@127.0.0.1:1/db",
        "MMBENCH_MONGODB_URL": f"mongodb://user:{quote(password, safe='')}@127.0.0.1:1/?serverSelectionTimeoutMS=300",
        "MMBENCH_DYNAMODB_URL": "http://127.0.0.1:1", "MMBENCH_DYNAMODB_TIMEOUT": "0.5",
        "MMBENCH_DYNAMODB_ACCESS_KEY_ID": "AKIAEXAMPLE", "MMBENCH_DYNAMODB_SECRET_ACCESS_KEY": password,
        "MMBENCH_CASSANDRA_PORT": "1", "MMBENCH_CASSANDRA_USERNAME": "user", "MMBENCH_CASSANDRA_PASSWORD": password,
        "MMBENCH_CASSANDRA_CONNECT_TIMEOUT": "0.5",
        "MMBENCH_NEO4J_URL": "bolt://127.0.0.1:1", "MMBENCH_NEO4J_USER": "user", "MMBENCH_NEO4J_PASSWORD": password,
        "MMBENCH_NEO4J_CONNECT_TIMEOUT": "0.5",
    }


def fragments(password: str) -> list[str]:
    """The password and the pieces of it a naive parser would leave behind."""
    out = [password]
    if "@" in password:
        out += [password.split("@", 1)[1], password.rsplit("@", 1)[0], "ss@word"]
    return out


@pytest.mark.parametrize("password", PASSWORDS)
def test_no_command_prints_or_writes_a_password(password: str, tmp_path: Path) -> None:
    env = {**os.environ, **credentials_env(password), "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'c.db'}",
           "COLUMNS": "200"}
    out = tmp_path / "results"
    runs = [["run", "--backends", ",".join(REGISTRY), "--dataset", "seed", "--ops", "5", "--out", str(out), "--html"],
            ["status"], *(["query", "all_variants", "--backend", name] for name in REGISTRY)]
    seen = []
    for args in runs:
        done = subprocess.run([sys.executable, "-m", "bench.cli", *args], env=env, text=True, capture_output=True,
                              timeout=600)
        seen.append(done.stdout + done.stderr)
    seen += [p.read_text() for p in out.iterdir()]
    assert any(p.suffix == ".html" for p in out.iterdir()) and any(p.suffix == ".json" for p in out.iterdir())
    for text in seen:
        for piece in fragments(password):
            assert piece not in text, f"{piece!r} leaked: ...{text[max(0, text.find(piece) - 200):text.find(piece) + 50]}"


def test_the_issue_case_leaves_no_trace(tmp_path: Path) -> None:
    env = {**os.environ, "MMBENCH_POSTGRES_URL": "postgresql+psycopg://u:p@ss@word@127.0.0.1:1/db",
           "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--backends", "sqlite,postgres", "--dataset", "seed",
                           "--ops", "20", "--out", str(out), "--html"], env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 1  # postgres asked for by name and unreachable
    for text in [done.stdout, done.stderr, *(p.read_text() for p in out.iterdir())]:
        assert "ss@word" not in text and "word@127" not in text
