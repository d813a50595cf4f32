"""An engine that dies or restarts in the middle of `mmbench run`: the other backends are measured,
the dead one's remaining phases fail with a one-line reason, the results file is written, the
exit status says so, and nothing hangs (every driver call has a timeout)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.engines.postgres import Postgres

QUERIES = "variant_by_id,variants_by_chromosome,patient_by_id,lab_history,diagnosis_counts,add_patient"


def _run_until(env: dict[str, str], out: Path, marker: str, act) -> subprocess.CompletedProcess[str]:
    """Start `mmbench run` on postgres and sqlite; when stderr shows `marker`, call `act()`."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--backends", "postgres,sqlite", "--dataset", "seed,synthetic",
           "--queries", QUERIES, "--ops", "400", "--max-time", "1", "--warmup", "5", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, acted = [], False
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if not acted and marker in line:
            act()
            acted = True
    stdout = proc.stdout.read() if proc.stdout else ""
    proc.wait(timeout=600)
    assert acted, f"never saw {marker!r}: {''.join(lines)[-2000:]}"
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, "".join(lines))


def _gone(pid: int) -> None:
    """Wait until `pid` is gone (reaped if it is our child): PostgreSQL refuses to start while
    its old postmaster's pid is alive, and a zombie counts as alive."""
    import psutil

    for _ in range(200):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            psutil.Process(pid).status()
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def _results(out: Path) -> dict:
    (path,) = out.glob("*.json")
    return json.loads(path.read_text())


def test_an_engine_killed_mid_run(private_postgres: Postgres, tmp_path: Path) -> None:
    env = {**os.environ, "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'run.db'}", "COLUMNS": "200"}
    out = tmp_path / "results"
    done = _run_until(env, out, "postgres · seed · patient_by_id",
                      lambda: os.killpg(private_postgres.pid(), signal.SIGKILL))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    doc = _results(out)
    assert doc["status"] == "failures" and doc["backends"]["postgres"]["status"] == "failed"
    pg = {(r["dataset"], r["phase"]): r for r in doc["results"] if r["backend"] == "postgres"}
    assert pg[("seed", "variant_by_id")]["status"] == "ok"
    failed = [r for key, r in pg.items() if key not in (("seed", "variant_by_id"), ("seed", "variants_by_chromosome"))]
    assert len(pg) == 12 and failed and all(r["status"] == "failed" for r in failed)
    assert all(r["error"] and "\n" not in r["error"] for r in failed)
    sqlite = [r for r in doc["results"] if r["backend"] == "sqlite"]
    assert len(sqlite) == 12 and all(r["status"] == "ok" for r in sqlite)  # the other backend was measured


def test_an_engine_restarted_mid_run(private_postgres: Postgres, tmp_path: Path) -> None:
    env = {**os.environ, "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'run.db'}", "COLUMNS": "200"}
    out = tmp_path / "results"

    def restart() -> None:
        pid = private_postgres.pid()
        os.killpg(pid, signal.SIGKILL)
        _gone(pid)
        private_postgres.start(timeout=120)

    started = time.monotonic()
    done = _run_until(env, out, "postgres · seed · patient_by_id", restart)
    assert time.monotonic() - started < 600  # no hang
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr
    doc = _results(out)
    pg = [r for r in doc["results"] if r["backend"] == "postgres"]
    assert len(pg) == 12
    for r in pg:  # each phase either measured (the backend reconnected) or failed with one line
        assert r["status"] == "ok" or (r["status"] == "failed" and r["error"] and "\n" not in r["error"])
    assert all(r["status"] == "ok" for r in doc["results"] if r["backend"] == "sqlite")
