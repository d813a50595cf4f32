"""Run moto's DynamoDB server without its instance tracking.

moto keeps a reference to every model object it ever creates (for its dashboard), so an
emulated table's memory only grows: gigabytes after one conformance run. This launcher
turns that tracking off, then hands over to `moto.server.main` with the same arguments.
"""

from __future__ import annotations

import sys

from moto.core.common_models import BaseModel
from moto.server import main


def _untracked_new(cls: type, *args: object, **kwargs: object) -> object:
    return object.__new__(cls)


BaseModel.__new__ = _untracked_new  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
