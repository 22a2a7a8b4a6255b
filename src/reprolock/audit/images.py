"""Container image references: splitting them, and judging whether they are pinned (RP301/RP302)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reprolock.model import Finding, Location
from reprolock.rules import finding

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


def judge_image(
    ref: str, location: Location, *, written: str | None = None, unresolved: Sequence[str] = ()
) -> list[Finding]:
    """RP301/RP302 for an image reference: a digest pins it, an invalid digest or a tag without
    one is RP301, ``latest`` or no tag is RP302; ``scratch`` is no image.

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
    if not image.tag or image.tag == "latest":
        if image.tag:
            message = f"{ref} uses the mutable tag latest"
        else:
            message = f"{ref} has no tag, so it means {ref}:latest"
        fix = f"{image.name}:<version>@sha256:<digest>"
        return [finding("RP302", message, location, subject=subject, fix=fix)]
    message = f"{ref} is not pinned by digest"
    return [finding("RP301", message, location, subject=subject, fix=digest_fix)]
