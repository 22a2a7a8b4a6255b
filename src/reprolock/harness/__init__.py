"""The compatibility harness: build a locked environment in a container, run suites, compare."""

GITHUB_MAX_JOBS = 256
"""The most jobs GitHub Actions runs from one matrix (here, not in ``plan``, so that the command
line's help can name it without importing the planner)."""
