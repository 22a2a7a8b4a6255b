"""The Pipfile scanner: declared requirements, and pipenv's hash of them for lock sync."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Manifest,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
)
from reprolock.formats.pipfile import (
    BASE_CATEGORIES,
    NON_CATEGORIES,
    pipenv_entry_spec,
    pipfile_hashes,
)
from reprolock.formats.toml import load_toml
from reprolock.model import Finding
from reprolock.rules import finding
from reprolock.specs import judge_manifest


def pipfile_scanners() -> list[Scanner]:
    """The Pipfile scanner (Pipfile.lock is one of :mod:`reprolock.audit.locks`)."""
    return [PipfileScanner()]


class PipfileScanner(Scanner):
    """``Pipfile``: a manifest (ranges fine) that needs a Pipfile.lock in sync beside it."""

    name = "Pipfile"
    extensions = frozenset({""})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == "Pipfile"

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        doc = load_toml(source.text)
        data, lines = doc.data, doc.lines
        judge_ctx = ctx.judge_context(source, hash_capable=False)
        findings: list[Finding] = []
        declared: list[Declared] = []
        for section, group in _categories(data):
            table = data[section]
            section_line = lines.get((section,), 1)
            if not isinstance(table, dict):
                msg = f"[{section}] must be a table of packages"
                findings.append(finding("RP001", msg, source.at(section_line)))
                continue
            for key, value in table.items():
                line = lines.get((section, key), section_line)
                try:
                    spec = pipenv_entry_spec(key, value)
                except ValueError as exc:  # SpecError, or a URL urllib rejects
                    msg = f"[{section}] {key}: {exc}"
                    findings.append(finding("RP001", msg, source.at(line), subject=key))
                    continue
                declared.append(Declared(spec=spec, line=line, group=group))
                findings.extend(judge_manifest(spec, source.at(line), judge_ctx))
        findings.extend(_source_findings(data.get("source"), lines, source, ("source",)))
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.MANIFEST,
            findings=tuple(findings),
            declared=tuple(declared),
            manifest=Manifest(pipenv_hashes=pipfile_hashes(data)),
        )


def _categories(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for section, group in BASE_CATEGORIES.items():
        if section in data:
            yield section, group
    for section, value in data.items():
        if section in NON_CATEGORIES or section in BASE_CATEGORIES:
            continue
        # A custom category is a table of packages; anything else is not pipenv's business.
        if isinstance(value, dict):
            yield section, section


def _source_findings(
    sources: object,
    lines: Mapping[tuple[str | int, ...], int],
    source: SourceFile,
    prefix: tuple[str, ...],
) -> Iterator[Finding]:
    if not isinstance(sources, list):
        return
    for index, entry in enumerate(sources):
        if not isinstance(entry, dict) or entry.get("verify_ssl", True) is not False:
            continue
        # Never copy a token from a source URL into a report.
        url = re.sub(r"//[^/@\s]+@", "//***@", str(entry.get("url") or ""))
        label = str(entry.get("name") or url or f"#{index + 1}")
        line = lines.get((*prefix, index, "verify_ssl"), lines.get((*prefix, index), 1))
        yield finding(
            "RP107",
            f"TLS verification is off for source {label}",
            source.at(line),
            subject=label,
            fix="verify_ssl = true",
        )
