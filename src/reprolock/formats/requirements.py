"""A requirements file read the way pip reads it: logical lines, options, includes, hashes.

Every line stands alone: a line pip would reject becomes a :class:`Problem` and reading goes
on. Nothing here judges what the file installs (that is :mod:`reprolock.specs`).
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import unquote

from packaging.markers import Marker
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from reprolock.formats.errors import EXCERPT_CHARS, Problem, excerpt, requirement_excerpt
from reprolock.formats.header import Header, read_header
from reprolock.formats.spec import Spec, SpecKind, classify_cached, looks_like_url_or_path
from reprolock.model import Severity


@dataclass(frozen=True, kw_only=True, slots=True)
class ReqEntry:
    """A requirement line."""

    spec: Spec
    """The classified requirement, with its ``--hash`` values."""
    line: int
    """Line where the requirement starts."""
    column: int = 1
    """Column of its first character."""
    unhashed: Spec | None = None
    """``spec`` without its hashes when it has some: one object for every line that reads the
    same (the audit keeps its requirements without their hashes)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionEntry:
    """A file-level option such as ``--extra-index-url URL``."""

    name: str
    """Canonical long name, e.g. ``--index-url`` (also for ``-i``)."""
    value: str | None
    """Its value; None for flags."""
    line: int
    """Line of the option."""
    column: int = 1
    """Column of the line's first character."""


@dataclass(frozen=True, kw_only=True, slots=True)
class IncludeEntry:
    """A ``-r``/``-c`` line, as written."""

    path: str
    """The target as written (relative to the including file, a URL, ...)."""
    line: int
    """Line of the option."""
    column: int = 1
    """Column of the line's first character."""
    constraint: bool = False
    """True for ``-c``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedRequirements:
    """Everything read from one requirements file, before any judgement."""

    requirements: tuple[ReqEntry, ...] = ()
    """Requirement lines, in order."""
    options: tuple[OptionEntry, ...] = ()
    """File-level options other than ``-r``/``-c``/``-e``."""
    includes: tuple[IncludeEntry, ...] = ()
    """``-r``/``-c`` lines (the one pip follows on each line)."""
    problems: tuple[Problem, ...] = ()
    """Lines pip would reject."""
    header: Header | None = None
    """The pip-compile/uv/PDM header, if any."""


_LONG_OPTIONS: dict[str, tuple[str, bool]] = {
    # name as written -> (canonical name, takes a value); pip's requirements-file parser
    "--index-url": ("--index-url", True),
    "--pypi-url": ("--index-url", True),
    "--extra-index-url": ("--extra-index-url", True),
    "--no-index": ("--no-index", False),
    "--constraint": ("--constraint", True),
    "--requirement": ("--requirement", True),
    "--editable": ("--editable", True),
    "--find-links": ("--find-links", True),
    "--no-binary": ("--no-binary", True),
    "--only-binary": ("--only-binary", True),
    "--prefer-binary": ("--prefer-binary", False),
    "--require-hashes": ("--require-hashes", False),
    "--no-require-hashes": ("--no-require-hashes", False),
    "--pre": ("--pre", False),
    "--all-releases": ("--all-releases", True),
    "--only-final": ("--only-final", True),
    "--trusted-host": ("--trusted-host", True),
    "--use-feature": ("--use-feature", True),
    # gone from recent pips, still common in files written for older ones
    "--global-option": ("--global-option", True),
    "--hash": ("--hash", True),
    "--config-settings": ("--config-settings", True),
}
_SHORT_OPTIONS = {
    "-i": "--index-url",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_PER_REQUIREMENT = frozenset({"--hash", "--global-option", "--config-settings"})
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class _OptionError(ValueError):
    """An option pip's parser rejects."""


def _match_long(written: str) -> str:
    """The long option ``written`` names, with optparse's unique-prefix abbreviations."""
    if written in _LONG_OPTIONS:
        return written
    matches = sorted(name for name in _LONG_OPTIONS if name.startswith(written))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _OptionError(f"ambiguous option: {written} ({', '.join(matches)}?)")
    raise _OptionError(f"no such option: {_token(written)}")


def _parse_options(tokens: list[str]) -> list[tuple[str, str | None]]:
    """``(canonical name, value)`` pairs, the way optparse reads pip's options."""
    out: list[tuple[str, str | None]] = []
    index = 0
    while index < len(tokens):
        word = tokens[index]
        index += 1
        if word == "--":
            break
        if word.startswith("--"):
            written, eq, value = word.partition("=")
            canonical, takes_value = _LONG_OPTIONS[_match_long(written)]
            if not takes_value:
                if eq:
                    raise _OptionError(f"{canonical} option does not take a value")
                out.append((canonical, None))
                continue
            if not eq:
                if index >= len(tokens):
                    raise _OptionError(f"{canonical} option requires 1 argument")
                value = tokens[index]
                index += 1
            out.append((canonical, value))
        elif word.startswith("-") and len(word) > 1:
            short = word[:2]
            if short not in _SHORT_OPTIONS:
                raise _OptionError(f"no such option: {_token(short)}")
            value = word[2:]
            if not value:
                if index >= len(tokens):
                    raise _OptionError(f"{short} option requires 1 argument")
                value = tokens[index]
                index += 1
            out.append((_SHORT_OPTIONS[short], value))
        # pip ignores positional words after the first option
    return out


# Quotes, backslashes and unusual whitespace are where shlex and str.split differ.
_NEEDS_SHLEX = re.compile(r"['\"\\]|[^\S \t\r\n]")


def _split_options(text: str) -> list[str]:
    """``shlex.split``, without its per-character cost when nothing needs quoting rules."""
    return shlex.split(text) if _NEEDS_SHLEX.search(text) else text.split()


def _check_option_value(name: str, value: str) -> str | None:
    """Why pip (or the hash itself) rejects this value, or None."""
    if name == "--hash":
        algo, sep, digest = value.partition(":")
        if not sep:
            return (
                f"--hash={_token(value)} must be an algorithm and a digest, "
                "like --hash=sha256:<hex>"
            )
        if algo not in _HASH_LENGTHS:
            return (
                f"--hash algorithm {excerpt(algo)} is not accepted by pip "
                "(use sha256, sha384 or sha512)"
            )
        if len(digest) != _HASH_LENGTHS[algo] or not _HEX.match(digest):
            return (
                f"--hash={algo}:{digest[:16]}{'...' if len(digest) > 16 else ''} is not a "
                f"{algo} digest ({_HASH_LENGTHS[algo]} hex digits)"
            )
    elif name == "--config-settings" and "=" not in value:
        return f"--config-settings {_token(value)} must be of the form KEY=VAL"
    elif name in {"--no-binary", "--only-binary"} and value.startswith("-"):
        return f"{name} needs a value (:all:, :none: or package names), not {_token(value)}"
    return None


def _token(text: str) -> str:
    """A token of a file for a message, without quotes when short and plain, cut when long."""
    if len(text) <= EXCERPT_CHARS and text.isprintable() and "'" not in text:
        return text
    return excerpt(text)


def _comment_start(line: str) -> int:
    """Index where pip's comment regex ``(^|\\s+)#.*$`` starts a comment, or -1."""
    index = line.find("#")
    while index >= 0:
        if index == 0 or line[index - 1].isspace():
            return index
        index = line.find("#", index + 1)
    return -1


def _is_comment_line(line: str) -> bool:
    return line.lstrip().startswith("#")


def _logical_lines(physical: list[str]) -> Iterator[tuple[int, str]]:
    """pip's ``join_lines`` + ``ignore_comments``: (first line number, content) pairs. A blank
    or comment line of its own holds nothing and is not yielded (a lock has one per package)."""
    parts: list[str] = []
    primary = 0
    for number, raw in enumerate(physical, start=1):
        # Whether the line is a comment matters only to continue or end a continuation, and a
        # line with no "#" is none (most lines of a hashed lock are "--hash=... \\").
        if raw.endswith("\\") and ("#" not in raw or not raw.lstrip().startswith("#")):
            if not parts:
                primary = number
            parts.append(raw.strip("\\"))
        elif parts:
            # a comment line ends a continuation; pip keeps it so it is stripped below
            comment = "#" in raw and raw.lstrip().startswith("#")
            parts.append(" " + raw if comment else raw)
            yield primary, "".join(parts)
            parts = []
        else:
            stripped = raw.lstrip()
            if stripped and stripped[0] != "#":
                yield number, raw
    if parts:
        yield primary, "".join(parts)


# Where ``str.splitlines`` breaks a line besides "\n". A text with none of them once its "\r\n"
# are "\n" (almost every requirements file) is read a line at a time when no line continues,
# else by :func:`_entries_by_regex`; all others line by line as pip reads them.
_OTHER_BREAKS = re.compile(r"[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_ASCII_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")


def _breaks_only_at_newlines(text: str) -> bool:
    """True when ``str.splitlines`` and ``str.split("\\n")`` see the same lines in ``text``."""
    if text.isascii():  # a flag of the string: no scan
        return not any(mark in text for mark in _ASCII_BREAKS)
    return _OTHER_BREAKS.search(text) is None


# The start of a logical line in a text that breaks only at "\n": a line neither blank nor a
# comment (the match is its indentation).
_START = re.compile(r"^[^\S\n]*(?=[^\s#])", re.MULTILINE)
# A logical line from its start: the lines its trailing backslashes join (a comment line never
# continues one), and the comment line that ends the last of them if one does (group 1).
_LOGICAL = re.compile(r"(?:[^\n]*\\\n(?![^\S\n]*#))*[^\n]*(?:(?<=\\)(\n[^\n]*))?")
# The first line break of a continued entry with no backslash before it (where the entry ends
# if no comment line ends it first), or after two backslashes, or before one: the first line
# break where pip's join is not the removal of a backslash and the line break after it.
_BREAK = re.compile(r"\n(?:(?<!\\\n)|(?<=\\\\\n)|(?=\\))")

_CONTINUED: dict[str, tuple[str, int, str]] = {}
"""First line of a continued logical line -> (the logical line as written, its number of line
breaks, its text without comments): the last one read whose extent does not depend on what
follows it. pip-compile locks across a monorepo repeat the same hashed entries, twenty
physical lines each; one comparison finds such an entry again."""
_CONTINUED_MAX = 1024
_CONTINUED_LONGEST = 1 << 15
"""Longer entries (four hundred hashes) are read each time: the memo holds 64 million
characters at most (a few hundred thousand in a monorepo's locks)."""


def _join(written: str, terminated: bool) -> str:
    """pip's join of the physical lines of one logical line, ``written`` as in the file."""
    if (
        terminated
        or written[-1] == "\\"
        or "\\\\\n" in written
        or "\n\\" in written
        or written[0] == "\\"
    ):
        # pip strips every backslash at either end of a continued line, and keeps the
        # comment line that ends a continuation after a space: the general reading
        return next(_logical_lines(written.split("\n")))[1]
    return written.replace("\\\n", "")


def _entries_by_regex(text: str) -> tuple[list[tuple[int, int, str]], int]:
    """:func:`_entries` of a text that breaks only at "\\n", without a Python step per physical
    line (a hashed lock has twenty for each package), and the offset where the first logical
    line starts (where the leading comments end)."""
    out: list[tuple[int, int, str]] = []
    size = len(text)
    number = 1  # the number of the line at ``counted``
    counted = 0
    end = 0
    first = size
    search = _START.search
    while (start := search(text, end)) is not None:
        at = start.start()
        if first == size:
            first = at
        number += text.count("\n", counted, at)
        counted = at
        column = start.end() - at + 1
        end = text.find("\n", at)
        if end < 0:
            end = size
        line = text[at:end]
        if line[-1] != "\\":
            content = _without_comment(line)
            if content:
                out.append((number, column, content))
            continue
        known = _CONTINUED.get(line)
        if known is not None:
            written, breaks, content = known
            stop = at + len(written)
            if text.startswith(written, at) and (stop == size or text[stop] == "\n"):
                if content:
                    out.append((number, column, content))
                number += breaks
                counted = end = stop
                continue
        # The next line break with no backslash before it ends the entry, unless a comment
        # line ends it first; in between, pip removes each backslash and line break.
        found = _BREAK.search(text, end)
        end = size if found is None else found.start()
        written = text[at:end]
        if text[end - 1] != "\\" and "#" not in written and written[0] != "\\":
            parts = written.split("\\\n")
            content = _without_comment("".join(parts))
            breaks = len(parts) - 1
        else:
            # a comment line, or more backslashes than one at either end of a line: the
            # exact reading
            logical = _LOGICAL.match(text, at)
            assert logical is not None  # noqa: S101 - the pattern matches the empty string
            written = logical[0]
            end = logical.end()
            terminated = logical.lastindex == 1
            content = _without_comment(_join(written, terminated))
            if terminated or written[-1] == "\\":
                # where it ends depends on the line after it: not kept
                if content:
                    out.append((number, column, content))
                continue
            breaks = written.count("\n")
        if len(written) <= _CONTINUED_LONGEST:
            if len(_CONTINUED) >= _CONTINUED_MAX:
                _CONTINUED.clear()
            _CONTINUED[line] = (written, breaks, content)
        if content:
            out.append((number, column, content))
        number += breaks
        counted = end
    return out, first


def _without_comment(line: str) -> str:
    if "#" not in line:
        return line.strip()
    cut = _comment_start(line)
    return (line[:cut] if cut >= 0 else line).strip()


def logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's view of a requirements file: (line where each entry starts, text without comments).

    Blank and comment-only lines are dropped; ``${VAR}`` is left as written.
    """
    return [(number, content) for number, _, content in _entries(text)[0]]


def _entries(text: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(line, column, text without comments) of each logical line of ``text`` that holds
    something, and physical lines that hold the header if there is one (those before the first
    logical line)."""
    # str.splitlines breaks at "\r\n" as at "\n": a file written on Windows reads the same
    lf = text.replace("\r\n", "\n") if "\r" in text else text
    if _breaks_only_at_newlines(lf):
        if "\\\n" in lf or lf.endswith("\\"):
            entries, first = _entries_by_regex(lf)
            return entries, lf[:first].split("\n")
        # no line continues (most hand-written files): each line is one
        physical = lf.split("\n")
        plain = [
            (number, len(line) - len(line.lstrip()) + 1, content)
            for number, line in enumerate(physical, start=1)
            if (content := _without_comment(line))
        ]
        return plain, physical
    physical = text.splitlines()
    general = [
        (number, len(line) - len(line.lstrip()) + 1, content)
        for number, joined in _logical_lines(physical)
        for content in [_without_comment(joined)]
        if content
        for line in [physical[number - 1]]
    ]
    return general, physical


_NAME_AT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?\s*@")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _classify_requirement(text: str, *, editable: bool, hashes: tuple[str, ...]) -> Spec:
    """:func:`specs.classify`, plus what pip does for a bare URL or path with a marker."""
    if "\x00" in text:
        raise ValueError("NUL byte in the requirement")
    marker: str | None = None
    target = text
    named = _NAME_AT.match(text)
    if named and not editable:
        reference = text[named.end() :].strip()
        if not _SCHEME.match(reference) and not reference.startswith("${"):
            # pip: "Invalid URL: No scheme supplied"; a local path needs file:
            word = reference.split(maxsplit=1)[0] if reference.strip() else reference
            raise ValueError(f"direct reference {excerpt(word)} is not a URL")
    if editable or (not named and looks_like_url_or_path(text)):
        # pip splits a URL's marker at "; " (a ";" may be part of the URL) and a path's at ";"
        separator = "; " if _SCHEME.match(text) else ";"
        if separator in text:
            target, _, marker_text = text.partition(separator)
            marker = str(Marker(marker_text.strip())) if marker_text.strip() else None
            target = target.strip()
    spec = classify_cached(target, editable)
    if hashes:
        spec = spec.with_hashes(hashes)
    if marker is not None:
        spec = replace(spec, marker=marker, raw=text)
    if not spec.name and spec.kind in (SpecKind.URL, SpecKind.PATH):
        wheel = wheel_of(spec)
        if wheel is not None:
            spec = replace(spec, name=wheel[0], display_name=wheel[0])
    return spec


def wheel_of(spec: Spec) -> tuple[str, str] | None:
    """(name, version) a wheel URL or path installs, as pip reads them from the file name."""
    if spec.url is None:
        return None
    base = spec.url.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    filename = unquote(base.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return None
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return str(name), str(version)


_VIA_SOURCE = re.compile(r"\(([^()\s]+\.(?:toml|cfg|py))\)")


def via_sources(text: str) -> tuple[str, ...]:
    """Files named by the pip-tools/uv ``# via -r FILE`` annotations of a requirements file
    (as written). Apart from :func:`parse_requirements`: a lock with its ``.in`` beside it
    never needs them."""
    if "via" not in text:
        return ()
    physical = text.splitlines()
    found: dict[str, None] = {}
    in_block = False
    previous = -2
    # Only lines with a comment say anything; any other line ends a block.
    for number, raw in [(n, raw) for n, raw in enumerate(physical) if "#" in raw]:
        if number != previous + 1:
            in_block = False
        previous = number
        if _is_comment_line(raw):
            body = raw.strip()[1:].strip()
        else:
            in_block = False
            cut = _comment_start(raw)
            body = raw[cut + 1 :].strip() if cut >= 0 else ""
        if body == "via":
            in_block = True
            continue
        if body.startswith("via "):
            items = body[4:].split(",")
        elif in_block and _is_comment_line(raw):
            items = [body]
        else:
            continue
        for item in items:
            item = item.strip()  # noqa: PLW2901 - normalised in place
            if item.startswith("-r "):
                found[item[3:].strip()] = None
            else:
                for source in _VIA_SOURCE.findall(item):
                    found[source] = None
    return tuple(found)


@dataclass(kw_only=True, slots=True)
class _Collected:
    """What :func:`parse_requirements` has read so far (mutable while reading)."""

    requirements: list[ReqEntry]
    options: list[OptionEntry]
    includes: list[IncludeEntry]
    problems: list[Problem]


@dataclass(frozen=True, kw_only=True, slots=True)
class _LineRead:
    """What one logical line says, wherever it stands: :func:`_read_line` places it."""

    problems: tuple[tuple[str, Severity | None], ...] = ()
    """(message, severity) of each problem, in order."""
    spec: Spec | None = None
    """The requirement on the line."""
    unhashed: Spec | None = None
    """``spec`` without its hashes, when it has some."""
    include: tuple[str, bool] | None = None
    """(target, is it ``-c``) of the ``-r``/``-c`` pip follows."""
    options: tuple[tuple[str, str | None], ...] = ()
    """File-level options."""


def _read_line(number: int, column: int, content: str, out: _Collected) -> None:
    """One logical line, at ``number`` and ``column``."""
    read = _read_content(content)
    for message, severity in read.problems:
        out.problems.append(Problem(message=message, line=number, column=column, severity=severity))
    if read.spec is not None:
        out.requirements.append(
            ReqEntry(spec=read.spec, line=number, column=column, unhashed=read.unhashed)
        )
    if read.include is not None:
        path, constraint = read.include
        out.includes.append(
            IncludeEntry(path=path, line=number, column=column, constraint=constraint)
        )
    for name, value in read.options:
        out.options.append(OptionEntry(name=name, value=value, line=number, column=column))


@functools.lru_cache(maxsize=4096)
def _read_content(content: str) -> _LineRead:
    """One logical line, split the way pip's ``break_args_options`` splits it.

    Memoised: pip-compile locks across a monorepo repeat the same hashed lines (the same
    release has the same hashes everywhere), and a :class:`_LineRead` is immutable.
    """
    problems: list[tuple[str, Severity | None]] = []
    tokens = content.split(" ")
    split_at = next((i for i, tok in enumerate(tokens) if tok.startswith("-")), len(tokens))
    args = " ".join(tokens[:split_at]).strip()
    try:
        parsed = _parse_options(_split_options(" ".join(tokens[split_at:])))
    except _OptionError as exc:
        return _LineRead(problems=((str(exc), None),))
    except ValueError as exc:
        return _LineRead(problems=((f"cannot split the options: {exc}", None),))
    for name, value in parsed:
        message = _check_option_value(name, value) if value is not None else None
        if message:
            problems.append((message, None))
    hashes = tuple(
        f"{algo}:{digest.lower()}"
        for name, value in parsed
        if name == "--hash" and value is not None
        for algo, _, digest in [value.partition(":")]
    )
    editables = [value for name, value in parsed if name == "--editable" and value]
    if args or editables:
        ignored = sorted(
            {name for name, _ in parsed if name not in _PER_REQUIREMENT and name != "--editable"}
        )
        if ignored:
            problems.append(
                (
                    f"pip ignores {', '.join(ignored)} on a requirement line; "
                    "put it on its own line",
                    Severity.WARNING,
                )
            )
        text = args or editables[0]
        try:
            spec = _classify_requirement(text, editable=not args, hashes=hashes)
        except ValueError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
            # the offending word only: the rest of the line may be anything, secrets included
            problems.append((f"invalid requirement {requirement_excerpt(text)}: {detail}", None))
            return _LineRead(problems=tuple(problems))
        unhashed = replace(spec, hashes=()) if spec.hashes else None
        return _LineRead(problems=tuple(problems), spec=spec, unhashed=unhashed)
    requirement_files = [v for n, v in parsed if n == "--requirement" and v is not None]
    constraint_files = [v for n, v in parsed if n == "--constraint" and v is not None]
    # pip follows only the first -r of a line, or else its first -c
    include: tuple[str, bool] | None = None
    if requirement_files:
        include = (requirement_files[0], False)
    elif constraint_files:
        include = (constraint_files[0], True)
    if hashes:
        problems.append(
            (
                "--hash with no requirement on its line is ignored by pip "
                "(is a '\\' missing on the line before?)",
                Severity.WARNING,
            )
        )
    options = tuple(
        (name, value)
        for name, value in parsed
        if name not in _PER_REQUIREMENT and name not in {"--requirement", "--constraint"}
    )
    return _LineRead(problems=tuple(problems), include=include, options=options)


def parse_requirements(text: str) -> ParsedRequirements:
    """Read a requirements file as pip does, keeping line numbers and every problem.

    Lines are joined at a trailing backslash and comments are removed exactly as pip's
    ``req_file`` module does; a requirement is reported at the line where it starts. A bad
    line becomes a :class:`Problem` and reading goes on.
    """
    out = _Collected(requirements=[], options=[], includes=[], problems=[])
    entries, head = _entries(text)
    for number, column, content in entries:
        _read_line(number, column, content, out)
    return ParsedRequirements(
        requirements=tuple(out.requirements),
        options=tuple(out.options),
        includes=tuple(out.includes),
        problems=tuple(out.problems),
        header=read_header(head),
    )
