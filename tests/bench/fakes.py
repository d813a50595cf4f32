"""Backends for testing the harness itself (not in the registry): they sleep, fail, or lie."""

from __future__ import annotations

import time
from typing import Any

from bench.overhead import NoopBackend
from models.entities import PatientRecord


class SleepBackend(NoopBackend):
    """Every patient_by_id takes `delay_s` (time.sleep: at least that long)."""

    name = "sleepy"
    delay_s = 0.010

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        time.sleep(self.delay_s)
        return None


class FlakyBackend(NoopBackend):
    """patient_by_id fails on every `every`-th call; variant_by_id always fails."""

    name = "flaky"
    every = 10

    def __init__(self) -> None:
        self.calls = 0

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        self.calls += 1
        if self.calls % self.every == 0:
            raise ConnectionError("lost a packet")
        return None

    def variant_by_id(self, **params: Any) -> None:
        raise ConnectionError("connection refused")


class LiarBackend(NoopBackend):
    """Knows no variants at all."""

    name = "liar"

    def variants_by_chromosome(self, *, chromosome: str) -> list[Any]:
        return []
