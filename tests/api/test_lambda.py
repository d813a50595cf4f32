"""The Lambda handler behind API Gateway: REST API (v1) and HTTP API (v2) proxy events."""

from __future__ import annotations

import importlib
import json
from types import ModuleType

import pytest

REST_V1 = {
    "resource": "/genomics", "path": "/genomics", "httpMethod": "GET",
    "headers": {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
    "multiValueHeaders": {"Accept": ["application/json"], "Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
    "queryStringParameters": {"chromosome": "4"}, "multiValueQueryStringParameters": {"chromosome": ["4"]},
    "pathParameters": None, "stageVariables": None,
    "requestContext": {"resourcePath": "/genomics", "httpMethod": "GET", "path": "/prod/genomics", "stage": "prod",
                       "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "accountId": "123456789012",
                       "apiId": "abc123", "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8"}},
    "body": None, "isBase64Encoded": False,
}

HTTP_V2 = {
    "version": "2.0", "routeKey": "GET /genomics", "rawPath": "/genomics", "rawQueryString": "chromosome=4",
    "headers": {"accept": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
    "queryStringParameters": {"chromosome": "4"},
    "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                       "domainPrefix": "abc123", "requestId": "JKJaXmPLvHcESHA=", "routeKey": "GET /genomics",
                       "stage": "$default", "time": "10/Mar/2026:00:03:59 +0000", "timeEpoch": 1773100000000,
                       "http": {"method": "GET", "path": "/genomics", "protocol": "HTTP/1.1",
                                "sourceIp": "203.0.113.7", "userAgent": "curl/8"}},
    "isBase64Encoded": False,
}


@pytest.fixture(scope="module")
def handler_module(seed_sqlite: str) -> ModuleType:
    import os

    before = os.environ.get("MMBENCH_API_BACKEND")
    os.environ["MMBENCH_API_BACKEND"] = "sqlite"
    try:
        import api.lambda_handler as module

        return importlib.reload(module)
    finally:
        if before is None:
            os.environ.pop("MMBENCH_API_BACKEND", None)
        else:
            os.environ["MMBENCH_API_BACKEND"] = before


@pytest.mark.parametrize("event", [REST_V1, HTTP_V2], ids=["rest-v1", "http-v2"])
def test_chromosome_4(handler_module: ModuleType, event: dict) -> None:
    """The issue's check: status 200 and IDs 7 and 8, as the lecture's Lambda answered."""
    response = handler_module.lambda_handler(json.loads(json.dumps(event)), None)
    assert response["statusCode"] == 200
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    assert headers["content-type"] == "application/json"
    body = json.loads(response["body"])
    assert [v["ID"] for v in body["items"]] == ["7", "8"] and body["next"] is None


def test_errors_through_api_gateway(handler_module: ModuleType) -> None:
    missing = json.loads(json.dumps(REST_V1))
    missing.update(path="/genomics/999", resource="/genomics/{id}", queryStringParameters=None,
                   multiValueQueryStringParameters=None, pathParameters={"id": "999"})
    r = handler_module.lambda_handler(missing, None)
    assert r["statusCode"] == 404 and json.loads(r["body"]) == {"error": "no variant call with ID '999'"}
    post = json.loads(json.dumps(HTTP_V2))
    post["requestContext"]["http"]["method"] = "POST"
    post["routeKey"] = "POST /genomics"
    r = handler_module.lambda_handler(post, None)
    assert r["statusCode"] == 405 and "read-only" in json.loads(r["body"])["error"]
    bad = json.loads(json.dumps(HTTP_V2))
    bad["rawQueryString"], bad["queryStringParameters"] = "chromosome=99", {"chromosome": "99"}
    r = handler_module.lambda_handler(bad, None)
    assert r["statusCode"] == 400 and "Traceback" not in r["body"]
