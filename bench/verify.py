"""Verification: does a backend answer a phase's first question exactly as the reference does?

A read is compared in canonical form. A write is applied to both, then observed through the
reads its catalog spec names (`QuerySpec.observers`), the same reads the conformance suite uses.
"""

from __future__ import annotations

from typing import Any

from backends.base import Backend, run_query
from bench.timing import first_line
from models.catalog import CATALOG, Q
from models.reference import Reference


def verify(backend: Backend, reference: Reference, query: Q, params: dict[str, Any]) -> str | None:
    """None if `backend` answers like the reference (a write: applied to both, then observed);
    otherwise what differs, in one line."""
    spec = CATALOG[query]
    checks = [(query, params)]
    if spec.is_write:
        run_query(backend, query, params)
        run_query(reference, query, params)
        checks = spec.observers(params)
    for q, p in checks:
        s = CATALOG[q]
        answer, want = run_query(backend, q, p), s.canonical(run_query(reference, q, p))
        try:
            got = s.canonical(answer)
        except Exception as exc:  # noqa: BLE001 - not even the shape of an answer
            return f"{q}({_short(p)}) answered {type(answer).__name__}, not a valid answer ({first_line(exc)})"
        if got != want:
            return f"{q}({_short(p)}) answered {_size(got)}, the reference {_size(want)}; they differ"
    return None


def _size(answer: Any) -> str:
    return f"{len(answer)} rows" if isinstance(answer, list) else "none" if answer is None else "one row"


def _short(params: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= 80 else text[:77] + "..."
