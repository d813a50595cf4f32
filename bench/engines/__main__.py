"""``python -m bench.engines up|down|status [NAMES...] [--timeout S]``

Plain-text front end (for the Makefile and CI): ``up`` starts the named engines (all by
default) one after another, ``down`` stops them, ``status`` reports them. Each prints a status
table. Exit status is 1, naming the engines concerned, when an engine failed to start or stop,
or — for ``status`` — is down; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.engines import ENGINE_NAMES, EngineError, EngineStatus, get_engine


def format_table(rows: list[EngineStatus]) -> str:
    """A plain-text table of statuses."""
    header = ("ENGINE", "STATE", "VERSION", "PID", "ADDRESS", "PRODUCT")
    body = [
        (
            s.name,
            "up" if s.up else "down",
            s.version or "-",
            str(s.pid) if s.pid else "-",
            s.address,
            s.product + (" [emulator]" if s.emulator else ""),
        )
        for s in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body])
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engines", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"engines (default: all): {', '.join(ENGINE_NAMES)}"
    )
    parser.add_argument(
        "--timeout", type=float, default=None,
        help="seconds to wait for each engine (default: per engine)",
    )
    args = parser.parse_args(argv)

    try:
        engines = [get_engine(n) for n in (args.names or ENGINE_NAMES)]
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    failed: list[str] = []

    def say(msg: str) -> None:
        print(f"  {msg}", flush=True)

    for engine in engines if args.action != "down" else reversed(engines):
        if args.action == "up":
            t0 = time.monotonic()
            try:
                engine.start(progress=say, timeout=args.timeout)
                say(f"{engine.name}: ready in {time.monotonic() - t0:.1f} s")
            except EngineError as exc:
                failed.append(engine.name)
                print(f"error: {exc}", file=sys.stderr, flush=True)
        elif args.action == "down":
            try:
                if engine.pid() is not None:
                    say(f"stopping {engine.name}…")
                engine.stop()
            except (EngineError, OSError) as exc:
                failed.append(engine.name)
                print(f"error: {engine.name}: {exc}", file=sys.stderr, flush=True)

    statuses = [e.status() for e in engines]
    print(format_table(statuses))
    if args.action == "status":
        failed = [s.name for s in statuses if not s.up]
    elif args.action == "down":
        failed += [s.name for s in statuses if s.pid is not None and s.name not in failed]
    if failed:
        verb = {"up": "failed to start", "down": "still running", "status": "down"}[args.action]
        print(f"{verb}: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
