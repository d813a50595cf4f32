"""A question asked of a table keyed for another one: "who has diagnosis code X?" from `patients`.

The query-first design answers it from `patients_by_diagnosis`, whose partition key is the code:
one partition read (`patients_with_diagnosis`). The table `patients` is keyed for another
question, `patient_by_id`: partition key patient_id, the code only a clustering column after
diagnosed_on. Asking it `WHERE code = ?` names no partition, so Cassandra would have to read
every partition of the table and filter the rows; it refuses unless the query says
`ALLOW FILTERING`. This module asks exactly that, with the code bound (`?`), never spliced:

- `patients_with_code(backend, code, allow_filtering=False)` raises `FilteringRefused` with
  Cassandra's own message (the statement is refused when it is prepared);
- with `allow_filtering=True` it reads the whole table and returns the same answer as
  `patients_with_diagnosis` (a patient given the code twice is one patient);
- `explain_with_code(backend, code)` runs it with tracing on, as the backend's `explain` does:
  the rows the replicas read (`examined`) against the rows returned.

Why code and not age: `patients` has a Storage-Attached Index on `age`, so `WHERE age > ?` is an
index query that Cassandra accepts without ALLOW FILTERING; `code` has no index.
Only the demos use this; it is not part of the query catalog.
"""

from __future__ import annotations

from cassandra import InvalidRequest

from backends.base import BackendError, Explanation, Tier, answer_size
from backends.column.backend import CassandraBackend, _Gone
from backends.column.explain import Recorder
from models.entities import Patient

COLUMNS = "patient_id, name, age, sex, code"  # code too: Cassandra refuses a clustering restriction when only static columns are selected
STATEMENTS = {
    True: f"SELECT {COLUMNS} FROM {{ks}}.patients WHERE code = ? ALLOW FILTERING",
    False: f"SELECT {COLUMNS} FROM {{ks}}.patients WHERE code = ?",
}
NAMES = {True: "off_key_code_allow_filtering", False: "off_key_code"}
QUERY = "patients_with_diagnosis (off key: patients WHERE code = ?)"


class FilteringRefused(BackendError):
    """Cassandra refused a statement that would filter a whole table; `server_message` is its own words."""

    def __init__(self, statement: str, server_message: str) -> None:
        self.statement, self.server_message = statement, server_message
        super().__init__(f"cassandra: refused {statement!r}: {server_message}")


def statement(allow_filtering: bool) -> str:
    """The CQL as sent, with `{ks}` for the data generation's keyspace."""
    return STATEMENTS[allow_filtering]


def _prepared(backend: CassandraBackend, allow_filtering: bool) -> str:
    """Prepare the statement on the current generation (once) and return its name for `_rows`."""
    gen = backend._current or backend._resolve()
    name = NAMES[allow_filtering]
    if name not in gen.statements:
        text = STATEMENTS[allow_filtering].format(ks=gen.keyspace)
        try:
            stmt = backend.session.prepare(text)
        except InvalidRequest as exc:
            if allow_filtering:
                raise backend._error(exc) from None
            raise FilteringRefused(STATEMENTS[allow_filtering], _server_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the driver's errors as the backend reports them
            raise backend._error(exc) from None
        stmt.consistency_level = backend._read_cl
        gen.statements[name] = stmt
    return name


def _server_message(exc: InvalidRequest) -> str:
    """`Error from server: code=2200 [Invalid query] message="..."` -> what is between the quotes."""
    text = str(exc)
    _, found, rest = text.partition('message="')
    return rest.rstrip().removesuffix('"') if found else text.strip()


def patients_with_code(backend: CassandraBackend, code: str, *, allow_filtering: bool = True) -> list[Patient]:
    """Patients with diagnosis `code`, read from `patients` (keyed by patient_id) by filtering."""
    for attempt in (0, 1):
        try:
            rows = backend._rows(_prepared(backend, allow_filtering), (code,))
            return list({r[0]: Patient(*r[:4]) for r in rows}.values())
        except _Gone:
            if attempt:
                raise
            backend._forget()  # a load elsewhere replaced the generation: resolve it and ask again
    raise AssertionError("unreachable")


def explain_with_code(backend: CassandraBackend, code: str) -> Explanation:
    """`patients_with_code(..., allow_filtering=True)` once with tracing on: statements, trace, work."""
    _prepared(backend, True)  # preparing is not part of the question
    backend._recorder = recorder = Recorder()
    try:
        answer = patients_with_code(backend, code, allow_filtering=True)
    finally:
        backend._recorder = None
    plan = recorder.plan()
    notes = [f"reads at {backend.settings.read_level}",
             ("ALLOW FILTERING: no partition key is given, so every partition of patients is read and its rows "
             "filtered on code (examined: the rows the replicas read, from the trace)")]
    for i, events in recorder.lossy()[:1]:
        notes.append(f"the trace of statement {i} has {events} events: Cassandra drops trace events once its "
                     "tracing queue is full")
    return Explanation(backend=backend.name, query=QUERY, params={"code": code}, tier=Tier.NATIVE.value,
                       statements=recorder.statements(), plan=plan or None, plan_summary=recorder.summary(),
                       work=recorder.work(answer_size(answer)), notes=notes, server_us=recorder.server_us())
