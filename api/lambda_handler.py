"""The API on AWS Lambda behind API Gateway: `lambda_handler(event, context)`, as in the lecture.

Handler setting: `api.lambda_handler.lambda_handler`. Mangum turns an API Gateway proxy event
(REST API v1 or HTTP API v2) into an ASGI request for the same FastAPI app `mmbench serve`
runs, and its response back into the proxy response (status, headers, JSON body). The backend
is `$MMBENCH_API_BACKEND` (default `dynamodb`, the lecture's), addressed by the usual settings
(`MMBENCH_DYNAMODB_URL=aws` for DynamoDB itself, with the function's role for credentials).
It is opened on the first request and kept while the Lambda container stays warm.
"""

from __future__ import annotations

import os
from typing import Any

from mangum import Mangum

from api.app import create_app

app = create_app(os.environ.get("MMBENCH_API_BACKEND") or "dynamodb", pool_size=1)
handler = Mangum(app, lifespan="off", api_gateway_base_path=os.environ.get("MMBENCH_API_BASE_PATH") or "/")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handler(event, context)
