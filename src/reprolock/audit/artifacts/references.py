"""What the artifact scanners share: whether a revision names fixed content, the
registry URIs, artifact aliases and data paths that move, and placing a hit in its file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reprolock.audit.interface import SourceFile
from reprolock.audit.revisions import COMMIT_FIX, revision_problem
from reprolock.model import Finding
from reprolock.rules import finding

# MLflow registry URIs: models:/<name>/<version or stage> and models:/<name>@<alias>.
MODELS_URI = re.compile(
    r"models:/(?P<name>[^/@\s'\"]+)(?:/(?P<ref>[^/\s'\"?#]+)|@(?P<alias>[\w-]+))"
)
# A W&B artifact reference written out in full (entity/project/name:alias). The entity has no
# dots so that registry-qualified container images (ghcr.io/org/img:latest) are not taken.
WANDB_FULL_LATEST = re.compile(r"^[\w-]+/[\w.-]+/[\w.-]+:latest$")
WANDB_REF = re.compile(r"^(?P<path>(?:[\w.-]+/){0,2}[\w.-]+)(?::(?P<alias>[\w.-]+))?$")
WANDB_VERSION = re.compile(r"^v\d+$")

_DATA_SCHEMES = frozenset(
    {
        "s3", "s3a", "s3n", "gs", "gcs", "az", "abfs", "abfss", "wasb", "wasbs", "adl",
        "hdfs", "dbfs", "oss", "r2", "file",
    }
)  # fmt: skip
DATA_URI = re.compile(
    r"(?<![\w+.-])(?:(?P<scheme>[A-Za-z][\w+.-]*):/{1,3}|(?P<fuse>/dbfs/))[^\s'\"<>]*"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """A finding before it is placed in a file (notebooks map lines to their JSON)."""

    rule: str
    message: str
    line: int
    column: int = 1
    subject: str = ""
    fix: str | None = None


def model_hit(
    model: str, where: str, line: int, column: int = 1, *, problem: str | None = None
) -> Hit:
    """RP601 for a hub model named in ``where`` (a config key) with no revision beside it, or
    one that can move (``problem``, from :func:`revision_problem`)."""
    how = f"at revision {problem}" if problem else "without a revision"
    return Hit(
        rule="RP601",
        message=f"model {model} ({where}) is fetched {how}",
        line=line,
        column=column,
        subject=model,
        fix=f"pin the revision beside it: revision={COMMIT_FIX}",
    )


def registry_hits(text: str, line: int, column: int = 1) -> list[Hit]:
    """RP603 for every MLflow ``models:/`` URI in ``text`` that names a stage or alias."""
    out: list[Hit] = []
    for match in MODELS_URI.finditer(text):
        name, ref, alias = match.group("name"), match.group("ref"), match.group("alias")
        if "{" in name or "$" in name:
            name = "<name>"
        uri = match.group(0)
        if alias is not None:
            message = f"{uri} names the alias {alias!r}, which can be moved to another version"
        elif ref is not None and ref.lower() == "latest":
            message = f"{uri} names 'latest', whichever version was registered last"
        elif ref is not None and not ref.isdigit() and "{" not in ref and "$" not in ref:
            message = f"{uri} names the stage {ref!r}, not a version"
        else:
            continue
        out.append(
            Hit(
                rule="RP603",
                message=message,
                line=line,
                column=column,
                subject=name,
                fix=f"models:/{name}/<version number>",
            )
        )
    return out


def latest_segment(path: str) -> bool:
    return any(part.lower() == "latest" for part in path.split("/"))


def latest_uris(text: str) -> list[str]:
    """Data-store URIs in ``text`` (s3://, gs://, abfss://, dbfs:/, /dbfs/...) with a
    ``latest`` path segment."""
    out: list[str] = []
    for match in DATA_URI.finditer(text):
        scheme = match.group("scheme")
        if scheme is not None and scheme.lower() not in _DATA_SCHEMES:
            continue
        uri = match.group(0).rstrip(".,;:)]}")
        body = uri.split(":", 1)[1] if scheme is not None else uri
        if latest_segment(body):
            out.append(uri)
    return out


def latest_hit(path: str, line: int, column: int = 1) -> Hit:
    fixed = re.sub(r"(?i)(?<=/)latest(?=/|$)|^latest(?=/)", "<version>", path, count=1)
    return Hit(
        rule="RP604",
        message=f"data path {path} reads a 'latest' location, whose content can change",
        line=line,
        column=column,
        subject=path,
        fix=fixed,
    )


LAKEFS_URI = re.compile(r"lakefs://(?P<repo>[\w.-]+)/(?P<ref>[^/\s'\"]+)(?P<path>/[^\s'\"]*)?")
_LAKEFS_BRANCHES = frozenset(
    {"main", "master", "dev", "develop", "development", "staging", "stage", "prod", "production"}
)
"""lakeFS refs read as branches. Any other name may be a tag, which lakeFS never moves, so
only these are reported."""
REGISTRY_LATEST = re.compile(
    r"https?://[^\s'\"]*/subjects/(?P<subject>[^/\s'\"]+)/versions/latest/?(?:schema)?"
)
"""A Confluent-compatible schema registry URL of a subject's newest version."""


def data_ref_hits(text: str, line: int, column: int = 1) -> list[Hit]:
    """RP604 for ``text`` that *is* a lakeFS path on a branch, or a schema registry URL of a
    subject's latest version."""
    match = LAKEFS_URI.fullmatch(text)
    if (
        match is not None
        and match.group("ref").lower() in _LAKEFS_BRANCHES
        and (match.group("path") or "/") != "/"  # a branch itself, not data on it
    ):
        repo, ref, path = match.group("repo"), match.group("ref"), match.group("path") or ""
        return [
            Hit(
                rule="RP604",
                message=f"lakeFS path {text} reads branch {ref!r}, whose head moves with each "
                "commit",
                line=line,
                column=column,
                subject=f"lakefs://{repo}{path}",
                fix=f"lakefs://{repo}/<commit id or tag>{path}",
            )
        ]
    match = REGISTRY_LATEST.fullmatch(text)
    if match is not None:
        subject = match.group("subject")
        return [
            Hit(
                rule="RP604",
                message=f"schema registry URL {text} reads the latest version of subject "
                f"{subject}, which changes when a new schema is registered",
                line=line,
                column=column,
                subject=subject,
                fix=text.replace("/versions/latest", "/versions/<version>", 1),
            )
        ]
    return []


_HOSTED_FILE = re.compile(
    r"https?://(?:"
    r"raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/(?P<gh>[^/\s]+)/"
    r"|(?:github|gitlab)\.com/[\w.-]+/[\w.-]+/(?:-/)?(?:raw|blob)/(?P<repo>[^/\s]+)/"
    r"|huggingface\.co/(?:datasets/)?[\w.-]+/[\w.-]+/resolve/(?P<hf>[^/\s]+)/"
    r")\S+"
)
"""A file served from a git host at a ref: raw GitHub/GitLab URLs and hub ``resolve/`` URLs."""


def floating_url(url: str) -> tuple[str, str] | None:
    """For a file URL on a git host at a branch or tag, the ref and why it moves; None for
    any other URL, or one at a full commit."""
    match = _HOSTED_FILE.fullmatch(url.strip())
    if match is None:
        return None
    ref = match.group("gh") or match.group("repo") or match.group("hf")
    problem = revision_problem(ref)
    return None if problem is None else (ref, problem)


def wandb_hit(ref: str, alias: str | None, line: int, column: int = 1) -> Hit:
    path = ref.split(":", 1)[0]
    if alias is None:
        message = f"artifact {ref} names no version, so the 'latest' alias is used"
    else:
        message = f"artifact {ref} uses the alias {alias!r}, which moves to each new version"
    return Hit(
        rule="RP603",
        message=message,
        line=line,
        column=column,
        subject=path,
        fix=f"{path}:v<N>",
    )


def located(
    hits: Iterable[Hit], source: SourceFile, line_map: Sequence[int] | None = None
) -> list[Finding]:
    out: list[Finding] = []
    for hit in hits:
        if line_map is None:
            location = source.at(hit.line, hit.column)
        else:
            index = min(max(hit.line, 1), len(line_map)) - 1
            location = source.at(line_map[index] if line_map else 1)
        out.append(finding(hit.rule, hit.message, location, subject=hit.subject, fix=hit.fix))
    return out
