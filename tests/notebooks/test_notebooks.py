"""The lecture kit: every notebook in notebooks/ runs top to bottom against the local engines,
and is stored without outputs.

Each notebook runs in a kernel of this interpreter (nbclient), with a timeout per cell, in this
session's data namespaces (`MMBENCH_NOTEBOOK_PREFIX`), and the demo tour with few operations
(`MMBENCH_NOTEBOOK_OPS`): the test checks that they run, not how precisely they measure.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.helpers import TEST_NAMESPACE

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600


def test_the_lecture_kit_is_there() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"01-relational.ipynb", "03-mongodb.ipynb", "04-demos.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for i, cell in enumerate(book.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_NOTEBOOK_PREFIX", TEST_NAMESPACE)
    monkeypatch.setenv("MMBENCH_NOTEBOOK_OPS", "5")
    monkeypatch.setenv("MMBENCH_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=dict(os.environ))
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: {str(exc).splitlines()[-1] if str(exc) else exc}\n{exc}")
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
