"""Container image references: splitting them, and judging whether they are pinned (RP301/RP302)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reprolock.model import Finding, Location
from reprolock.rules import finding

FLOATING_TAG_WORDS = frozenset({"latest", "rolling", "nightly", "edge"})
"""A tag with one of these words anywhere (``latest-gpu``, ``py3-nightly``) follows every
release."""
FLOATING_TAG_HEADS = frozenset(
    {
        "main",
        "master",
        "dev",
        "develop",
        "devel",
        "stable",
        "unstable",
        "testing",
        "sid",
        "canary",
        "lts",
        "current",
    }
)
"""A tag that is one of these words, or starts with one (``stable-slim``), follows a branch or
a channel. Later in a tag such a word is a flavour (``12.1.0-devel-ubuntu22.04``), not this."""
_TAG_WORD = re.compile(r"[-_.]")
_DATE_OR_COMMIT = re.compile(r"^(?:\d{8}|\d{4}-\d{2}-\d{2}|(?=.*\d)(?=.*[a-f])[0-9a-f]{7,40})$")
_DIGEST = re.compile(r"^(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
_REGISTRY_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageName:
    """An image reference split into its parts."""

    name: str
    """Registry and repository: ``docker.io/library/python``, ``python``."""
    tag: str | None
    digest: str | None


def split_image(ref: str) -> ImageName:
    """``name[:tag][@digest]``; a registry port (``host:5000/x``) is not a tag."""
    rest, _, digest = ref.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageName(name=rest[:colon], tag=rest[colon + 1 :], digest=digest or None)
    return ImageName(name=rest, tag=None, digest=digest or None)


def repository_and_tag(ref: str) -> tuple[str, str]:
    """``(repository, tag)`` of an image reference, Docker Hub prefixes removed, lower-cased."""
    image = split_image(ref.strip().lower())
    name = image.name
    for prefix in _REGISTRY_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.removeprefix("library/"), image.tag or ""


def python_of_image(ref: str) -> str | None:
    """The Python minor version a ``python:3.11-slim``-style image implies, or None."""
    image = split_image(ref)
    if image.name.rsplit("/", 1)[-1] != "python" or not image.tag:
        return None
    match = re.match(r"^(\d+)\.(\d+)(?![\d])", image.tag)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def floating_tag(tag: str) -> str | None:
    """The word that makes ``tag`` follow releases or a branch (``latest`` in ``latest-gpu``),
    or None for a tag that names one build. A date or a commit stamped on a nightly
    (``nightly-2024-06-01``) names one build."""
    words = [w for w in _TAG_WORD.split(tag.lower()) if w]
    if not words:
        return None
    stamped = "-".join(words[1:])
    if any(_DATE_OR_COMMIT.match(w) for w in words[1:]) or _DATE_OR_COMMIT.match(stamped):
        return None if words[0] != "latest" else "latest"
    if words[0] in FLOATING_TAG_HEADS:
        return words[0]
    return next((w for w in words if w in FLOATING_TAG_WORDS), None)


def judge_image(
    ref: str, location: Location, *, written: str | None = None, unresolved: Sequence[str] = ()
) -> list[Finding]:
    """RP301/RP302 for an image reference: a digest pins it, an invalid digest or a tag without
    one is RP301, ``latest``, another floating tag (:func:`floating_tag`) or no tag is RP302;
    ``scratch`` is no image.

    ``written`` is the reference as written when ``ref`` is it with build variables substituted
    (Dockerfile ``ARG``s); ``unresolved`` names the variables without a value, which are left
    in ``ref`` as ``${NAME}``, so that the build command decides the image (RP302) or digest
    (RP301). Without ``written`` the reference is taken literally: one built from variables or
    expressions cannot be judged and gives nothing.
    """
    if written is None:
        ref = ref.strip()
        if not ref or "$" in ref:
            return []
        written = ref
    if ref.lower() == "scratch":
        return []
    image = split_image(ref)
    names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(unresolved))
    head = f"{image.name}:{image.tag}" if image.tag else image.name
    subject = image.name if "$" not in image.name else written
    digest_fix = f"{head}@sha256:<digest> (docker buildx imagetools inspect {head} shows it)"
    if "$" in head:
        message = f"{written}: {names} has no default, so the build command decides the image"
        fix = "give the ARG a default that names a digest: ARG BASE=<image>:<tag>@sha256:<digest>"
        return [finding("RP302", message, location, subject=subject, fix=fix)]
    if image.digest is not None:
        if "$" in image.digest:
            message = f"{written}: the digest comes from {names}, which has no default"
        elif not _DIGEST.match(image.digest):
            message = f"{ref}: {image.digest} is not a valid sha256 digest"
        else:
            return []
        return [finding("RP301", message, location, subject=subject, fix=digest_fix)]
    floating = floating_tag(image.tag) if image.tag else None
    if not image.tag or floating is not None:
        if image.tag == "latest":
            message = f"{ref} uses the mutable tag latest"
        elif image.tag:
            message = f"{ref} uses the floating tag {image.tag} ({floating}): as mutable as latest"
        else:
            message = f"{ref} has no tag, so it means {ref}:latest"
        fix = f"{image.name}:<version>@sha256:<digest>"
        return [finding("RP302", message, location, subject=subject, fix=fix)]
    message = f"{ref} is not pinned by digest"
    return [finding("RP301", message, location, subject=subject, fix=digest_fix)]
