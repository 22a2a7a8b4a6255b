"""Fixtures of the format tests."""

from __future__ import annotations

import pytest

from reprolock.model import Report
from tests.report.samples import sample_report


@pytest.fixture
def report() -> Report:
    """:func:`~tests.report.samples.sample_report`."""
    return sample_report()
