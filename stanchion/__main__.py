"""`python -m stanchion doctor`: check this environment's stanchion install, say what to fix."""

from __future__ import annotations

import sys

from stanchion._doctor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
