"""Output formats. Each formatter turns a :class:`~reprolock.model.Report` into a string."""

from __future__ import annotations

import enum
from collections.abc import Callable

from reprolock.model import Report


class Format(enum.Enum):
    """Every output format of ``repro check``; a test proves each is handled."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"
    MARKDOWN = "markdown"


def formatter(fmt: Format) -> Callable[[Report], str]:
    """The render function for ``fmt``."""
    # Imported lazily so that `repro check` loads only the formats it writes.
    if fmt is Format.TEXT:
        from reprolock.report.text import render_text  # noqa: PLC0415

        return render_text
    if fmt is Format.JSON:
        from reprolock.report.json import render_json  # noqa: PLC0415

        return render_json
    if fmt is Format.SARIF:
        from reprolock.report.sarif import render_sarif  # noqa: PLC0415

        return render_sarif
    if fmt is Format.GITHUB:
        from reprolock.report.github import render_github  # noqa: PLC0415

        return render_github
    if fmt is Format.MARKDOWN:
        from reprolock.report.markdown import render_markdown  # noqa: PLC0415

        return render_markdown
    raise AssertionError(fmt)  # pragma: no cover - mypy proves the match is exhaustive


def render(fmt: Format, report: Report) -> str:
    """``report`` rendered in ``fmt``."""
    return formatter(fmt)(report)
