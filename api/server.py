"""Serving the API with uvicorn: `mmbench serve --backend B` and `python -m api --backend B`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from models.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def check_bind(host: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: use 0-65535")
    if host in ("localhost", ""):
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {host!r}: give an IP address to bind (127.0.0.1 by default)") from None


def serve(backend: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, pool_size: int = 4,
          access_log: bool = False, on_ready: object = None) -> None:
    """Run the API over `backend` until interrupted (one process; keep-alive HTTP/1.1)."""
    import uvicorn

    from api.app import create_app

    check_bind(host, port)
    app = create_app(backend, pool_size=pool_size)
    logging.getLogger("mmbench.api").addHandler(logging.StreamHandler(sys.stderr))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log,
                timeout_keep_alive=30, server_header=False)


def main(argv: list[str] | None = None) -> int:
    """`python -m api --backend sqlite [--host H] [--port P]` (how `ApiServer` starts one)."""
    parser = argparse.ArgumentParser(prog="python -m api", description="Serve the mmbench genomics API")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--pool", type=int, default=4, help="backend instances (connections) at most")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    from models.errors import MMBenchError

    try:
        serve(args.backend, args.host, args.port, pool_size=args.pool, access_log=args.access_log)
    except MMBenchError as exc:
        print(f"mmbench api: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
