"""Artifact scanners: model and dataset revisions in code and notebooks, registry aliases and
data versions in config, and DVC pipelines (RP601-RP605)."""

from __future__ import annotations

from reprolock.audit.artifacts.config import MAX_CONFIG_CHARS, ConfigScanner
from reprolock.audit.artifacts.dvc import DvcScanner
from reprolock.audit.artifacts.notebook import NotebookScanner
from reprolock.audit.artifacts.python import PythonScanner
from reprolock.audit.interface import Scanner

__all__ = [
    "MAX_CONFIG_CHARS",
    "ConfigScanner",
    "DvcScanner",
    "NotebookScanner",
    "PythonScanner",
    "artifact_scanners",
]


def artifact_scanners() -> list[Scanner]:
    """The artifact scanners; DVC first, so that its YAML is not taken for plain config."""
    return [DvcScanner(), PythonScanner(), NotebookScanner(), ConfigScanner()]
