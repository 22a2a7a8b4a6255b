"""Allow ``python -m reprolock``."""

from __future__ import annotations

import sys

from reprolock.cli import main

if __name__ == "__main__":
    sys.exit(main())
