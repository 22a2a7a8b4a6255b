"""Allow ``python -m reprolock``."""

from __future__ import annotations

from reprolock.cli import run

if __name__ == "__main__":
    run()
