"""SARIF 2.1.0 output, shaped for GitHub code scanning (``upload-sarif``) and SARIF viewers."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from reprolock import __version__
from reprolock.model import Finding, Report, Severity
from reprolock.report.common import display, markdown_fence, message_with_fix, uri_path
from reprolock.rules import RULES, Rule

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/reprolock/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "reprolockFingerprint/v1"
"""Versioned so that a future change of the fingerprint recipe does not collide."""

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}

# Tags by rule family (the first digit of the id); GitHub lets users filter alerts by tag.
_FAMILY_TAGS: dict[str, tuple[str, ...]] = {
    "0": ("input",),
    "1": ("dependencies", "pinning"),
    "2": ("dependencies", "lockfile"),
    "3": ("container",),
    "4": ("ci",),
    "5": ("ml-framework",),
    "6": ("model-and-data",),
    "7": ("conda", "pinning"),
}
# Rules about the integrity of what is installed, not only its version.
_SUPPLY_CHAIN = frozenset({"RP103", "RP104", "RP105", "RP107", "RP203", "RP301", "RP302", "RP401"})


def render_sarif(report: Report) -> str:
    """The SARIF log as indented JSON with a trailing newline; same report, same bytes."""
    return json.dumps(sarif_log(report), indent=2) + "\n"


def sarif_log(report: Report) -> dict[str, Any]:
    """The SARIF log as plain data."""
    # Every rule is listed, not only those with results, so that an alert opened later still
    # finds its help text and a rule's index never depends on the findings.
    index = {rule_id: i for i, rule_id in enumerate(RULES)}
    version = report.version or __version__
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "reprolock",
                "version": version,
                "semanticVersion": version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(rule) for rule in RULES.values()],
            }
        },
        "originalUriBaseIds": {SRCROOT: _srcroot(report.root, report.path_prefix)},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index, report) for f in report.findings],
        "properties": {"filesScanned": report.files_scanned, "suppressed": report.suppressed},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _srcroot(root: str, prefix: str) -> dict[str, Any]:
    base: dict[str, Any] = {"description": {"text": "The directory reprolock ran in."}}
    if prefix and root:
        # Result URIs carry the prefix, so the base is the directory the prefix is relative to.
        root = str(PurePath(root).parents[prefix.rstrip("/").count("/")])
    # The spec requires an absolute URI ending in "/" here; a report built from a relative
    # root (by a library caller) can only describe its base.
    if root and PurePath(root).is_absolute():
        uri = PurePath(root).as_uri()
        base = {"uri": uri if uri.endswith("/") else uri + "/", **base}
    return base


def _rule(rule: Rule) -> dict[str, Any]:
    tags = ["reproducibility", *_FAMILY_TAGS.get(rule.id[2:3], ())]
    if rule.id in _SUPPLY_CHAIN:
        tags.append("supply-chain")
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary}. {rule.rationale}"},
        "help": {"text": _help_text(rule), "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": tags, "precision": "very-high"},
    }


def _help_text(rule: Rule) -> str:
    return (
        f"{rule.summary}.\n\n{rule.rationale}\n\n"
        f"Flagged:\n{_indent(rule.bad)}\nFixed:\n{_indent(rule.good)}\n"
        f"Fix: {rule.fix}\n"
    )


def _help_markdown(rule: Rule) -> str:
    return (
        f"**{rule.id} {rule.name}**: {rule.summary}.\n\n{rule.rationale}\n\n"
        f"Flagged:\n\n{markdown_fence(rule.bad)}\nFixed:\n\n{markdown_fence(rule.good)}\n"
        f"**Fix:** {rule.fix}\n"
    )


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


def _result(finding: Finding, index: dict[str, int], report: Report) -> dict[str, Any]:
    loc = finding.location
    result: dict[str, Any] = {"ruleId": finding.rule}
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    result["level"] = _LEVEL[finding.severity]
    result["message"] = {"text": message_with_fix(finding)}
    result["locations"] = [
        {
            "physicalLocation": {
                "artifactLocation": {
                    "uri": _relative_uri(report.host_path(loc.path)),
                    "uriBaseId": SRCROOT,
                },
                "region": {"startLine": max(loc.line, 1), "startColumn": max(loc.column, 1)},
            }
        }
    ]
    result["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint}
    properties: dict[str, Any] = {}
    if finding.subject:
        properties["subject"] = display(finding.subject)
    if finding.fix:
        properties["fix"] = display(finding.fix)
    if properties:
        result["properties"] = properties
    return result


def _relative_uri(path: str) -> str:
    # A relative reference must not start with a scheme-like segment (`c:`), and spaces or
    # `#` would change its meaning: percent-encode everything but the separators.
    return uri_path(path.replace("\\", "/").lstrip("/"))
