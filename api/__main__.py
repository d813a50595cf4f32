"""`python -m api --backend B --port P`: the API server alone (no `bench` imported)."""

import sys

from api.server import main

sys.exit(main())
