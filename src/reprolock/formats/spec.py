"""A requirement read into a :class:`Spec`: PEP 508 (``name[extras] spec ; marker``), a URL
or a path, classified by what it asks the installer for. Judging it is :mod:`reprolock.specs`.
"""

from __future__ import annotations

import enum
import functools
import re
import sys
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


class SpecKind(enum.Enum):
    """What kind of thing a requirement asks the installer for."""

    EXACT = "exact"
    """``==1.2.3`` or ``===1.2.3`` (a local version such as ``+cu121`` is still exact)."""
    RANGE = "range"
    """Any other specifier: ``>=``, ``~=``, ``<``, ``==1.*``, ``!=`` alone, or a ``${VAR}``."""
    UNPINNED = "unpinned"
    """A name with no specifier at all."""
    URL = "url"
    """A direct URL to an archive or wheel."""
    VCS = "vcs"
    """A ``git+``/``hg+``/``svn+``/``bzr+`` URL."""
    PATH = "path"
    """A local directory or archive (``./pkg``, ``file:...``)."""


class SpecError(ValueError):
    """A requirement that is not valid PEP 508 (the message says why)."""


_VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_HASH_FRAGMENT = re.compile(r"(?:^|&)(sha256|sha384|sha512)=([0-9a-fA-F]+)")
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIGITS = re.compile(r"\d+")
_DEFAULT_DIGIT_LIMIT = 4300
_LEAST_DIGIT_LIMIT = sys.int_info.str_digits_check_threshold
"""The lowest limit ``sys.set_int_max_str_digits`` accepts (640), 0 (no limit) aside."""
_NAME_AT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?\s*@")


@dataclass(frozen=True, kw_only=True, slots=True)
class Spec:
    """A classified requirement."""

    raw: str
    """The text as written (without options such as ``--hash``)."""
    name: str
    """Canonical project name (PEP 503); empty when a bare URL or path has none."""
    kind: SpecKind
    """The classification."""
    display_name: str = ""
    """The name as written, for messages."""
    specifier: str = ""
    """The version specifier as text, e.g. ``>=1.3,<2``."""
    version: str | None = None
    """The exact version for :attr:`SpecKind.EXACT`."""
    url: str | None = None
    """The URL or path for URL, VCS and PATH kinds."""
    vcs_ref: str | None = None
    """The revision after ``@`` in a VCS URL, if any."""
    extras: tuple[str, ...] = ()
    """Requested extras, sorted."""
    marker: str | None = None
    """Environment marker as text."""
    editable: bool = False
    """``-e`` / ``--editable``."""
    hashes: tuple[str, ...] = field(default=())
    """``algo:hex`` hashes given with the requirement (``--hash`` or a URL fragment)."""
    env_vars: tuple[str, ...] = ()
    """``${VAR}`` names used in the version part, whose value is decided at install time."""

    @property
    def label(self) -> str:
        """How to name the requirement in a message."""
        return self.display_name or self.name or (self.url or self.raw)

    @property
    def immutable_ref(self) -> bool:
        """True for a VCS URL pinned to a full commit id."""
        return self.vcs_ref is not None and bool(_COMMIT.match(self.vcs_ref.lower()))

    def with_hashes(self, hashes: tuple[str, ...]) -> Spec:
        """A copy carrying these extra hashes."""
        return replace(self, hashes=tuple(dict.fromkeys((*self.hashes, *hashes))))


def looks_like_url_or_path(text: str) -> bool:
    """True for a bare URL, VCS URL or local path (as pip accepts on a line or in argv)."""
    t = text.strip()
    if _URL_START.match(t) or t.startswith(_VCS_SCHEMES) or t.startswith("file:"):
        return True
    if t.startswith((".", "/", "~")) or t in {"."}:
        return True
    # pip treats an argument with a path separator, or an archive name, as a path
    return "/" in t or "\\" in t or t.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz"))


def classify(text: str, *, editable: bool = False, hashes: tuple[str, ...] = ()) -> Spec:
    """Classify one requirement: PEP 508 (``name[extras] spec ; marker``), a URL or a path.

    Raises :class:`SpecError` when the text is neither valid PEP 508 nor a URL or path.
    """
    try:
        return _classify(text, editable=editable, hashes=hashes)
    except SpecError:
        raise
    except ValueError as exc:  # urllib rejects some URLs (an unclosed IPv6 bracket, a bad port)
        raise SpecError(f"invalid URL: {exc}") from None


NEVER_OVERSIZED = _LEAST_DIGIT_LIMIT
"""No text of at most this many characters holds a number :func:`oversized_number` refuses."""


def oversized_number(text: str) -> str | None:
    """Why ``text`` cannot hold a version: a number of more digits than Python converts to an
    int (``sys.get_int_max_str_digits()``, 4300 by default), on which pip's own version parser
    fails as ours would; None when there is none."""
    if len(text) <= NEVER_OVERSIZED:
        return None  # most texts: shorter than any limit Python allows
    limit = sys.get_int_max_str_digits() or _DEFAULT_DIGIT_LIMIT
    if len(text) <= limit:
        return None
    longest = max((len(run) for run in _DIGITS.findall(text)), default=0)
    if longest <= limit:
        return None
    return f"a number of {longest} digits, more than any installer reads as a version ({limit})"


def _classify(text: str, *, editable: bool, hashes: tuple[str, ...]) -> Spec:
    raw = text.strip()
    if not raw:
        raise SpecError("empty requirement")
    oversized = oversized_number(raw)
    if oversized is not None:
        raise SpecError(oversized)
    if editable or (not _NAME_AT.match(raw) and looks_like_url_or_path(raw)):
        return _classify_location(raw, name="", display="", editable=editable, hashes=hashes)

    env_vars = tuple(_ENV_VAR.findall(raw))
    parse_text = _ENV_VAR.sub("0", raw) if env_vars else raw
    try:
        req = Requirement(parse_text)
    except InvalidRequirement as exc:
        raise SpecError(_first_line(str(exc))) from None
    name = canonicalize_name(req.name)
    extras = tuple(sorted(req.extras))
    marker = str(req.marker) if req.marker is not None else None
    if req.url is not None:
        url = raw.split("@", 1)[1].split(";", 1)[0].strip() if "@" in raw else req.url
        return _classify_location(
            url,
            name=name,
            display=req.name,
            editable=False,
            hashes=hashes,
            raw=raw,
            extras=extras,
            marker=marker,
        )
    specifier_text = str(req.specifier)
    if env_vars:
        spec_part = raw[len(req.name) :].split(";", 1)[0]
        if extras:
            spec_part = spec_part.split("]", 1)[-1]
        specifier_text = spec_part.strip()
    kind, version = _classify_specifier(req) if not env_vars else (SpecKind.RANGE, None)
    return Spec(
        raw=raw,
        name=name,
        kind=kind,
        display_name=req.name,
        specifier=specifier_text,
        version=version,
        extras=extras,
        marker=marker,
        hashes=hashes,
        env_vars=env_vars,
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid requirement"


def _classify_specifier(req: Requirement) -> tuple[SpecKind, str | None]:
    specs = list(req.specifier)
    if not specs:
        return SpecKind.UNPINNED, None
    for s in specs:
        if s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")):
            return SpecKind.EXACT, s.version
    return SpecKind.RANGE, None


def _classify_location(
    url: str,
    *,
    name: str,
    display: str,
    editable: bool,
    hashes: tuple[str, ...],
    raw: str | None = None,
    extras: tuple[str, ...] = (),
    marker: str | None = None,
) -> Spec:
    text = url.strip()
    frag_name = ""
    if "#" in text:
        frag = text.split("#", 1)[1]
        m = re.search(r"(?:^|&)egg=([A-Za-z0-9._-]+)", frag)
        if m:
            frag_name = m.group(1)
        hashes = (*hashes, *(f"{a}:{h.lower()}" for a, h in _HASH_FRAGMENT.findall(frag)))
    if not name and frag_name:
        name, display = canonicalize_name(frag_name), frag_name
    common = {
        "raw": raw if raw is not None else text,
        "name": name,
        "display_name": display,
        "url": text,
        "extras": extras,
        "marker": marker,
        "editable": editable,
        "hashes": tuple(dict.fromkeys(hashes)),
    }
    if text.startswith(_VCS_SCHEMES) or text.lower().startswith(("git://", "svn://")):
        return Spec(kind=SpecKind.VCS, vcs_ref=vcs_revision(text), **common)  # type: ignore[arg-type]
    scheme = urlsplit(text).scheme.lower()
    if scheme in {"http", "https", "ftp"}:
        return Spec(kind=SpecKind.URL, **common)  # type: ignore[arg-type]
    return Spec(kind=SpecKind.PATH, **common)  # type: ignore[arg-type]


def vcs_revision(url: str) -> str | None:
    """The ``@rev`` of a VCS URL (``git+https://host/repo.git@rev#egg=x``), or None."""
    body = url.split("#", 1)[0]
    parts = urlsplit(body.split("+", 1)[1] if "+" in body else body)
    path = parts.path
    if "@" not in path:
        return None
    rev = path.rsplit("@", 1)[1]
    return rev or None


@functools.lru_cache(maxsize=32768)
def classify_cached(text: str, editable: bool = False) -> Spec:
    """``classify(text, editable=editable)``, shared across files.

    A monorepo repeats the same lines (``numpy==1.26.4``) across hundreds of files; a Spec is
    immutable, so the classification is shared. Errors are not cached and raise each time.
    """
    return classify(text, editable=editable)
