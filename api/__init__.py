"""The genomics REST API (the lecture's API Gateway + Lambda): a FastAPI app over any backend.

- `app`: the ASGI app (`create_app(backend)`), its routes, errors and backend pool.
- `server`: serving it with uvicorn (`mmbench serve`, `python -m api`).
- `lambda_handler`: the same app behind API Gateway (REST v1 or HTTP API v2) via Mangum.
- `client`: `ApiBackend`, a Backend whose reads go through the HTTP API (`mmbench run --via api`).

`api` imports `backends` and `models`, never `bench`.
"""
