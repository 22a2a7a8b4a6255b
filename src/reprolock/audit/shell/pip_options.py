"""The command line of ``pip install``/``download``/``wheel`` and ``uv pip``: which options
take a value, their short and abbreviated forms, and what each argument is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reprolock.audit.shell.analyzer import Arg, retext
from reprolock.audit.shell.syntax import word_set


@dataclass(frozen=True, kw_only=True, slots=True)
class PipArgs:
    """A pip (or uv pip) command line, read."""

    subcommand: str = ""
    specs: tuple[tuple[Arg, bool], ...] = ()
    """Requirements to install, each with whether it is editable (``-e``)."""
    requirements: tuple[Arg, ...] = ()
    """``-r FILE`` values."""
    constraints: tuple[Arg, ...] = ()
    """``-c FILE`` values."""
    options: tuple[tuple[str, Arg], ...] = ()
    """Other options that take a value, by their long name."""
    positional: tuple[Arg, ...] = ()
    """Operands of a subcommand other than install, download and wheel."""
    no_index: bool = False
    unsafe_index_strategy: bool = False
    """uv's ``--index-strategy unsafe-*``: every index is searched, as pip does."""


# Options of pip install/download/wheel (and pip's general options) that take a value.
_PIP_VALUE = word_set(
    "--requirement --constraint --editable --index-url --extra-index-url --find-links "
    "--trusted-host --target --platform --python-version --implementation --abi --root "
    "--prefix --src --upgrade-strategy --config-settings --global-option --install-option "
    "--build-option --no-binary --only-binary --progress-bar --root-user-action --report "
    "--dest --wheel-dir --log --log-file --proxy --retries --timeout --exists-action --cert "
    "--client-cert --cache-dir --python --keyring-provider --use-feature --use-deprecated "
    "--group --build --build-dir"
)
# pip's flags, so that an abbreviation is only expanded when optparse would (--pre is a flag,
# not the start of --prefix).
_PIP_FLAGS = word_set(
    "--pre --user --upgrade --no-deps --force-reinstall --ignore-installed --no-index "
    "--require-hashes --no-cache-dir --quiet --verbose --no-build-isolation --compile "
    "--no-compile --prefer-binary --dry-run --break-system-packages --isolated --no-input "
    "--disable-pip-version-check --no-color --no-clean --ignore-requires-python "
    "--no-warn-conflicts --no-warn-script-location --use-pep517 --no-use-pep517 "
    "--check-build-dependencies --require-virtualenv --no-python-version-warning"
)
# uv pip's options that take a value, beyond pip's.
_UV_VALUE = _PIP_VALUE | word_set(
    "--requirements --constraints --destination-directory --index --default-index "
    "--index-strategy --resolution --prerelease --extra --override --overrides "
    "--exclude-newer --link-mode --reinstall-package --upgrade-package "
    "--no-build-isolation-package --config-file --python-platform --refresh-package "
    "--directory --project --torch-backend --allow-insecure-host --no-binary-package "
    "--only-binary-package --build-constraint --build-constraints --excludes "
    "--fork-strategy --color"
)
_PIP_SHORT_LONG = {
    "r": "--requirement",
    "c": "--constraint",
    "e": "--editable",
    "i": "--index-url",
    "f": "--find-links",
    "t": "--target",
    "C": "--config-settings",
    "d": "--dest",
    "w": "--wheel-dir",
    "b": "--build",
}
_UV_SHORT_LONG = {**_PIP_SHORT_LONG, "p": "--python", "P": "--upgrade-package"}
_PIP_ALIASES = {
    "--requirements": "--requirement",
    "--constraints": "--constraint",
    "--destination-directory": "--dest",
    "--allow-insecure-host": "--trusted-host",
}
_PIP_KNOWN = tuple(sorted(_PIP_VALUE | _PIP_FLAGS))


def _long_option(written: str, *, uv: bool) -> str:
    """The option ``written`` names: uv takes exact names, pip's optparse unique prefixes."""
    if uv or written in _PIP_VALUE or written in _PIP_FLAGS:
        return _PIP_ALIASES.get(written, written)
    matches = [name for name in _PIP_KNOWN if name.startswith(written)]
    return matches[0] if len(matches) == 1 else written


def parse_pip(rest: Sequence[Arg], *, uv: bool) -> PipArgs:
    """``rest`` (everything after ``pip``) as pip's or uv's option parser reads it."""
    shorts = _UV_SHORT_LONG if uv else _PIP_SHORT_LONG
    subcommand = ""
    specs: list[tuple[Arg, bool]] = []
    requirements: list[Arg] = []
    constraints: list[Arg] = []
    options: list[tuple[str, Arg]] = []
    positional: list[Arg] = []
    no_index = unsafe = False
    only_positional = False

    def take(option: str, value: Arg) -> None:
        nonlocal unsafe
        if option == "--requirement":
            requirements.append(value)
        elif option == "--constraint":
            constraints.append(value)
        elif option == "--editable":
            specs.append((value, True))
        elif option == "--index-strategy":
            unsafe = value.text.startswith("unsafe")
        else:
            options.append((option, value))

    index = 0
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        if only_positional or not text.startswith("-") or text == "-":
            if not subcommand:
                subcommand = text
            elif subcommand in {"install", "download", "wheel"}:
                specs.append((arg, False))
            else:
                positional.append(arg)
            continue
        if text == "--":
            only_positional = True
            continue
        if text.startswith("--"):
            written, eq, value = text.partition("=")
            option = _long_option(written, uv=uv)
            no_index |= option == "--no-index"
            if option in (_UV_VALUE if uv else _PIP_VALUE):
                if eq:
                    take(option, retext(arg, value))
                elif index < len(rest):
                    take(option, rest[index])
                    index += 1
            continue
        # a cluster of short options: -qr requirements.txt, -Ur req.txt, -ihttps://...
        for position in range(1, len(text)):
            letter = text[position]
            if letter in shorts:
                attached = text[position + 1 :]
                if attached:
                    take(shorts[letter], retext(arg, attached))
                elif index < len(rest):
                    take(shorts[letter], rest[index])
                    index += 1
                break
    return PipArgs(
        subcommand=subcommand,
        specs=tuple(specs),
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        options=tuple(options),
        positional=tuple(positional),
        no_index=no_index,
        unsafe_index_strategy=unsafe,
    )
