"""The compatibility harness: build a locked environment in a container, run suites, compare."""
