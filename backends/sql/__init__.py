"""The relational model (SQLite, PostgreSQL) and the document design on PostgreSQL.

- `backend.py` the relational design (`sqlite`, `postgres`), `schema.py` its tables, `statements.py` its queries;
- `jsonb.py` + `jsonb_schema.py` the `postgres:jsonb` design (patients as JSONB documents);
- `engine.py` what every SQL design shares: connections, transactions, errors, the atomic load,
  holdings, explain; `explain.py` reading plans as counts; `settings.py` addresses, timeouts, namespaces;
- `raw.py` the raw-driver baseline of the adapter-overhead benchmark.
"""
