"""Makefiles: recipe command lines with make variables expanded (within the file's budget),
each audited as shell text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reprolock.audit.budget import MAX_VALUE_CHARS, ExpansionBudget
from reprolock.audit.interface import (
    FileFacts,
    ScanContext,
    Scanner,
    SourceFile,
)
from reprolock.audit.shell.make_expand import Expander
from reprolock.audit.shell.scanner import audit_shell, shell_facts
from reprolock.model import Location


@dataclass(frozen=True, kw_only=True, slots=True)
class MakeRecipe:
    """One recipe command line (with its continuations) as the shell receives it."""

    text: str
    lines: tuple[int, ...]
    """File line of each line of ``text``."""
    columns: tuple[int, ...]
    """File column where each line of ``text`` starts."""
    offsets: tuple[tuple[int, ...], ...]
    """For each line of ``text``: where each character was written (make variables expand)."""


_MAKE_ASSIGN = re.compile(
    r"^(?:export\s+|override\s+|private\s+)*([A-Za-z_][A-Za-z0-9_.-]*)\s*(::=|:::=|:=|\?=|\+=|!=|=)\s*(.*)$"
)
_MAKE_RULE = re.compile(r"^[^\s#=:][^=]*?(?<!:):(?!=)")
_MAKE_DIRECTIVE = re.compile(
    r"^\s*(?:ifeq|ifneq|ifdef|ifndef|else|endif|include|-include|sinclude|vpath|export|unexport)\b"
)
_MAKE_COMMENT = re.compile(r"(?<!\\)#")


def make_recipes(text: str, budget: ExpansionBudget | None = None) -> Iterator[MakeRecipe]:
    """Recipe command lines of a Makefile, make variables expanded where they are simple and
    within ``budget`` (a reference past it is left to the shell as an unknown variable)."""
    budget = budget if budget is not None else ExpansionBudget()
    lines = text.split("\n")
    variables: dict[str, str | None] = {}
    in_rule = False
    in_define = False
    index = 0
    while index < len(lines):
        raw = lines[index].rstrip("\r")
        number = index + 1
        index += 1
        if in_define:
            in_define = raw.strip() != "endef"
            continue
        if raw.startswith("\t") and in_rule:
            parts = [(number, raw[1:], 2)]
            while parts[-1][1].endswith("\\") and index < len(lines):
                following = lines[index].rstrip("\r")
                index += 1
                body = following[1:] if following.startswith("\t") else following
                parts.append((index, body, 2 if following.startswith("\t") else 1))
            yield _recipe(parts, variables, budget)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # a logical make line (definitions and rules join at a backslash too)
        while raw.endswith("\\") and index < len(lines):
            raw = raw[:-1] + " " + lines[index].rstrip("\r").lstrip()
            index += 1
        stripped = raw.strip()
        if stripped.startswith("define ") or stripped == "define":
            in_define = True
            continue
        if _MAKE_DIRECTIVE.match(stripped) and not _MAKE_ASSIGN.match(
            stripped.removeprefix("export ").strip()
        ):
            continue
        assignment = _MAKE_ASSIGN.match(stripped)
        if assignment is not None and not _MAKE_RULE.match(stripped.split("=", 1)[0] + "="):
            _assign(variables, *assignment.groups())
            continue
        if _MAKE_RULE.match(stripped):
            in_rule = True
            after = stripped.partition(":")[2]
            if ";" in after and "=" not in after.split(";", 1)[0]:
                inline = after.split(";", 1)[1]
                column = raw.find(";") + 2
                yield _recipe([(number, inline, column)], variables, budget)
            continue
        in_rule = False


def _assign(variables: dict[str, str | None], name: str, op: str, value: str) -> None:
    """A make assignment; None marks a value only make itself can compute (``!=``)."""
    value = _strip_make_comment(value)
    if op == "?=" and name in variables:
        return
    if op == "+=":
        before = variables.get(name)
        variables[name] = (
            None if before is None and name in variables else f"{before or ''} {value}".strip()
        )
    elif op == "!=":
        variables[name] = None
    else:
        variables[name] = value


def _strip_make_comment(value: str) -> str:
    match = _MAKE_COMMENT.search(value)
    return (value[: match.start()] if match else value).strip()


def _recipe(
    parts: list[tuple[int, str, int]],
    variables: Mapping[str, str | None],
    budget: ExpansionBudget,
) -> MakeRecipe:
    _, first_text, first_column = parts[0]
    stripped = first_text.lstrip(" \t")
    column = first_column + len(first_text) - len(stripped)
    while stripped[:1] in {"@", "-", "+"} and stripped:
        stripped = stripped[1:]
        column += 1
    texts = [stripped, *(text for _, text, _ in parts[1:])]
    lines = tuple(number for number, _, _ in parts)
    columns = (column, *(col for _, _, col in parts[1:]))
    expanded = [
        _expand_tracked(t, variables, _MakeExpansion(budget, line))
        for t, line in zip(texts, lines, strict=True)
    ]
    return MakeRecipe(
        text="\n".join(text for text, _ in expanded),
        lines=lines,
        columns=columns,
        offsets=tuple(offsets for _, offsets in expanded),
    )


@dataclass(frozen=True, slots=True)
class _MakeExpansion:
    budget: ExpansionBudget
    line: int
    """File line of the recipe line being expanded (for the RP002 note)."""

    def refuse(self, name: str) -> None:
        where = Location(path=self.budget.path, line=self.line, column=1)
        self.budget.refuse(
            where,
            f"$({name}) passes {MAX_VALUE_CHARS // 1024} KiB or the file's expansion budget and "
            "is not expanded; recipes using it are audited as written",
        )


def _expand_tracked(
    text: str, variables: Mapping[str, str | None], expansion: _MakeExpansion
) -> tuple[str, tuple[int, ...]]:
    """``text`` with make references expanded, and where each character came from."""
    expander = Expander(variables, expansion.budget, expansion.refuse)
    out: list[str] = []
    offsets: list[int] = []
    position = 0
    for start, end, ref in expander.references(text):
        out.append(text[position:start])
        offsets.extend(range(position, start))
        value = expander.reference(ref, 0, {}).text
        out.append(value)
        offsets.extend([start] * len(value))
        position = end
    out.append(text[position:])
    offsets.extend(range(position, len(text)))
    return "".join(out), tuple(offsets)


class MakefileScanner(Scanner):
    """``Makefile``, ``GNUmakefile``, ``*.mk``: each recipe line is a shell command line."""

    name = "makefile"
    extensions = frozenset({"", "mk"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in {"Makefile", "makefile", "GNUmakefile"} or filename.endswith(".mk")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        budget = ExpansionBudget(source.path)
        audits = [
            audit_shell(
                recipe.text,
                source,
                ctx,
                line_map=recipe.lines,
                column_map=recipe.columns,
                column_offsets=recipe.offsets,
                budget=budget,
            )
            for recipe in make_recipes(source.text, budget)
        ]
        note = budget.note()
        return shell_facts(source, self.name, audits, () if note is None else (note,))
