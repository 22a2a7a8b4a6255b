"""Installers: what ``pip``, ``uv``, ``pipx``, ``poetry``/``pdm``, ``pipenv``, ``pip-sync``,
``conda``/``mamba`` and the OS package managers (``apt-get``, ``apk``, ``yum``...) install, each
judged through :mod:`reprolock.specs` as a concrete environment (RP101-RP107, RP304, RP701)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from reprolock.audit.conda import inexact_conda_finding, parse_conda_spec
from reprolock.audit.interface import Include, Pin
from reprolock.audit.shell.analyzer import (
    Analyzer,
    Arg,
    Call,
    Handler,
    Wrapper,
    recall,
    retext,
    skip_options,
    sub,
)
from reprolock.audit.shell.fetch import immutable_url, installed, take_download
from reprolock.audit.shell.pip_options import PipArgs, parse_pip
from reprolock.audit.shell.syntax import Word, word_set
from reprolock.files import read_text
from reprolock.model import Location
from reprolock.rules import finding
from reprolock.specs import Spec, SpecKind
from reprolock.specs import classify as _classify_spec


def classify(text: str, *, editable: bool = False) -> Spec:
    """:func:`reprolock.specs.classify`, memoised by text: the same requirements are installed
    by the scripts, RUN lines and CI steps across a monorepo, and a :class:`Spec` is immutable
    (a text it rejects is rejected again each time: an exception is not kept)."""
    if len(text) > _MEMO_SPEC_CHARS:
        return _classify_spec(text, editable=editable)
    return _classified(text, editable)


_MEMO_SPEC_CHARS = 512
"""Longer texts are classified each time (a bounded number of them is kept, not of bytes)."""


@functools.lru_cache(maxsize=4096)
def _classified(text: str, editable: bool) -> Spec:
    return _classify_spec(text, editable=editable)


_CREDENTIALS = re.compile(r"//[^/@\s]+@")
_WHEEL = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*)-([^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_REMOTE = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_SHELL_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME_END = re.compile(r"[<>=!~;\[@ ]")
_AT_VERSION = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)@([^/:@\s]+)")
_POETRY_AT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)@(.+)")
_VERSION = re.compile(r"\d[\w.+!-]*")
_EXTRAS_SUFFIX = re.compile(r"\[[^\]]*\]$")


def is_remote(text: str) -> bool:
    """Whether ``text`` is a URL fetched over the network (http, https or ftp)."""
    return bool(_REMOTE.match(text))


def _redact(url: str) -> str:
    return _CREDENTIALS.sub("//***@", url)


def _normalise_vars(text: str) -> str:
    """``$NAME`` as ``${NAME}``, the form the spec classifier understands."""
    return _SHELL_VAR.sub(r"${\1}", text)


def _dynamic_name(text: str) -> bool:
    """True when a requirement's name (not only its version) comes from an expansion."""
    head = _NAME_END.split(text, maxsplit=1)[0]
    return "$" in head or "`" in head or head == ""


def _option_value(rest: Sequence[Arg], index: int, eq: str, value: str) -> Arg | None:
    """The value of the option ``rest[index]``: what follows its ``=``, else the next word."""
    if eq:
        return retext(rest[index], value)
    return rest[index + 1] if index + 1 < len(rest) else None


def index_option(analyzer: Analyzer, option: str, value: str, word: Word) -> None:
    """RP107 for ``--extra-index-url`` and ``--trusted-host`` (as options, config or env)."""
    location = analyzer.at(word)
    if option == "--trusted-host":
        message = f"--trusted-host {value} turns off TLS verification for that host"
        fix = f"serve {value} over HTTPS and drop --trusted-host"
        analyzer.findings.append(finding("RP107", message, location, subject=value, fix=fix))
        return
    shown = _redact(value)
    message = f"--extra-index-url {shown} lets a public package shadow a private one"
    fix = "use a single --index-url that proxies both sources"
    analyzer.findings.append(finding("RP107", message, location, subject=shown, fix=fix))


def _requirement_file(analyzer: Analyzer, arg: Arg, *, constraint: bool) -> str | None:
    """``-r FILE``/``-c FILE``: the file is audited itself when it is in the repository."""
    analyzer.installs_python |= not constraint
    if arg.word.procsub:
        return None
    fix = "commit the file to the repository and install from it"
    if is_remote(arg.text):
        # A URL with a variable in it (`.../$BRANCH_NAME/requirements.txt`) is a download all
        # the same; only a literal commit on a git host fixes what it serves.
        if not immutable_url(arg.text):
            kind = "constraints" if constraint else "requirements"
            message = f"{kind} file {arg.text} is downloaded at install time without a hash"
            if arg.dynamic:
                message += " (a variable in the URL decides what is fetched)"
            analyzer.findings.append(
                finding("RP105", message, analyzer.at(arg.word), subject=arg.text, fix=fix)
            )
        return None
    if arg.dynamic:
        return None
    download = take_download(analyzer, arg.text)
    if download is not None:
        if not immutable_url(download.url):
            where = download.url or download.path
            message = f"requirements file {arg.text} is downloaded from {where} without a hash"
            analyzer.findings.append(
                finding("RP105", message, analyzer.at(arg.word), subject=where, fix=fix)
            )
        return None
    target = analyzer.repository_file(arg.text)
    if target is None:
        # Not in the repository (written by an earlier step, or in another checkout):
        # nothing here says what it holds, so there is nothing to judge.
        return None
    analyzer.includes.append(
        Include(target=target, line=analyzer.line_of(arg.word), constraint=constraint)
    )
    return target


def _admits(specifier: str, version: str) -> bool:
    if not specifier:
        return True
    try:
        return SpecifierSet(specifier).contains(version, prereleases=True)
    except (InvalidSpecifier, ValueError):
        return False


def _exact_pins(path: Path) -> dict[str, str]:
    """Exact pins of a constraints file (``-c``), read as pip reads it."""
    from reprolock.formats.requirements import parse_requirements  # noqa: PLC0415 - cycle-free lazy

    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError):
        return {}
    pins: dict[str, str] = {}
    for entry in parse_requirements(text).requirements:
        spec = entry.spec
        if spec.kind is SpecKind.EXACT and spec.name and spec.version is not None:
            pins[spec.name] = spec.version
    return pins


def _judge(
    analyzer: Analyzer,
    spec: Spec,
    location: Location,
    *,
    hashes: bool,
    constraints: Mapping[str, str] | None = None,
    local_only: bool = False,
) -> None:
    _wheel_pin(analyzer, spec, location)
    if spec.kind is SpecKind.PATH and (
        analyzer.container or spec.url is None or spec.url.startswith(("/", "~", "$"))
    ):
        # Inside an image build every path names the image's files; an absolute path in
        # a script names something the script itself put there. Neither can be judged.
        return
    pinned = (constraints or {}).get(spec.name) if spec.name else None
    if (
        pinned is not None
        and spec.kind in {SpecKind.UNPINNED, SpecKind.RANGE}
        and _admits(spec.specifier, pinned)
    ):
        analyzer.pins.append(Pin(name=spec.name, version=pinned, line=location.line))
        return
    if spec.kind is SpecKind.EXACT and spec.version is not None:
        analyzer.pins.append(Pin(name=spec.name, version=spec.version, line=location.line))
    if local_only and spec.kind in {SpecKind.UNPINNED, SpecKind.RANGE, SpecKind.EXACT}:
        return  # --no-index: only files the build itself provided can be installed
    analyzer.findings.extend(analyzer.judge_spec(spec, location))
    if (
        spec.kind is SpecKind.EXACT
        and spec.version is not None
        and hashes
        and analyzer.require_hashes
    ):
        message = (
            f"{spec.label}=={spec.version} is installed without a hash "
            "(pip takes hashes only from a requirements file)"
        )
        fix = "install from a hashed requirements file with --require-hashes"
        analyzer.findings.append(finding("RP103", message, location, subject=spec.name, fix=fix))


def _wheel_pin(analyzer: Analyzer, spec: Spec, location: Location) -> None:
    if spec.url is None or spec.kind not in {SpecKind.URL, SpecKind.PATH} or ".whl" not in spec.url:
        return  # a wheel's file name ends in .whl: most specs are not one, and splitting is dear
    match = _WHEEL.match(PurePosixPath(urlsplit(spec.url).path).name)
    if match is not None:
        analyzer.pins.append(
            Pin(
                name=canonicalize_name(match.group(1)),
                version=match.group(2),
                line=location.line,
                hashed=bool(spec.hashes),
            )
        )


def _judge_text(analyzer: Analyzer, arg: Arg, text: str) -> None:
    """Judge a requirement written in a tool's own syntax, already turned into PEP 508."""
    if arg.dynamic and _dynamic_name(_normalise_vars(text)):
        return
    try:
        spec = classify(_normalise_vars(text))
    except ValueError:
        return
    analyzer.installs_python = True
    _judge(analyzer, spec, analyzer.at(arg.word), hashes=False)


def _pip(analyzer: Analyzer, call: Call) -> None:
    """``pip ...``, and ``uv pip ...`` as a call named ``uv``."""
    tool = call.name
    parsed = parse_pip(call.rest, uv=tool == "uv")
    if parsed.subcommand == "config":
        _pip_config(analyzer, parsed)
        return
    if parsed.subcommand not in {"install", "download", "wheel", "sync"}:
        return
    if tool == "uv" and parsed.subcommand == "sync":
        for arg in parsed.positional:
            _requirement_file(analyzer, arg, constraint=False)
        analyzer.installs_python = True
        return
    for option, value in parsed.options:
        _pip_option(analyzer, option, value, tool, parsed)
    constraints: dict[str, str] = {}
    for arg in parsed.requirements:
        _requirement_file(analyzer, arg, constraint=False)
    for arg in parsed.constraints:
        target = _requirement_file(analyzer, arg, constraint=True)
        if target is not None:
            constraints.update(_exact_pins(analyzer.ctx.root / target))
    if parsed.requirements or parsed.specs:
        analyzer.installs_python = True
    local_only = parsed.no_index and not any(
        is_remote(v.text) for o, v in parsed.options if o == "--find-links"
    )
    for arg, editable in parsed.specs:
        _pip_spec(
            analyzer,
            arg,
            editable=editable,
            constraints=constraints,
            local_only=local_only,
        )


def _pip_config(analyzer: Analyzer, parsed: PipArgs) -> None:
    words = parsed.positional
    if len(words) >= 3 and words[0].text == "set":
        key = words[1].text.split(".")[-1]
        if key in {"extra-index-url", "trusted-host"}:
            for value in words[2].text.split():
                index_option(analyzer, f"--{key}", value, words[2].word)
        elif key == "index-url":
            analyzer.indexes.append(_redact(words[2].text))


def _pip_option(analyzer: Analyzer, option: str, value: Arg, tool: str, parsed: PipArgs) -> None:
    if option in {"--index-url", "--default-index"}:
        analyzer.indexes.append(_redact(value.text))
    elif option in {"--extra-index-url", "--index"}:
        url = (
            value.text.split("=", 1)[1] if option == "--index" and "=" in value.text else value.text
        )
        analyzer.indexes.append(_redact(url))
        # uv searches its indexes in order and stops at the first that has the package,
        # which is what stops dependency confusion; only its unsafe strategies do not.
        if tool != "uv" or parsed.unsafe_index_strategy:
            index_option(analyzer, "--extra-index-url", url, value.word)
    elif option in {"--trusted-host", "--allow-insecure-host"}:
        index_option(analyzer, "--trusted-host", value.text, value.word)


def _pip_spec(
    analyzer: Analyzer,
    arg: Arg,
    *,
    editable: bool,
    constraints: Mapping[str, str],
    local_only: bool,
) -> None:
    location = analyzer.at(arg.word)
    download = take_download(analyzer, arg.text) if not is_remote(arg.text) else None
    if download is not None:
        if not immutable_url(download.url):
            where = download.url or download.path
            message = f"{arg.text} is downloaded from {where} and installed without a hash check"
            fix = "check the download with sha256sum -c before installing it"
            analyzer.findings.append(finding("RP105", message, location, subject=where, fix=fix))
        return
    text = _normalise_vars(arg.text)
    if arg.dynamic and _dynamic_name(text):
        # The whole requirement comes from a variable set at run time: nothing in the
        # file says what is installed, so it is not judged.
        return
    try:
        spec = classify(text, editable=editable)
    except ValueError:
        return  # pip rejects it too; nothing gets installed
    analyzer.installs_python = True
    if spec.kind is SpecKind.PATH and spec.url and "://" not in spec.url:
        # `pip install .`: the project is installed; its requires-python says where it runs.
        directory = _EXTRAS_SUFFIX.sub("", spec.url.removeprefix("file:"))
        target = analyzer.installed_file(directory, "pyproject.toml")
        if target is not None:
            analyzer.includes.append(Include(target=target, line=location.line))
    before = len(analyzer.findings)
    _judge(analyzer, spec, location, hashes=True, constraints=constraints, local_only=local_only)
    swallowed = _swallowed_by_redirect(analyzer, arg.word)
    if swallowed:
        for index in range(before, len(analyzer.findings)):
            found = analyzer.findings[index]
            if found.rule in {"RP101", "RP102"}:
                message = (
                    f"{found.message}: the shell reads {swallowed} as a redirection, "
                    "so quote the requirement"
                )
                analyzer.findings[index] = replace(found, message=message)


def _swallowed_by_redirect(analyzer: Analyzer, word: Word) -> str:
    """``numpy>=1.2`` unquoted is ``numpy`` with its output sent to a file ``=1.2``."""
    for redirect in analyzer.redirects:
        target = redirect.target
        if (
            redirect.op in {">", ">>", "<"}
            and target is not None
            and target.line == word.line
            and target.column == word.column + len(word.raw) + len(redirect.op)
        ):
            return redirect.op + target.raw
    return ""


def environment(analyzer: Analyzer, assigns: Sequence[Word]) -> None:
    """``PIP_EXTRA_INDEX_URL=...`` and friends configure pip as the options do."""
    for word in assigns:
        name, _, value = word.text.partition("=")
        value, _ = analyzer.substitute(value)
        if not value:
            continue
        if name == "PIP_EXTRA_INDEX_URL":
            for url in value.split():
                index_option(analyzer, "--extra-index-url", url, word)
        elif name in {"PIP_TRUSTED_HOST", "UV_INSECURE_HOST"}:
            for host in value.split():
                index_option(analyzer, "--trusted-host", host, word)
        elif name in {"PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"}:
            analyzer.indexes.append(_redact(value))


_UV_GLOBAL_VALUE = frozenset(
    {"--cache-dir", "--directory", "--project", "--config-file", "--color", "--python", "-p"}
)
_UV_RUN_VALUE = word_set(
    "--python -p --directory --project --package --extra --group --env-file --index "
    "--default-index --index-url --extra-index-url --with-requirements --only-group "
    "--no-group --config-file"
)
_UV_TOOL_VALUE = word_set(
    "--python -p --index --default-index --index-url --extra-index-url "
    "--with-requirements --constraints --overrides -c"
)
_PIPX_VALUE = frozenset({"--python", "--pip-args", "--suffix", "--global", "--index-url", "-i"})
_PIPENV_VALUE = frozenset({"--python", "--pypi-mirror", "-i", "--index"})
_ADD_VALUE = word_set(
    "-G --group -E --extras --extra --optional --source --python -p --platform --markers "
    "-m --marker -C --directory -P --project --index --default-index --package --script "
    "--branch --tag --rev --bounds -L --lockfile -c --constraints"
)


def _at_version(text: str) -> str:
    """uv's ``tool@1.2.3`` as ``tool==1.2.3`` (``@latest`` is no pin at all)."""
    match = _AT_VERSION.fullmatch(text)
    if match is None:
        return text
    name, version = match.groups()
    return name if version == "latest" else f"{name}=={version}"


def _poetry_spec(text: str) -> str:
    """Poetry's ``name@constraint`` as PEP 508 as far as exactness is concerned."""
    match = _POETRY_AT.fullmatch(text)
    if match is None or "://" in text:
        return text
    name, constraint = match.groups()
    constraint = constraint.strip()
    if constraint in {"latest", "*"}:
        return name
    if _VERSION.fullmatch(constraint):
        return f"{name}=={constraint}"
    if constraint.startswith(("^", "~")) and not constraint.startswith("~="):
        return f"{name}>={constraint.lstrip('^~')}"
    return f"{name}{constraint}"


# What a project installer installs from: its lock, and the project (for its requires-python).
_PROJECT_FILES: dict[str, tuple[str, ...]] = {
    "uv": ("uv.lock", "pyproject.toml"),
    "poetry": ("poetry.lock", "pyproject.toml"),
    "pdm": ("pdm.lock", "pyproject.toml"),
    "pipenv": ("Pipfile.lock",),
}
_PROJECT_DIR_OPTIONS = frozenset({"--project", "--directory", "-C", "-P", "-p"})


def _project_install(analyzer: Analyzer, call: Call, tool: str) -> None:
    """``uv sync``, ``poetry install``, ``pdm sync``, ``pipenv sync``: the project's lock and
    manifest are installed, as an included file is (the environments read them through it)."""
    directory = ""
    rest = call.rest
    for index, arg in enumerate(rest):
        option, eq, value = arg.text.partition("=")
        if option in _PROJECT_DIR_OPTIONS and (tool != "uv" or option != "-p"):
            given = _option_value(rest, index, eq, value)
            if given is None or given.dynamic:
                return
            directory = given.text
    line = analyzer.line_of(call.program.word)
    for name in _PROJECT_FILES[tool]:
        target = analyzer.installed_file(directory, name)
        if target is not None:
            analyzer.includes.append(Include(target=target, line=line))


def _uv(analyzer: Analyzer, call: Call) -> None:
    rest = skip_options(call.rest, "", _UV_GLOBAL_VALUE)
    command = sub(rest)
    if command == "pip":
        _pip(analyzer, recall(call, rest=rest[1:]))
    elif command == "add":
        _project_add(analyzer, recall(call, rest=rest))
    elif command == "tool" and sub(rest[1:]) in {"install", "run"}:
        _tool_run(analyzer, recall(call, rest=rest[2:]))
    elif command == "sync":
        analyzer.installs_python = True
        _project_install(analyzer, call, "uv")


def _uv_run(analyzer: Analyzer, rest: list[Arg]) -> list[Arg] | None:
    """``uv run [options] command``: ``--with`` requirements are installed on the fly."""
    if sub(rest) != "run":
        return None
    index = 1
    while index < len(rest):
        text = rest[index].text
        if text == "--":
            return rest[index + 1 :]
        if not text.startswith("-"):
            return rest[index:]
        option, eq, value = text.partition("=")
        if option in {"--with", "-w", "--with-editable"}:
            value_arg = _option_value(rest, index, eq, value)
            if value_arg is not None:
                for part in value_arg.text.split(","):
                    _judge_text(analyzer, value_arg, _at_version(part.strip()))
            index += 1 if eq else 2
            continue
        if option in _UV_RUN_VALUE and not eq:
            index += 2
            continue
        index += 1
    return []


def _tool_run(analyzer: Analyzer, call: Call) -> None:
    """``uvx``/``uv tool run``/``uv tool install``: the first operand (or ``--from``)."""
    rest = call.rest
    index = 0
    judged_from = False
    while index < len(rest):
        text = rest[index].text
        option, eq, value = text.partition("=")
        if option in {"--from", "--with", "-w"}:
            value_arg = _option_value(rest, index, eq, value)
            if value_arg is not None:
                _judge_text(analyzer, value_arg, _at_version(value_arg.text))
                judged_from |= option == "--from"
            index += 1 if eq else 2
            continue
        if text.startswith("-"):
            index += 1 if eq or option not in _UV_TOOL_VALUE else 2
            continue
        if not judged_from:
            _judge_text(analyzer, rest[index], _at_version(text))
        return


def _pipx(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    command = sub(rest)
    if command not in {"install", "run", "inject"}:
        return
    operands: list[Arg] = []
    spec_option: Arg | None = None
    index = 1
    while index < len(rest):
        text = rest[index].text
        option, eq, value = text.partition("=")
        if option == "--spec":
            spec_option = _option_value(rest, index, eq, value)
            index += 1 if eq else 2
            continue
        if option in {"--index-url", "-i"}:
            target = _option_value(rest, index, eq, value)
            if target is not None:
                analyzer.indexes.append(_redact(target.text))
            index += 1 if eq else 2
            continue
        if text.startswith("-"):
            index += 1 if eq or option not in _PIPX_VALUE else 2
            continue
        operands.append(rest[index])
        if command == "run":
            break
        index += 1
    if spec_option is not None:
        _judge_text(analyzer, spec_option, spec_option.text)
        return
    if command == "inject":
        operands = operands[1:]
    for arg in operands:
        _judge_text(analyzer, arg, arg.text)


def _project_add(analyzer: Analyzer, call: Call) -> None:
    """``poetry add``/``uv add``/``pdm add``: resolves and locks at build time."""
    # Global options come before the subcommand (`poetry -C server install`).
    rest, tool = skip_options(call.rest, "CPp", _PROJECT_DIR_OPTIONS), call.name
    if sub(rest) == "self":
        rest = rest[1:]
    if sub(rest) != "add":
        if sub(rest) in {"install", "sync"}:
            analyzer.installs_python = True
            if tool in _PROJECT_FILES:
                _project_install(analyzer, call, tool)
        return
    for arg in _project_operands(analyzer, rest, _ADD_VALUE):
        _judge_text(analyzer, arg, _poetry_spec(arg.text) if tool == "poetry" else arg.text)


def _pipenv(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    if sub(rest) not in {"install", "sync"}:
        return
    analyzer.installs_python = True
    _project_install(analyzer, call, "pipenv")
    for arg in _project_operands(analyzer, rest, _PIPENV_VALUE):
        _judge_text(analyzer, arg, arg.text)


def _project_operands(
    analyzer: Analyzer, rest: list[Arg], value_options: frozenset[str]
) -> Iterator[Arg]:
    """The package operands after a subcommand (``add``, ``install``), in order; a
    ``-r FILE`` on the way is read as a requirements file."""
    index = 1
    while index < len(rest):
        text = rest[index].text
        option, eq, _ = text.partition("=")
        if text.startswith("-"):
            if option in {"-r", "--requirements"} and not eq and index + 1 < len(rest):
                _requirement_file(analyzer, rest[index + 1], constraint=False)
                index += 2
                continue
            index += 1 if eq or option not in value_options else 2
            continue
        yield rest[index]
        index += 1


def _pip_sync(analyzer: Analyzer, call: Call) -> None:
    analyzer.installs_python = True
    for arg in call.rest:
        if not arg.text.startswith("-"):
            _requirement_file(analyzer, arg, constraint=False)


_CONDA_VALUE = word_set(
    "-c --channel -n --name -p --prefix --file -f --repodata-fn --platform --subdir "
    "--solver --experimental-solver --clone --revision -r --root-prefix "
    "--channel-priority --rc-file"
)


def _conda(analyzer: Analyzer, call: Call) -> None:
    rest = skip_options(call.rest, "", {"--rc-file", "-r", "--root-prefix"})
    if sub(rest) not in {"install", "create", "update", "upgrade"}:
        return
    index = 1
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        option, eq, _ = text.partition("=")
        if text.startswith("-"):
            index += 1 if eq or option not in _CONDA_VALUE else 2
            if option in {"--file", "-f"}:
                analyzer.installs_python = True
            continue
        index += 1
        if arg.dynamic:
            continue
        try:
            spec = parse_conda_spec(text)
        except ValueError:
            continue
        analyzer.installs_python = True
        location = analyzer.at(arg.word)
        if spec.kind is SpecKind.EXACT and spec.version is not None:
            analyzer.pins.append(Pin(name=spec.pin_name, version=spec.version, line=location.line))
        else:
            analyzer.findings.append(inexact_conda_finding(spec, location))


_APT_VALUE = word_set("-o --option -t --target-release --default-release -c --config-file -a")
_APK_VALUE = word_set(
    "-X --repository -t --virtual --repositories-file -p --root --arch --cache-dir --keys-dir"
)
_RPM_VALUE = word_set(
    "--enablerepo --disablerepo --setopt --releasever -c --config --installroot --repo "
    "--repoid --exclude -x --repofrompath --forcearch -R --repo-id"
)


def _apt_versioned(text: str) -> bool:
    return "=" in text


def _apk_versioned(text: str) -> bool:
    return any(ch in text for ch in "=<>~")


def _rpm_versioned(text: str) -> bool:
    if any(ch in text for ch in "=<>"):
        return True
    parts = text.split("-")
    return len(parts) > 1 and parts[-1][:1].isdigit()


def _os_packages(
    verb: str, value_options: frozenset[str], versioned: Callable[[str], bool]
) -> Handler:
    """A package manager's handler: RP304 for packages its ``verb`` installs unversioned."""

    def handler(analyzer: Analyzer, call: Call) -> None:
        unversioned = _unversioned(call, verb, value_options, versioned)
        if unversioned:
            _report_unversioned(analyzer, call.name, verb, unversioned)
        if any(a.text in {verb, "localinstall"} for a in call.rest):
            for arg in call.rest:
                if arg.text.endswith((".deb", ".rpm", ".apk")):
                    installed(analyzer, arg, f"installed by {call.name} {verb}")

    return handler


def _unversioned(
    call: Call, verb: str, value_options: frozenset[str], versioned: Callable[[str], bool]
) -> list[Arg]:
    rest = call.rest
    index = 0
    seen_verb = False
    unversioned: list[Arg] = []
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        if text.startswith("-"):
            option, eq, _ = text.partition("=")
            if not eq and option in value_options:
                index += 1
            continue
        if not seen_verb:
            if text not in {verb, "in"} and not (
                call.name in {"yum", "dnf"} and text == "reinstall"
            ):
                return []
            seen_verb = True
            continue
        if arg.dynamic or is_remote(text) or text.startswith(("/", "./", "../", "@")):
            continue
        if text.endswith((".deb", ".rpm", ".apk")) or versioned(text):
            continue
        unversioned.append(arg)
    return unversioned


def _report_unversioned(analyzer: Analyzer, tool: str, verb: str, unversioned: list[Arg]) -> None:
    names = [a.text for a in unversioned]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    separator = "-" if tool in {"yum", "dnf", "microdnf", "tdnf"} else "="
    message = f"{tool} {verb} {shown} without versions"
    fix = f"pin each package ({names[0]}{separator}<version>), or accept this with a baseline"
    analyzer.findings.append(
        finding(
            "RP304",
            message,
            analyzer.at(unversioned[0].word),
            subject=f"{tool}: {' '.join(sorted(names))}",
            fix=fix,
        )
    )


def _run_in(short_values: str, long_values: frozenset[str]) -> Wrapper:
    """``TOOL run [options] command`` (``conda run -n env pip ...``) runs its command."""

    def wrapped(analyzer: Analyzer, rest: list[Arg]) -> list[Arg] | None:
        return skip_options(rest[1:], short_values, long_values) if sub(rest) == "run" else None

    return wrapped


WRAPPERS: dict[str, Wrapper] = {
    **dict.fromkeys(
        ("conda", "mamba", "micromamba"),
        _run_in("np", word_set("--name --prefix --cwd --root-prefix --env")),
    ),
    **dict.fromkeys(
        ("poetry", "pipenv", "pdm", "hatch", "rye", "pixi"),
        _run_in("e", word_set("--environment --directory")),
    ),
    "uv": _uv_run,
}
"""Installers whose ``run`` subcommand runs a command in their environment."""


HANDLERS: dict[str, Handler] = {
    "pip": _pip,
    "uv": _uv,
    "uvx": _tool_run,
    "pipx": _pipx,
    **dict.fromkeys(("poetry", "pdm"), _project_add),
    "pipenv": _pipenv,
    "pip-sync": _pip_sync,
    **dict.fromkeys(("conda", "mamba", "micromamba"), _conda),
    **dict.fromkeys(
        ("apt-get", "apt", "aptitude"), _os_packages("install", _APT_VALUE, _apt_versioned)
    ),
    "apk": _os_packages("add", _APK_VALUE, _apk_versioned),
    **dict.fromkeys(
        ("yum", "dnf", "microdnf", "tdnf", "zypper"),
        _os_packages("install", _RPM_VALUE, _rpm_versioned),
    ),
}
"""Installers, by the program name that runs them."""
