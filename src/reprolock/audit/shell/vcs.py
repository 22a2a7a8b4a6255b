"""Git clones in shell text: a repository cloned at a branch, a tag or its default branch and
then built or installed (``git clone URL d && pip install -e d``) is the VCS rule (RP104) in
shell form. A clone moved to a 40-hex commit (``git checkout``, ``git reset --hard``) is fixed.

A clone is *used* when a later command names its directory (``pip install -e d``,
``mkdir d/build``, ``python d/setup.py``) or runs inside it (after ``cd d``); a Dockerfile's
``WORKDIR`` into it counts too (:func:`entered`). Reading it (``ls``, ``cat``) or removing it
does not.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from reprolock.audit.revisions import COMMIT_FIX, HEX40
from reprolock.audit.shell.analyzer import (
    Analyzer,
    Arg,
    Call,
    Clone,
    Handler,
    change_directory,
    sub,
)
from reprolock.audit.shell.syntax import word_set
from reprolock.model import Finding, Location
from reprolock.rules import finding

_CLONE_VALUES = word_set(
    "-b --branch -o --origin -c --config --depth --reference --reference-if-able "
    "--separate-git-dir -j --jobs --filter --template -u --upload-pack --shallow-since "
    "--shallow-exclude --bundle-uri --server-option"
)
_GIT_GLOBAL_VALUES = word_set("-C -c --git-dir --work-tree --namespace --exec-path")
_NOT_A_USE = word_set("git cd pushd popd rm ls echo printf cat test [ true false stat du mkdir")
"""Commands that name a clone without building or installing anything from it."""
_SHORT_HEX = re.compile(r"^[0-9a-f]{7,39}$")


def _clean(path: str) -> str:
    text = path.strip()
    while text.startswith("./"):
        text = text[2:]
    return posixpath.normpath(text) if text else ""


def _within(path: str, clone: Clone) -> bool:
    return path == clone.path or path.startswith(clone.path + "/")


def _default_dir(url: str) -> str:
    base = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return base.removesuffix(".git")


def _git(analyzer: Analyzer, call: Call) -> None:
    """``git [-C DIR] clone|checkout|switch|reset ...``."""
    rest = call.rest
    directory: str | None = None
    index = 0
    while index < len(rest) and rest[index].text.startswith("-"):
        if rest[index].text == "-C" and index + 1 < len(rest):
            directory = _clean(rest[index + 1].text)
        index += 2 if rest[index].text in _GIT_GLOBAL_VALUES else 1
    rest = rest[index:]
    command = sub(rest)
    if command == "clone":
        _clone(analyzer, rest[1:], directory)
    elif command in {"checkout", "switch", "reset"}:
        _moved(analyzer, [a for a in rest[1:] if not a.text.startswith("-")], directory)


def _clone(analyzer: Analyzer, rest: list[Arg], base: str | None) -> None:
    operands: list[Arg] = []
    ref: str | None = None
    revision: str | None = None
    index = 0
    while index < len(rest):
        text = rest[index].text
        option, eq, value = text.partition("=")
        if text == "--":
            operands.extend(rest[index + 1 :])
            break
        if option in {"-b", "--branch", "--revision"}:
            given = value if eq else (rest[index + 1].text if index + 1 < len(rest) else "")
            if option == "--revision":
                revision = given
            else:
                ref = given
            index += 1 if eq else 2
            continue
        if text.startswith("-"):
            index += 2 if option in _CLONE_VALUES and not eq else 1
            continue
        operands.append(rest[index])
        index += 1
    if not operands or (revision is not None and HEX40.match(revision)):
        return
    url = operands[0]
    written = operands[1].text if len(operands) > 1 else _default_dir(url.text)
    path = _clean(posixpath.join(base, written) if base else written)
    if not path or path in {".", ".."}:
        return
    location = analyzer.at(url.word)
    clone = Clone(path=path, url=url.text, ref=ref, line=location.line, column=location.column)
    analyzer.clones = [c for c in analyzer.clones if c.path != path]
    analyzer.clones.append(clone)


def _moved(analyzer: Analyzer, operands: list[Arg], directory: str | None) -> None:
    """``git checkout REF``: the clone it runs in is at REF now (fixed when REF is a commit)."""
    target = analyzer.inside
    if directory is not None:
        target = next((c for c in analyzer.clones if _within(directory, c)), None)
    if target is None and analyzer.clones:
        target = analyzer.clones[-1]  # `git clone x && cd x && git checkout` in one breath
    if target is None or not operands:
        return
    ref = operands[0].text
    index = analyzer.clones.index(target) if target in analyzer.clones else -1
    if index < 0:
        return
    if HEX40.match(ref) or operands[0].dynamic:
        # a commit; or a ref the caller passes in, which may well be one: not ours to judge
        analyzer.clones.pop(index)
        analyzer.inside = None
        return
    moved = replace(target, ref=ref)
    analyzer.clones[index] = moved
    if analyzer.inside is target:
        analyzer.inside = moved


def _cd(analyzer: Analyzer, call: Call) -> None:
    change_directory(analyzer, call)
    operands = [a for a in call.rest if not a.text.startswith("-")]
    if not operands:
        analyzer.inside = None
        return
    path = _clean(operands[0].text)
    found = next((c for c in analyzer.clones if _within(path, c)), None)
    if found is not None:
        analyzer.inside = found
    elif path.startswith(("/", "..", "$")) or path in {"", "~"}:
        analyzer.inside = None


def observe(analyzer: Analyzer, call: Call) -> None:
    """Before any command runs: if it builds or installs from a pending clone, RP104."""
    if not analyzer.clones or call.name in _NOT_A_USE:
        return
    used = analyzer.inside if analyzer.inside in analyzer.clones else None
    if used is None:
        for arg in (call.program, *call.rest):
            text = arg.text.partition("=")[2] if arg.text.startswith("-") else arg.text
            path = _clean(text)
            used = next((c for c in analyzer.clones if path and _within(path, c)), None)
            if used is not None:
                break
    if used is not None:
        used_at = analyzer.line_of(call.program.word)
        report(analyzer, used, f"used by {call.name or call.program.text}", used_at)


def report(analyzer: Analyzer, clone: Clone, how: str, line: int) -> None:
    """RP104 at the clone's URL: it is ``how`` on ``line`` at a ref that moves."""
    if clone in analyzer.clones:
        analyzer.clones.remove(clone)
    if analyzer.inside is clone:
        analyzer.inside = None
    analyzer.findings.append(clone_finding(clone, how, line, analyzer.source.path))


def clone_finding(clone: Clone, how: str, line: int, path: str) -> Finding:
    """The RP104 finding for ``clone``, used as ``how`` on ``line``."""
    if clone.ref is None:
        at = "its default branch"
    elif "$" in clone.ref:
        at = f"{clone.ref} (a ref chosen when it runs)"
    elif _SHORT_HEX.match(clone.ref):
        at = f"{clone.ref!r} (an abbreviated commit)"
    else:
        at = f"{clone.ref!r} (a branch or tag that can move)"
    where = "" if line == clone.line else f" on line {line}"
    message = f"{clone.url} is cloned at {at}, then {how}{where}"
    fix = f"git -C {clone.path} checkout {COMMIT_FIX} before using it"
    location = Location(path=path, line=clone.line, column=clone.column)
    return finding("RP104", message, location, subject=clone.url, fix=fix)


def entered(clones: list[Clone], directory: str) -> Clone | None:
    """The pending clone a working directory (a Dockerfile ``WORKDIR``) is inside, if any."""
    path = _clean(directory)
    return next((c for c in clones if _within(path, c)), None)


HANDLERS: dict[str, Handler] = {"git": _git, **dict.fromkeys(("cd", "pushd"), _cd)}
"""git itself, and the commands that enter a clone."""
