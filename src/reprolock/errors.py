"""The exception hierarchy: each maps to one of the documented exit codes."""

from __future__ import annotations


class ReproError(Exception):
    """Base of every expected failure: the CLI prints one line and exits with ``exit_code``."""

    exit_code: int = 2


class UsageError(ReproError):
    """A bad flag, a bad config value, or an unreadable or unsupported input (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration could not be loaded; the message names the file and the key path."""


class UnansweredError(ReproError):
    """The question could not be answered: no daemon, no golden file, a failed download (exit 3)."""

    exit_code = 3
