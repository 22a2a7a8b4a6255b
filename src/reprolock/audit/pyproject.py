"""The pyproject.toml scanner: PEP 621/735, Poetry and PDM dependencies, build requirements."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit import slotted
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Manifest,
    PythonVersion,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
    excerpt,
    requirement_excerpt,
)
from reprolock.formats import pdm, poetry, uv
from reprolock.formats.locktoml import load_compact_toml
from reprolock.formats.spec import classify_cached
from reprolock.formats.toml import TomlDocument, TomlPath
from reprolock.formats.uv import flatten_group, group_key
from reprolock.model import Finding, Location
from reprolock.rules import finding
from reprolock.specs import (
    JudgeContext,
    Spec,
    SpecError,
    SpecKind,
    classify,
    judge_concrete,
    judge_manifest,
)

_new_declared = slotted.constructor(Declared)
"""``Declared(...)`` without a frozen ``__init__``: one per dependency."""


def _str_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# ---------------------------------------------------------------------------------------------
# Poetry constraints

_POETRY_ATOM = re.compile(r"(\^|~=|~|===|==|!=|<=|>=|<|>|=)?\s*([0-9A-Za-z][0-9A-Za-z.*+!_-]*)")


def _bump(version: str, index: int) -> str:
    release = list(Version(version).release)
    while len(release) <= index:
        release.append(0)
    release = release[: index + 1]
    release[index] += 1
    return ".".join(str(p) for p in release)


def poetry_constraint(text: str) -> tuple[str, bool]:
    """Poetry's constraint syntax as a PEP 440 specifier: (specifier, exact-expressible).

    ``^1.2`` is ``>=1.2,<2``, ``~1.2`` is ``>=1.2,<1.3``, ``*`` is no constraint, a bare version
    is ``==``. A union (``||``) has no PEP 440 form: the text comes back unchanged with False.
    Raises :class:`ValueError` for a constraint Poetry would reject.
    """
    raw = text.strip()
    if raw in {"", "*"}:
        return "", True
    if "||" in raw or re.search(r"(?<![|])\|(?![|])", raw):
        for part in re.split(r"\|\|?", raw):
            poetry_constraint(part)
        return raw, False
    parts: list[str] = []
    pos = 0
    for m in _POETRY_ATOM.finditer(raw):
        gap = raw[pos : m.start()]
        if gap.strip(" ,"):
            raise ValueError(f"invalid constraint {excerpt(text)}")
        pos = m.end()
        op, version = m.group(1) or "", m.group(2)
        if version == "*":
            continue
        try:
            if op == "^":
                n = len(Version(version).release)
                release = Version(version).release
                nonzero = next((k for k, p in enumerate(release) if p), None)
                upper = _bump(version, nonzero if nonzero is not None else n - 1)
                parts += [f">={version}", f"<{upper}"]
            elif op == "~":
                n = len(Version(version).release)
                parts += [f">={version}", f"<{_bump(version, 0 if n == 1 else 1)}"]
            elif op in {"", "="}:
                if not version.endswith(".*"):
                    Version(version)
                parts.append(f"=={version}")
            else:
                if not version.endswith(".*"):
                    Version(version)
                parts.append(f"{op}{version}")
        except InvalidVersion:
            raise ValueError(f"invalid version {excerpt(version)} in a constraint") from None
    if raw[pos:].strip(" ,"):
        raise ValueError(f"invalid constraint {excerpt(text)}")
    return ",".join(parts), True


# ---------------------------------------------------------------------------------------------
# The scanner


@dataclass(frozen=True, kw_only=True, slots=True)
class _Scan:
    """One pyproject scan: its inputs and the lists it fills."""

    source: SourceFile
    ctx: ScanContext
    doc: TomlDocument
    judge: JudgeContext
    """The file's judging context, made once (each entry is judged in it)."""
    anywhere: Location
    """Where entries are judged: a finding is placed at its line only when there is one (most
    entries have none, and a finding's fingerprint does not depend on its line)."""
    findings: list[Finding] = field(default_factory=list)
    declared: list[Declared] = field(default_factory=list)
    runtime_lines: list[int] = field(default_factory=list)
    """Line of the first table or key that declares runtime dependencies (for RP201)."""

    def at(self, *path: str | int) -> int:
        return self.doc.line(*path)

    def runtime(self, *path: str | int) -> None:
        if not self.runtime_lines:  # RP201 names the first; the others need no line lookup
            self.runtime_lines.append(self.at(*path))


class PyprojectScanner(Scanner):
    """``pyproject.toml``: a manifest when it declares dependencies; build requirements always."""

    name = "pyproject"
    extensions = frozenset({"toml"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == "pyproject.toml"

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        doc = load_compact_toml(source.text)
        st = _Scan(
            source=source,
            ctx=ctx,
            doc=doc,
            judge=ctx.judge_context(source),
            anywhere=source.at(1),
        )
        data = doc.data
        _build_system(st, data)
        _pep621(st, data)
        _dependency_groups(st, data)
        tool = data.get("tool")
        tool = tool if isinstance(tool, dict) else {}
        _poetry(st, tool.get("poetry"))
        _pdm(st, tool.get("pdm"))
        _uv_sources(st, tool.get("uv"))

        # A content hash is compared only with the lock beside this file (RP202), and a lock
        # that appears changes the tree's shape, which no cached scan outlives.
        poetry_hash, poetry_hash_pre_2_3 = (
            poetry.content_hashes(data) if ctx.sibling(source, "poetry.lock") else (None, None)
        )
        manifest = Manifest(
            runtime_line=st.runtime_lines[0] if st.runtime_lines else 0,
            lock_command=_lock_command(tool) if st.runtime_lines else "",
            poetry_hash=poetry_hash or "",
            poetry_hash_pre_2_3=poetry_hash_pre_2_3 or "",
            pdm_hashes=pdm.content_hashes(data) if ctx.sibling(source, "pdm.lock") else (),
            uv=uv.project_inputs(data),
        )
        role = Role.MANIFEST if st.declared or st.runtime_lines else Role.OTHER
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=role,
            findings=tuple(st.findings),
            declared=tuple(st.declared),
            manifest=manifest,
            pythons=_requires_python(doc),
        )


def _requires_python(doc: TomlDocument) -> tuple[PythonVersion, ...]:
    """``requires-python`` and Poetry's ``python`` dependency, as specifiers (for RP504)."""
    found: list[PythonVersion] = []
    project = doc.data.get("project")
    if isinstance(project, dict) and isinstance(project.get("requires-python"), str):
        line = doc.line("project", "requires-python")
        found.append(
            PythonVersion(value=project["requires-python"], line=line, origin="requires-python")
        )
    tool = doc.data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    python = deps.get("python") if isinstance(deps, dict) else None
    if isinstance(python, str):
        try:
            specifier, expressible = poetry_constraint(python)
        except ValueError:
            expressible = False
        if expressible and specifier:
            line = doc.line("tool", "poetry", "dependencies", "python")
            found.append(PythonVersion(value=specifier, line=line, origin="requires-python"))
    return tuple(found)


def _lock_command(tool: Mapping[str, Any]) -> str:
    for key, command in (("poetry", "poetry lock"), ("pdm", "pdm lock"), ("uv", "uv lock")):
        if isinstance(tool.get(key), dict):
            return command
    return "uv lock (or pip-compile --generate-hashes pyproject.toml)"


def _expand_project_root(text: str, source: SourceFile) -> str:
    # PDM's ${PROJECT_ROOT} names the pyproject's directory; resolve it so paths judge right.
    if "${PROJECT_ROOT}" not in text:
        return text
    base = source.abspath.parent
    text = re.sub(r"file:/*\$\{PROJECT_ROOT\}", base.as_uri(), text)
    return text.replace("${PROJECT_ROOT}", base.as_posix())


def _judge_manifest(st: _Scan, spec: Spec, line: int) -> None:
    found = judge_manifest(spec, st.anywhere, st.judge)
    if found:
        at = st.source.at(line)
        st.findings.extend(replace(f, location=at) for f in found)


def _pep508(
    st: _Scan, text: object, path: TomlPath, *, group: str = "", editable_ok: bool = False
) -> Spec | None:
    """Classify one PEP 508 entry at ``path``; RP001 when it is not valid."""
    line = st.at(*path)
    if not isinstance(text, str):
        st.findings.append(
            finding(
                "RP001",
                f"expected a requirement string, got {_kind_of(text)}",
                st.source.at(line),
            )
        )
        return None
    raw = text.strip()
    editable = False
    if editable_ok and raw.startswith("-e"):
        editable = True
        raw = raw[2:].strip()
    try:
        spec = classify_cached(_expand_project_root(raw, st.source), editable)
    except SpecError as exc:
        msg = f"invalid requirement {requirement_excerpt(text.strip())}: {exc}"
        st.findings.append(finding("RP001", msg, st.source.at(line)))
        return None
    st.declared.append(_new_declared(spec=spec, line=line, group=group))
    _judge_manifest(st, spec, line)
    return spec


def _kind_of(value: object) -> str:
    """What a TOML value is, for a message that must not quote it (a table may be large)."""
    names = {bool: "a boolean", int: "an integer", float: "a float", list: "an array"}
    names.update({dict: "a table", str: "a string"})
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def _build_system(st: _Scan, data: Mapping[str, Any]) -> None:
    build = data.get("build-system")
    if not isinstance(build, dict):
        return
    requires = build.get("requires")
    if not isinstance(requires, list):
        return
    judge = st.judge
    for index, entry in enumerate(requires):
        line = st.at("build-system", "requires", index)
        if not isinstance(entry, str):
            msg = f"[build-system] requires: expected a string, got {_kind_of(entry)}"
            st.findings.append(finding("RP001", msg, st.source.at(line)))
            continue
        try:
            spec = classify_cached(entry)
        except SpecError as exc:
            msg = f"invalid build requirement {requirement_excerpt(entry.strip())}: {exc}"
            st.findings.append(finding("RP001", msg, st.source.at(line)))
            continue
        if spec.kind is SpecKind.EXACT:
            continue
        if spec.kind in {SpecKind.VCS, SpecKind.URL, SpecKind.PATH}:
            # immutable references are pinned; the mutable ones get their RP104-106 finding
            problems = judge_concrete(spec, st.source.at(line), judge)
            st.findings.extend(problems)
            continue
        st.findings.append(
            finding(
                "RP108",
                f"build requirement {spec.raw} is not pinned",
                st.source.at(line),
                subject=spec.name,
            )
        )


def _pep621(st: _Scan, data: Mapping[str, Any]) -> None:
    project = data.get("project")
    if not isinstance(project, dict):
        return
    deps = project.get("dependencies")
    if isinstance(deps, list):
        declared = False
        for index, entry in enumerate(deps):
            declared = (
                _pep508(st, entry, ("project", "dependencies", index)) is not None or declared
            )
        if declared:
            st.runtime("project", "dependencies")
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        for extra, entries in optional.items():
            if not isinstance(entries, list):
                continue
            declared = False
            for index, entry in enumerate(entries):
                path = ("project", "optional-dependencies", extra, index)
                declared = _pep508(st, entry, path, group=str(extra)) is not None or declared
            if declared:
                st.runtime("project", "optional-dependencies", extra)


def _dependency_groups(st: _Scan, data: Mapping[str, Any]) -> None:
    groups = data.get("dependency-groups")
    if not isinstance(groups, dict):
        return
    for group, entries in groups.items():
        if not isinstance(entries, list):
            msg = f"[dependency-groups] {group}: expected a list"
            st.findings.append(
                finding("RP001", msg, st.source.at(st.at("dependency-groups", group)))
            )
            continue
        for index, entry in enumerate(entries):
            path = ("dependency-groups", group, index)
            if isinstance(entry, dict) and "include-group" in entry:
                target = entry.get("include-group")
                if not isinstance(target, str) or group_key(groups, target) is None:
                    msg = f"dependency group {group} includes unknown group {target!r}"
                    st.findings.append(finding("RP001", msg, st.source.at(st.at(*path))))
                elif flatten_group(groups, group) is None:
                    msg = f"dependency group {group} includes itself through {target!r}"
                    st.findings.append(finding("RP001", msg, st.source.at(st.at(*path))))
                continue
            _pep508(st, entry, path, group=str(group))


def _poetry(st: _Scan, poetry: object) -> None:
    if not isinstance(poetry, dict):
        return
    base = ("tool", "poetry")
    deps = poetry.get("dependencies")
    if isinstance(deps, dict):
        for name, value in deps.items():
            if canonicalize_name(name) == "python":
                continue
            if _poetry_dep(st, name, value, (*base, "dependencies", name), group=""):
                st.runtime(*base, "dependencies")
    dev = poetry.get("dev-dependencies")
    if isinstance(dev, dict):
        for name, value in dev.items():
            _poetry_dep(st, name, value, (*base, "dev-dependencies", name), group="dev")
    groups = poetry.get("group")
    if isinstance(groups, dict):
        for group, table in groups.items():
            gdeps = table.get("dependencies") if isinstance(table, dict) else None
            if not isinstance(gdeps, dict):
                continue
            for name, value in gdeps.items():
                path = (*base, "group", group, "dependencies", name)
                _poetry_dep(st, name, value, path, group=str(group))


def _poetry_dep(st: _Scan, name: str, value: object, path: TomlPath, *, group: str) -> bool:
    """Record one Poetry dependency (a constraint, a table, or a list of tables)."""
    if isinstance(value, list):
        ok = False
        for index, item in enumerate(value):
            ok = _poetry_dep(st, name, item, (*path, index), group=group) or ok
        return ok
    line = st.at(*path)
    try:
        spec = _poetry_spec(name, value, st.source)
    except (ValueError, SpecError) as exc:
        st.findings.append(finding("RP001", f"{name}: {exc}", st.source.at(line), subject=name))
        return False
    st.declared.append(_new_declared(spec=spec, line=line, group=group))
    _judge_manifest(st, spec, line)
    return True


_SCP_LIKE = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>(?!//).+)$")


def _poetry_spec(name: str, value: object, source: SourceFile) -> Spec:
    display = name
    canonical = str(canonicalize_name(name))
    if isinstance(value, str):
        table: dict[str, Any] = {"version": value}
    elif isinstance(value, dict):
        table = value
    else:
        raise ValueError(f"expected a constraint or a table, got {_kind_of(value)}")
    extras = _str_list(table.get("extras"))
    head = f"{name}[{','.join(extras)}]" if extras else name
    markers = table.get("markers") if isinstance(table.get("markers"), str) else None
    tail = f" ; {markers}" if markers else ""
    if "git" in table:
        url = str(table["git"])
        m = _SCP_LIKE.match(url)
        if m:
            url = f"ssh://{m.group('user')}@{m.group('host')}/{m.group('path')}"
        ref = table.get("rev") or table.get("tag") or table.get("branch")
        full = f"git+{url}" + (f"@{ref}" if ref else "")
        if table.get("subdirectory"):
            full += f"#subdirectory={table['subdirectory']}"
        return classify(f"{head} @ {full}{tail}")
    if "url" in table:
        return classify(f"{head} @ {table['url']}{tail}")
    if "path" in table:
        path = _expand_project_root(str(table["path"]), source)
        return Spec(
            raw=f"{name} = {{path = {path!r}}}",
            name=canonical,
            kind=SpecKind.PATH,
            display_name=display,
            url=path,
            extras=tuple(sorted(extras)),
            marker=markers,
            editable=bool(table.get("develop")),
        )
    constraint = table.get("version", "*")
    if not isinstance(constraint, str):
        raise ValueError(f"expected a version constraint, got {_kind_of(constraint)}")
    specifier, expressible = poetry_constraint(constraint)
    if not expressible:
        return Spec(
            raw=f"{name} {constraint}",
            name=canonical,
            kind=SpecKind.RANGE,
            display_name=display,
            specifier=constraint,
            extras=tuple(sorted(extras)),
            marker=markers,
        )
    return classify(f"{head}{specifier}{tail}")


def _pdm(st: _Scan, pdm: object) -> None:
    if not isinstance(pdm, dict):
        return
    dev = pdm.get("dev-dependencies")
    if not isinstance(dev, dict):
        return
    for group, entries in dev.items():
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            path = ("tool", "pdm", "dev-dependencies", group, index)
            _pep508(st, entry, path, group=str(group), editable_ok=True)


def _uv_sources(st: _Scan, uv: object) -> None:
    """``[tool.uv.sources]`` git/url/path entries: RP104-RP106 as for a PEP 508 URL."""
    if not isinstance(uv, dict):
        return
    sources = uv.get("sources")
    if not isinstance(sources, dict):
        return
    for name, value in sources.items():
        entries = value if isinstance(value, list) else [value]
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            path: TomlPath = ("tool", "uv", "sources", name)
            if isinstance(value, list):
                path = (*path, index)
            spec = _uv_source_spec(name, entry, st.source)
            if spec is not None:
                _judge_manifest(st, spec, st.at(*path))


def _uv_source_spec(name: str, entry: Mapping[str, Any], source: SourceFile) -> Spec | None:
    canonical = str(canonicalize_name(name))
    try:
        if isinstance(entry.get("git"), str):
            ref = entry.get("rev") or entry.get("tag") or entry.get("branch")
            full = f"git+{entry['git']}" + (f"@{ref}" if ref else "")
            return classify(f"{name} @ {full}")
        if isinstance(entry.get("url"), str):
            return classify(f"{name} @ {entry['url']}")
    except SpecError:
        return None
    if isinstance(entry.get("path"), str):
        return Spec(
            raw=f"{name} = {{path = {entry['path']!r}}}",
            name=canonical,
            kind=SpecKind.PATH,
            display_name=name,
            url=entry["path"],
            editable=bool(entry.get("editable")),
        )
    return None
