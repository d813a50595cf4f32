"""`mmbench explain` in a terminal: the catalog's description, each statement syntax-highlighted,
the engine's plan as a tree, and the work as a small table."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from backends.base import Explanation
from models.catalog import QuerySpec

LEXER = {"sql": "sql", "cql": "sql", "cypher": "cypher", "mongo": "json", "dynamodb": "json", "http": "http"}
WORK_ROWS = (("answer", "records in the answer"), ("returned", "records the engine sent"),
             ("examined", "records the engine read"), ("round_trips", "requests sent"))


def _statement_text(language: str, text: str) -> tuple[str, str]:
    """(text to show, lexer): a DynamoDB `Operation {json}` shows its JSON pretty-printed."""
    if language in ("mongo", "dynamodb"):
        head, _, body = text.partition(" ") if language == "dynamodb" else ("", "", text)
        try:
            body = json.dumps(json.loads(body), indent=2)
        except ValueError:
            return text, "text"
        return (f"// {head}\n" if head else "") + body, "json"
    return text, LEXER.get(language, "text")


def plan_tree(plan: Any, label: str = "plan", depth: int = 0) -> Tree:
    """A JSON plan as a tree (dicts: one branch per key with a nested value; lists: one per item)."""
    tree = Tree(label)
    _grow(tree, plan, depth)
    return tree


def _grow(tree: Tree, node: Any, depth: int) -> None:
    if depth > 12:
        tree.add("…")
        return
    if isinstance(node, dict):
        flat = {k: v for k, v in node.items() if not isinstance(v, (dict, list))}
        if flat:
            tree.add(", ".join(f"{k}: {v}" for k, v in flat.items()), style="dim")
        for k, v in node.items():
            if isinstance(v, (dict, list)) and v:
                _grow(tree.add(str(k)), v, depth + 1)
    elif isinstance(node, list):
        for i, item in enumerate(node[:50]):
            _grow(tree.add(f"[{i}]") if isinstance(item, (dict, list)) else tree, item, depth + 1)
        if len(node) > 50:
            tree.add(f"… {len(node) - 50} more")
    else:
        tree.add(str(node))


def print_explanation(console: Console, spec: QuerySpec, e: Explanation) -> None:
    console.print(f"[bold]{spec.name}[/bold] on [bold]{e.backend}[/bold] ({e.tier} tier): {spec.summary}")
    console.print("parameters: " + (", ".join(f"{k}={v!r}" for k, v in e.params.items()) or "none"), highlight=False)
    for i, s in enumerate(e.statements, 1):
        text, lexer = _statement_text(s.language, s.text)
        console.print(f"[bold]statement {i}[/bold] ({s.language})" + (f", params {s.params}" if s.params not in (None, {}, []) else ""),
                      highlight=False)
        console.print(Syntax(text, lexer, word_wrap=True, theme="ansi_dark"))
    if e.plan_summary:
        console.print("[bold]plan summary:[/bold] " + " → ".join(e.plan_summary), highlight=False)
    if e.plan is not None:
        console.print(plan_tree(e.plan, "[bold]plan[/bold] (the engine's own)"))
    table = Table(title="work (counts, not times)", show_header=True)
    for col in ("", "value", "why none"):
        table.add_column(col)
    for name, what in WORK_ROWS:
        value = getattr(e.work, name)
        table.add_row(what, "-" if value is None else f"{value:,}", e.work.reasons.get(name, ""))
    for unit, value in e.work.cost.items():
        table.add_row(f"cost: {unit}", f"{value:,.4g}", "")
    if e.server_us is not None:
        table.add_row("engine's own execution time", f"{e.server_us:,.1f} µs", "")
    console.print(table)
    if e.work.examined is not None and e.work.returned:
        console.print(f"read amplification: examined {e.work.examined:,} → returned {e.work.returned:,} "
                      f"(×{e.work.examined / e.work.returned:,.1f})", highlight=False)
    for note in e.notes:
        console.print(f"note: {note}", style="yellow", highlight=False)
    if e.undone:
        console.print(f"this write was undone: {e.undone}", style="cyan", highlight=False)
