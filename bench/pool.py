"""The worker pool: N processes (spawned), each with its own connection to the backend.

`--workers N` measures a phase with N processes that take its positions round-robin, start
their timed parts together (a barrier) and send back their `Outcome`s, whose histograms the
runner merges. A worker that dies or hangs is a failed outcome, never a hang of the run.
Workers ignore Ctrl-C until they measure (the parent forwards it then); each runs in its own
process group, so a Ctrl-C at the terminal reaches only the parent.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from backends.base import Backend, BackendError
from bench.settings import PhaseSpec
from bench.timing import WARMUP_TIME_SHARE, WORKER_GRACE_S, Outcome, first_line, measure


def _worker_main(factory: Callable[[], Backend], index: int, conn: Connection, barrier: Any) -> None:
    """A worker process: connect, then measure each PhaseSpec it is sent until it gets None."""
    os.setpgid(0, 0)  # its own process group: a terminal's Ctrl-C goes to the parent only
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it forwards SIGINT while measuring
    try:
        backend = factory()
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", first_line(exc)))
        return
    conn.send(("ready", None))
    try:
        while (spec := conn.recv()) is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                result = measure(backend, spec, index, barrier)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            conn.send(("done", result))
    except EOFError:
        pass
    finally:
        try:
            backend.close()
        except Exception:  # noqa: BLE001
            pass


class WorkerPool:
    """N processes (spawned, not forked), each with its own connection to the backend."""

    def __init__(self, factory: Callable[[], Backend], n: int) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(n)
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        try:
            for index in range(n):
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(factory, index, theirs, self.barrier),
                                   name=f"mmbench-worker-{index}", daemon=True)
                proc.start()
                theirs.close()
                self.procs.append(proc)
                self.conns.append(mine)
            for index, conn in enumerate(self.conns):
                try:
                    kind, detail = conn.recv()
                except EOFError:
                    kind, detail = "error", f"worker {index} died while connecting"
                if kind == "error":
                    raise BackendError(detail)
        except BaseException:
            self.close()
            raise

    def measure(self, spec: PhaseSpec) -> list[Outcome]:
        """Each worker's outcome. A worker that died or hung is a failed outcome; the others are
        released from the start barrier. On Ctrl-C every worker stops and reports what it has."""
        self.barrier.reset()
        n = len(self.conns)
        outcomes: dict[int, Outcome] = {}
        for i, conn in enumerate(self.conns):
            try:
                conn.send(spec)
            except OSError:
                self._lost(i, spec, outcomes)
        # a watchdog's deadline (a hung worker is stopped), not a measurement
        deadline = time.monotonic() + spec.time_cap_s * (1 + WARMUP_TIME_SHARE) + WORKER_GRACE_S
        interrupted = False
        while len(outcomes) < n:
            pending = [c for i, c in enumerate(self.conns) if i not in outcomes]
            try:
                ready = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            except KeyboardInterrupt:
                interrupted = True
                self.barrier.abort()  # first release the ones waiting to start, then stop the others
                self._interrupt()
                deadline = min(deadline, time.monotonic() + 30)
                continue
            if not ready:
                for i in range(n):
                    outcomes.setdefault(i, Outcome.lost_worker(len(spec.phase.labels), "failed", f"worker {i} gave no answer; stopped"))
                self.close()
                break
            for conn in ready:
                i = self.conns.index(conn)
                try:
                    outcomes[i] = conn.recv()[1]
                except (EOFError, OSError):
                    self._lost(i, spec, outcomes)
        if interrupted:
            for outcome in outcomes.values():
                outcome.state = "interrupted"
        return [outcomes[i] for i in range(n)]

    def _lost(self, i: int, spec: PhaseSpec, outcomes: dict[int, Outcome]) -> None:
        """Worker i is gone: a failed outcome, and the others stop waiting for it at the barrier."""
        self.procs[i].join(timeout=5)
        outcomes[i] = Outcome.lost_worker(len(spec.phase.labels), "failed",
                                          f"worker {i} died (exit code {self.procs[i].exitcode})")
        self.barrier.abort()

    def _interrupt(self) -> None:
        for proc in self.procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGINT)

    @property
    def healthy(self) -> bool:
        return bool(self.procs) and all(p.is_alive() for p in self.procs)

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.conns, self.procs = [], []
