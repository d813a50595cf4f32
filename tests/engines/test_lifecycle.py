"""The shared engine machinery (start / probe / stop / pid file / log tail), with a toy engine.

The toy engine is a few lines of Python serving one TCP line ("toy 1.0") — it exercises the real
Engine.start/stop/status code paths in well under a second each, without any database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.engines import ENGINE_NAMES, EngineError, get_engine, maven
from bench.engines.base import Engine, LaunchSpec
from bench.engines.process import live_pid, log_tail, read_pidfile, terminate_group, write_pidfile

TOY_SERVER = """
import socket, subprocess, sys
print("toy starting", flush=True)
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # a child, same group
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen()
print("toy listening", flush=True)
while True:
    conn, _ = srv.accept()
    conn.sendall(b"toy 1.0\\n"); conn.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Toy(Engine):
    name = "toy"
    product = "Toy server"
    protocol = "toy"
    port = 0
    default_timeout = 20.0
    stop_grace = 5.0

    def __init__(self, argv_tail: list[str] | None = None) -> None:
        super().__init__()
        self.port = free_port()
        self.argv_tail = argv_tail

    def _fetch(self, progress) -> None:
        pass

    def _command(self) -> LaunchSpec:
        tail = self.argv_tail if self.argv_tail is not None else ["-c", TOY_SERVER, str(self.port)]
        return LaunchSpec(argv=[sys.executable, *tail])

    def _probe(self, timeout: float) -> str:
        with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            line = conn.makefile().readline().strip()
        if not line.startswith("toy "):
            raise RuntimeError(f"not a toy: {line!r}")
        return line.split()[1]


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_RUNTIME", str(tmp_path / "state"))
    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "cache"))


def test_start_status_noop_stop() -> None:
    toy = Toy()
    messages: list[str] = []
    assert toy.status().up is False
    status = toy.start(progress=messages.append)
    try:
        assert status.up and status.version == "1.0" and status.pid is not None
        assert status.address == f"127.0.0.1:{toy.port}"
        pid = status.pid
        children = psutil.Process(pid).children(recursive=True)
        assert children, "the toy server starts a helper child"
        again: list[str] = []
        assert toy.start(progress=again.append).pid == pid, "starting an engine that is up is a no-op"
        assert any("already up" in m for m in again)
        assert any("waiting for toy" in m for m in messages)
    finally:
        toy.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, "orphan left behind"
    after = toy.status()
    assert after.up is False and after.pid is None
    toy.stop()  # idempotent


def test_concurrent_starts_launch_once() -> None:
    first, second = Toy(), Toy()
    second.port = first.port
    results: list[object] = []

    def start(engine: Toy) -> None:
        try:
            results.append(engine.start().pid)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in (first, second)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(results) == 2 and results[0] == results[1] and isinstance(results[0], int), results
        assert first.log_path.read_text().count("starting:") == 1
    finally:
        first.stop()


def test_failed_start_reports_log_tail() -> None:
    script = "import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(3)"
    toy = Toy(["-c", script])
    with pytest.raises(EngineError) as info:
        toy.start(timeout=10)
    message = str(info.value)
    first, *rest = message.splitlines()
    assert "exited with code 3" in first
    assert "line 29" in rest[-1] and "line 5" not in message  # only the tail
    assert toy.pid() is None


def test_timeout_stops_the_process() -> None:
    toy = Toy(["-c", "import time; print('never listening', flush=True); time.sleep(600)"])
    with pytest.raises(EngineError) as info:
        toy.start(timeout=1.5)
    assert "did not answer toy" in str(info.value).splitlines()[0]
    assert "never listening" in str(info.value)
    assert toy.pid() is None
    rec = read_pidfile(toy.pid_path)
    assert rec is None


def test_port_taken_by_a_stranger() -> None:
    toy = Toy()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", toy.port))
        squatter.listen()
        with pytest.raises(EngineError, match="taken by a program"):
            toy.start(timeout=5)


def test_pidfile_ignores_reused_pid(tmp_path: Path) -> None:
    pid_path = tmp_path / "x.pid"
    write_pidfile(pid_path, os.getpid())
    assert live_pid(pid_path) == os.getpid()
    pid, created = read_pidfile(pid_path)
    pid_path.write_text(f"{pid}\n{created - 1000:.3f}\n")  # same pid, another start time
    assert live_pid(pid_path) is None
    assert live_pid(tmp_path / "missing.pid") is None


def test_terminate_group_kills_stubborn_processes() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(600)"],
        start_new_session=True, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    assert terminate_group(proc.pid, grace=0.5) is False  # needed SIGKILL
    proc.wait(timeout=5)
    assert not psutil.pid_exists(proc.pid)
    assert time.monotonic() - t0 < 10


def test_log_tail(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("".join(f"a{i}\n" for i in range(100)))
    assert log_tail([a], 3).splitlines() == ["a97", "a98", "a99"]
    b.write_text("b0\n\n")
    both = log_tail([a, b, tmp_path / "none.log"], 4)
    assert "a99" in both and "b0" in both and "a97" not in both
    assert log_tail([tmp_path / "none.log"]) == ""


def test_unknown_engine_names_the_valid_ones() -> None:
    with pytest.raises(EngineError) as info:
        get_engine("oracle")
    assert all(name in str(info.value) for name in ENGINE_NAMES)


def test_registry_matches_names() -> None:
    assert [get_engine(n).name for n in ENGINE_NAMES] == list(ENGINE_NAMES)
    for name in ENGINE_NAMES:
        engine = get_engine(name)
        assert engine.runtime_dir.name == name and engine.log_path.parent == engine.runtime_dir


def test_missing_java_is_one_line_of_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maven, "_java_candidates", lambda: [])
    with pytest.raises(EngineError) as info:
        maven.find_java("cassandra", (17,))
    message = str(info.value)
    assert "\n" not in message and "cassandra needs Java 17" in message and "apt-get install" in message


def test_missing_postgres_without_root_is_one_line_of_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.engines import postgres

    monkeypatch.setattr(postgres, "find_bindir", lambda: None)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)
    with pytest.raises(EngineError) as info:
        postgres.ensure_installed()
    assert str(info.value) == "postgres needs the PostgreSQL server: sudo apt-get install -y postgresql"
