"""The named trade-off demos: `mmbench demo --list`, `mmbench demo NAME`.

Each demo is a module here whose `DEMO` is a `bench.demos.base.Demo`; `DEMOS` maps the names
to modules, imported only when a demo runs.
"""

from __future__ import annotations

import importlib

from bench.demos.base import Context, Demo, DemoResult
from models.errors import UsageError

DEMOS: dict[str, str] = {
    "index": "index",
    "embed-vs-reference": "embed_vs_reference",
    "join-vs-traversal": "join_vs_traversal",
    "write-amplification": "write_amplification",
    "documents-in-postgres": "documents_in_postgres",
    "consistency": "consistency",
    "staleness": "staleness",
    "scan-vs-query": "scan_vs_query",
    "types-on-import": "types_on_import",
    "single-vs-multi-table": "single_vs_multi_table",
    "query-first": "query_first",
}
"""Demo name -> module under bench/demos/ (filled as demos are added)."""


def get_demo(name: str) -> Demo:
    module = DEMOS.get(name)
    if module is None:
        raise UsageError(f"unknown demo {name!r}; valid: {', '.join(DEMOS) or 'none yet'}")
    return importlib.import_module(f"bench.demos.{module}").DEMO()


def all_demos() -> list[Demo]:
    return [get_demo(name) for name in DEMOS]


__all__ = ["DEMOS", "Context", "Demo", "DemoResult", "all_demos", "get_demo"]
