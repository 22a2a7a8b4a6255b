"""GitHub Actions scanner: workflows and action.yml (pins, images, toolchains, run: installs)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import overload

import yaml

from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.images import judge_image, python_of_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Include,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    Section,
    SourceFile,
)
from reprolock.audit.shell import Download, ShellCollector, audit_shell, repo_file
from reprolock.formats import yaml as _yaml
from reprolock.model import Finding, Location
from reprolock.rules import finding

KIND_WORKFLOW = "workflow"
KIND_ACTION = "action"

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
# Bounded so that an unclosed `${{` costs a short scan, not one to the end of the file.
_EXPRESSION = re.compile(r"\$\{\{(.{0,2000}?)\}\}", re.DOTALL)
_SIMPLE_REF = re.compile(r"^\$\{\{\s*(matrix|env|inputs)\.([A-Za-z_][\w-]*)\s*\}\}$")
_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_TRAILING_ZERO_FLOAT = re.compile(r"^\d+\.\d*0$")
_VERSION_HEAD = re.compile(r"^v?(\d+|[x*])(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?")
_PY_IMPL_PREFIX = re.compile(r"^(?:pypy|graalpy)-?")
_PYTHON_VERSION = re.compile(r"^(\d+\.\d+(?:\.\d+)?)(?:[a-z]|-|$)")
# POSIX shells are read as shell. PowerShell and cmd text is read for its installer commands
# (`pip install x` reads the same) without shell syntax errors; python steps are skipped.
_POSIX_SHELLS = frozenset({"bash", "sh", "dash", "zsh", "ksh"})
_OTHER_SHELLS = frozenset({"pwsh", "powershell", "cmd"})
# Expanding a run step once per matrix value is capped so a wide matrix stays cheap.
_MAX_VARIANTS = 16
_MAX_REF_DEPTH = 4
# Matrix values may name other matrix values: four levels of a hundred would be 10**8.
_MAX_RESOLVED = 256

# setup-* actions and the input that names their toolchain version -> toolchain name.
_SETUP_INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "actions/setup-python": (("python-version", "python"),),
    "conda-incubator/setup-miniconda": (("python-version", "python"),),
    "astral-sh/setup-uv": (("python-version", "python"),),
    "actions/setup-node": (("node-version", "node"),),
    "actions/setup-go": (("go-version", "go"),),
    "actions/setup-java": (("java-version", "java"),),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetupTool:
    """A setup action that installs a tool, and how its version can be stated."""

    tool: str
    """The tool's name, the finding's subject."""
    inputs: tuple[str, ...]
    """Inputs that state the version (or where to read it); any one given is enough."""
    files: tuple[str, ...] = ()
    """Repository files the action reads the version from when no input is given."""
    otherwise: str
    """What it installs when the version is stated nowhere."""


SETUP_TOOLS: dict[str, SetupTool] = {
    "actions/setup-python": SetupTool(
        tool="python",
        inputs=("python-version", "python-version-file"),
        files=(".python-version",),
        otherwise="whichever Python the runner image has on its PATH",
    ),
    "astral-sh/setup-uv": SetupTool(
        tool="uv",
        inputs=("version", "version-file"),
        files=("uv.toml",),
        otherwise="the newest uv",
    ),
    "conda-incubator/setup-miniconda": SetupTool(
        tool="conda",
        inputs=("miniconda-version", "miniforge-version", "installer-url"),
        otherwise="whichever conda the runner image bundles",
    ),
    "mamba-org/setup-micromamba": SetupTool(
        tool="micromamba", inputs=("micromamba-version",), otherwise="the newest micromamba"
    ),
    "prefix-dev/setup-pixi": SetupTool(
        tool="pixi", inputs=("pixi-version",), otherwise="the newest pixi"
    ),
    "iterative/setup-dvc": SetupTool(tool="dvc", inputs=("version",), otherwise="the newest DVC"),
    "iterative/setup-cml": SetupTool(tool="cml", inputs=("version",), otherwise="the newest CML"),
    "snok/install-poetry": SetupTool(
        tool="poetry", inputs=("version",), otherwise="the newest Poetry"
    ),
}
"""Setup actions whose tool floats when no input (or file) states its version (RP403)."""

# How many leading numeric components make a version concrete enough: Python and Go change
# behaviour between minor releases (3.11 -> 3.12, 1.21 -> 1.22); Node and Java between majors.
_CONCRETE_PARTS = {"python": 2, "go": 2, "node": 1, "java": 1}
_ALIASES = frozenset({"*", "x", "latest", "stable", "oldstable", "current", "node", "lts"})


def workflow_scanners() -> list[Scanner]:
    """The GitHub Actions scanners: workflow files, then action metadata files."""
    return [WorkflowScanner(), ActionScanner()]


# --- toolchain versions --------------------------------------------------------------------


def is_floating_version(tool: str, text: str) -> bool:
    """True when a setup-* version input picks a different toolchain as releases come out."""
    value = text.strip().lower()
    if tool == "python":
        value = _PY_IMPL_PREFIX.sub("", value)
    if not value:
        return False
    if value in _ALIASES or value.startswith("lts/"):
        return True
    if value[0] in "<>=^~!" or "||" in value or " - " in value or "," in value:
        return True
    match = _VERSION_HEAD.match(value)
    if not match:
        return False  # a syntax we do not know: not ours to judge
    concrete = 0
    for part in match.groups():
        if part is None or not part.isdigit():
            break
        concrete += 1
    return concrete < _CONCRETE_PARTS.get(tool, 1)


# --- YAML mappings, merge keys applied -----------------------------------------------------


Entries = dict[str, tuple[yaml.Node, yaml.Node]]


def _get(entries: Entries, key: str) -> yaml.Node | None:
    """The value node of ``key``, or None."""
    pair = entries.get(key)
    return pair[1] if pair is not None else None


class Mappings:
    """Mapping nodes as ``key -> (key node, value node)``, with ``<<`` merge keys applied.

    Keys are the scalars' text, so GitHub's ``on:`` stays ``"on"`` although YAML 1.1 resolves
    it to a boolean. Results are memoised per node: aliases make a document a graph, and a
    chain of merges of merges would otherwise be walked exponentially often.
    """

    def __init__(self) -> None:
        self._memo: dict[int, Entries] = {}

    def __call__(self, node: yaml.Node | None) -> Entries:
        if not isinstance(node, yaml.MappingNode):
            return {}
        key = id(node)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        self._memo[key] = {}  # a merge that reaches this node again sees it empty: no loop
        own: Entries = {}
        merged: Entries = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                continue
            if knode.tag == _yaml.MERGE_TAG:
                sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for src in sources:
                    for name, pair in self(src).items():
                        merged.setdefault(name, pair)
                continue
            own[str(knode.value)] = (knode, vnode)  # a repeated key: the last wins, as in PyYAML
        for name, pair in merged.items():
            own.setdefault(name, pair)
        self._memo[key] = own
        return own


# --- where the text of a scalar sits -------------------------------------------------------


def yaml_lines(text: str) -> list[str]:
    """``text`` split where YAML counts lines, so that node mark lines index the list."""
    return _YAML_LINE_BREAK.split(text)


def scalar_geometry(
    node: yaml.ScalarNode, text: str, lines: list[str]
) -> tuple[list[int], list[int]]:
    """The file line and starting column of each line of a scalar's ``text`` (a run script);
    ``lines`` are the file's lines (:func:`yaml_lines`)."""
    count = text.count("\n") + 1
    start = _yaml.node_line(node)
    if node.style == "|":
        # A literal block's content starts on the line after its indicator, one to one,
        # every line indented by the block's indentation.
        column = _block_indent(node, text, lines) + 1
        return [start + 1 + i for i in range(count)], [column] * count
    if node.style == ">":
        column = _block_indent(node, text, lines) + 1
        return _folded_line_map(node, text, lines), [column] * count
    # Plain and quoted scalars fold their line breaks: everything is on the key's line.
    column = _yaml.node_column(node) + (1 if node.style in ("'", '"') else 0)
    return [start] * count, [column] * count


def _block_indent(node: yaml.ScalarNode, text: str, lines: list[str]) -> int:
    first = int(node.start_mark.line) + 1
    for offset, content in enumerate(text.split("\n")):
        if content.strip() and first + offset < len(lines):
            raw = lines[first + offset]
            return max(
                0, (len(raw) - len(raw.lstrip(" "))) - (len(content) - len(content.lstrip(" ")))
            )
    return 0


def _folded_line_map(node: yaml.ScalarNode, text: str, lines: list[str]) -> list[int]:
    """Folding joins lines of a paragraph: map each line of ``text`` to the source line it
    starts on, by finding its first words in the block's raw lines."""
    first = int(node.start_mark.line) + 1
    last = min(int(node.end_mark.line), len(lines) - 1)
    raw = [(i + 1, lines[i].strip()) for i in range(first, last + 1)]
    out: list[int] = []
    current = first + 1
    j = 0
    for segment in text.split("\n"):
        content = segment.strip()
        if content:
            k = j
            while k < len(raw) and (not raw[k][1] or not content.startswith(raw[k][1])):
                k += 1
            if k < len(raw):
                current = raw[k][0]
                j = k + 1
        out.append(current)
    return out


# --- the scan of one file ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Scope:
    """What a step inherits from its workflow or action and its job."""

    shell: str | None = None
    """``defaults.run.shell`` in force (None: the runner's default)."""
    windows: bool = False
    """The job may run on Windows, where the default shell is PowerShell."""
    workdir: str | None = None
    """``working-directory`` in force, relative to the repository root (None: the root)."""
    env: dict[str, yaml.Node] = field(default_factory=dict)
    """``env:`` values by name, the innermost definition winning."""
    matrix: dict[str, list[yaml.Node]] = field(default_factory=dict)
    """Literal ``strategy.matrix`` values by lower-cased key, ``include:`` entries added."""
    inputs: dict[str, yaml.Node] = field(default_factory=dict)
    """Defaults of workflow_call/workflow_dispatch or action inputs, by lower-cased name."""


class _FileScan(ShellCollector):
    """Collects what one workflow or action file says."""

    def __init__(self, source: SourceFile, ctx: ScanContext, kind: str) -> None:
        self.source = source
        self.ctx = ctx
        self.kind = kind
        self.mapping = Mappings()
        # Split where YAML counts lines, so that mark lines index this list.
        self.lines = yaml_lines(source.text)
        self.findings: dict[tuple[str, int, int, str], Finding] = {}
        self.pins: dict[Pin, None] = {}
        self.includes: dict[Include, None] = {}
        self.indexes: dict[str, None] = {}
        self.images: dict[tuple[str, int], ImageRef] = {}
        self.pythons: dict[tuple[str, int], PythonVersion] = {}
        self.sections: list[Section] = []
        self.installs = False
        self.downloads: tuple[Download, ...] = ()
        self.budget = ExpansionBudget(source.path)
        # An anchored job, step list, step or run script is judged once, where it is written;
        # its aliases (a thousand uses of one 300-line step) add nothing but the cost.
        self.judged: set[int] = set()
        self.run_downloads: dict[int, tuple[Download, ...]] = {}

    def first_visit(self, node: yaml.Node) -> bool:
        """True the first time ``node`` (an anchor, or a node never aliased) is reached."""
        key = id(node)
        if key in self.judged:
            return False
        self.judged.add(key)
        return True

    def facts(self) -> FileFacts:
        note = self.budget.note()
        if note is not None:
            self.add(note)
        return FileFacts(
            path=self.source.path,
            kind=self.kind,
            role=Role.CONCRETE if self.installs else Role.OTHER,
            findings=tuple(self.findings.values()),
            pins=tuple(self.pins),
            includes=tuple(self.includes),
            images=tuple(self.images.values()),
            pythons=tuple(self.pythons.values()),
            indexes=tuple(self.indexes),
            sections=tuple(self.sections),
        )

    def add(self, found: Finding) -> None:
        # One finding per rule, place and subject: an aliased node is visited once per use,
        # and a run step once per matrix value, but the text to fix is in one place.
        loc = found.location
        self.findings.setdefault((found.rule, loc.line, loc.column, found.subject), found)

    def at(self, node: yaml.Node) -> Location:
        return self.source.at(_yaml.node_line(node), _yaml.node_column(node))

    def bad(self, message: str, node: yaml.Node) -> None:
        self.add(finding("RP001", f"{self.kind}: {message}", self.at(node)))

    # workflow and action tops

    def workflow(self, top: Entries) -> None:
        scope = _Scope(
            shell=self._default_run(top, "shell"),
            workdir=self._default_run(top, "working-directory"),
            env=self._env(top),
            inputs=self._inputs(self._trigger_inputs(top)),
        )
        jobs = top.get("jobs")
        if jobs is None or _yaml.is_null(jobs[1]):
            return
        if not isinstance(jobs[1], yaml.MappingNode):
            self.bad("jobs must map job ids to jobs", jobs[1])
            return
        for _, (knode, jnode) in self.mapping(jobs[1]).items():
            if not isinstance(jnode, yaml.MappingNode):
                if not _yaml.is_null(jnode):
                    self.bad(f"job {knode.value} must be a mapping", jnode)
                continue
            if self.first_visit(jnode):
                self.job(self.mapping(jnode), scope)
                self.section(str(knode.value), knode, jnode)

    def action(self, top: Entries) -> None:
        runs = self.mapping(top["runs"][1])
        using = (_yaml.scalar(_get(runs, "using")) or "").strip().lower()
        scope = _Scope(inputs=self._inputs(_get(top, "inputs")))
        if using == "composite":
            steps = runs.get("steps")
            if steps is not None:
                self.steps(steps[1], scope)
        elif using == "docker":
            image = runs.get("image")
            text = _yaml.scalar(image[1]) if image else None
            if image is not None and text is not None and text.lower().startswith("docker://"):
                self.image(text[len("docker://") :], image[1])

    def job(self, job: Entries, parent: _Scope) -> None:
        matrix = self._matrix(_get(job, "strategy"))
        scope = _Scope(
            shell=self._default_run(job, "shell") or parent.shell,
            workdir=self._default_run(job, "working-directory") or parent.workdir,
            env={**parent.env, **self._env(job)},
            matrix=matrix,
            inputs=parent.inputs,
            windows=self._on_windows(_get(job, "runs-on"), matrix),
        )
        self.downloads = ()  # each job starts on a fresh runner
        uses = job.get("uses")
        if uses is not None:
            self.uses(uses[1], reusable=True)
        container = job.get("container")
        if container is not None:
            self.container(container[1], scope, runs_steps=True)
        services = job.get("services")
        if services is not None:
            for _, (_, service) in self.mapping(services[1]).items():
                self.container(service, scope, runs_steps=False)
        steps = job.get("steps")
        if steps is not None:
            self.steps(steps[1], scope)

    def section(self, name: str, key: yaml.Node, node: yaml.MappingNode) -> None:
        """The job as a :class:`Section`: its lines, where it runs, its matrix axes."""
        job = self.mapping(node)
        matrix = self._matrix(_get(job, "strategy"))
        labels = [
            text.strip().lower()
            for value in self._runs_on(_get(job, "runs-on"), matrix)
            if (text := _yaml.scalar(value)) is not None and "${{" not in text
        ]
        # A block mapping's end mark is where the next token starts: on a line of its own, the
        # job ended on the line before.
        end_line, end_column = int(node.end_mark.line), int(node.end_mark.column)
        text = self.lines[end_line] if end_line < len(self.lines) else ""
        end = end_line if not text[:end_column].strip() else end_line + 1
        self.sections.append(
            Section(
                kind="job",
                name=name,
                start=_yaml.node_line(key),
                end=max(end, _yaml.node_line(key)),
                labels=tuple(dict.fromkeys(labels)),
                matrix=tuple(matrix),
            )
        )

    def steps(self, node: yaml.Node, scope: _Scope) -> None:
        if _yaml.is_null(node):
            return
        if not isinstance(node, yaml.SequenceNode):
            self.bad("steps must be a list", node)
            return
        if not self.first_visit(node):
            return
        for step in node.value:
            if not isinstance(step, yaml.MappingNode):
                if not _yaml.is_null(step):
                    self.bad("a step must be a mapping", step)
                continue
            if self.first_visit(step):
                self.step(self.mapping(step), scope)
                self.run_downloads[id(step)] = self.downloads
            else:
                # judged where it is written; what it leaves downloaded still matters here
                self.downloads = self.run_downloads.get(id(step), self.downloads)

    def step(self, step: Entries, parent: _Scope) -> None:
        scope = _Scope(
            shell=parent.shell,
            workdir=_yaml.scalar(_get(step, "working-directory")) or parent.workdir,
            env={**parent.env, **self._env(step)},
            matrix=parent.matrix,
            inputs=parent.inputs,
            windows=parent.windows,
        )
        uses = step.get("uses")
        action = self.uses(uses[1], reusable=False) if uses is not None else None
        given = self.mapping(_get(step, "with"))
        if action in _SETUP_INPUTS:
            for key, tool in _SETUP_INPUTS[action]:
                if key in given:
                    self.toolchain(key, tool, given[key][1], scope)
        setup = SETUP_TOOLS.get(action or "")
        if setup is not None and uses is not None:
            self.setup_without_version(action or "", setup, given, uses[1])
        run = step.get("run")
        if run is not None:
            shell = _yaml.scalar(_get(step, "shell")) or scope.shell
            self.run(run[1], shell, scope)

    # uses:, images

    def uses(self, node: yaml.Node, *, reusable: bool) -> str | None:
        """Judge a ``uses:`` value; return the action's lower-cased ``owner/repo[/path]``."""
        value = _yaml.scalar(node)
        if value is None:
            if not _yaml.is_null(node):
                self.bad("uses must be a string", node)
            return None
        value = value.strip()
        if not value or value.startswith("./"):
            return None  # a local action or workflow is versioned with the repository
        if value.lower().startswith("docker://"):
            self.image(value[len("docker://") :], node)
            return None
        name, at, ref = value.partition("@")
        what = "reusable workflow" if reusable else "action"
        pinned_fix = f"{name}@<40-hex commit>"
        if "${{" in value:
            msg = f"{what} {value} takes its ref from an expression, which cannot be verified"
            self.add(finding("RP401", msg, self.at(node), subject=name, fix=pinned_fix))
        elif not at or not ref:
            msg = f"{what} {name} has no ref, so it runs whatever its default branch holds"
            self.add(finding("RP401", msg, self.at(node), subject=name, fix=pinned_fix))
        elif not _COMMIT.match(ref):
            msg = f"{what} {value} is not pinned to a full commit SHA"
            fix = f"{pinned_fix} # {ref}"
            self.add(finding("RP401", msg, self.at(node), subject=name, fix=fix))
        return name.strip().rstrip("/").lower()

    def container(self, node: yaml.Node, scope: _Scope, *, runs_steps: bool) -> None:
        """``container:``/``services.<id>:``: an image string or a mapping with ``image:``.
        The job's own container (``runs_steps``) also says which Python its steps run."""
        image: yaml.Node | None = node
        if isinstance(node, yaml.MappingNode):
            image = _get(self.mapping(node), "image")
        if image is None:
            return
        resolved = self.resolve(image, scope)
        for value in resolved if resolved is not None else [image]:
            text = _yaml.scalar(value)
            if text is None or "${{" in text:
                continue  # an expression we cannot resolve: nothing to judge
            if text.lower().startswith("docker://"):
                text = text[len("docker://") :]
            self.image(text, value)
            python = python_of_image(text.strip()) if runs_steps else None
            if python is not None:
                self._python_fact("python", python, _yaml.node_line(value))

    def image(self, ref: str, node: yaml.Node) -> None:
        ref = ref.strip()
        if not ref or "${{" in ref:
            return
        self.images.setdefault(
            (ref, _yaml.node_line(node)), ImageRef(ref=ref, line=_yaml.node_line(node))
        )
        for found in judge_image(ref, self.at(node)):
            self.add(found)

    # toolchains (RP403)

    def setup_without_version(
        self, action: str, setup: SetupTool, given: Entries, node: yaml.Node
    ) -> None:
        """RP403 for a setup action given no version input, with no file to read one from."""
        if any(key in given for key in setup.inputs):
            return
        if any(name in self.ctx.files for name in setup.files):
            return
        stated = " or ".join(setup.inputs[:2])
        message = f"{action} with no {stated} input installs {setup.otherwise}"
        fix = f"with: {setup.inputs[0]}: <exact version>"
        self.add(finding("RP403", message, self.at(node), subject=setup.tool, fix=fix))

    def toolchain(self, key: str, tool: str, node: yaml.Node, scope: _Scope) -> None:
        resolved = self.resolve(node, scope)
        for value in resolved if resolved is not None else [node]:
            text = _yaml.scalar(value)
            if text is None or "${{" in text:
                continue
            if isinstance(value, yaml.ScalarNode):
                self._toolchain_value(key, tool, value, text)

    def _toolchain_value(self, key: str, tool: str, node: yaml.ScalarNode, text: str) -> None:
        if not node.style and node.tag == _yaml.FLOAT_TAG and _TRAILING_ZERO_FLOAT.match(text):
            number = str(float(text))
            msg = f"{key} {text} is read by YAML as the number {number}"
            self.add(finding("RP403", msg, self.at(node), subject=tool, fix=f"'{text}'"))
            self._python_fact(tool, text, _yaml.node_line(node))
            return
        block = node.style in ("|", ">")
        for offset, raw in enumerate(text.splitlines() or [text]):
            version = raw.strip()
            if not version:
                continue
            line = _yaml.node_line(node) + 1 + offset if block else _yaml.node_line(node)
            if is_floating_version(tool, version):
                msg = f"{key} {version} floats to whichever release is newest"
                where = self.source.at(line) if block else self.at(node)
                self.add(finding("RP403", msg, where, subject=tool))
            else:
                self._python_fact(tool, version, line)

    def _python_fact(self, tool: str, version: str, line: int) -> None:
        if tool != "python":
            return
        match = _PYTHON_VERSION.match(version.lower())
        if match:
            value = match.group(1)
            self.pythons.setdefault(
                (value, line), PythonVersion(value=value, line=line, origin="ci")
            )

    # run: steps

    def run(self, node: yaml.Node, shell: str | None, scope: _Scope) -> None:
        script = _yaml.scalar(node)
        if script is None:
            if not _yaml.is_null(node):
                self.bad("run must be a string", node)
            return
        program = _shell_program(shell) or ("pwsh" if scope.windows else "bash")
        posix = program in _POSIX_SHELLS
        if not posix and program not in _OTHER_SHELLS:
            return
        if not script.strip() or not isinstance(node, yaml.ScalarNode):
            return
        if not self.first_visit(node):
            # judged where it is written; what it leaves downloaded still matters to the job
            self.downloads = self.run_downloads.get(id(node), self.downloads)
            return
        line_map, column_map = scalar_geometry(node, script, self.lines)
        variables = self._variables(scope)
        locate = self._locator(scope.workdir)
        after: tuple[Download, ...] | None = None
        found: dict[tuple[str, int, int, str], list[tuple[_Variant, Finding]]] = {}
        variants = list(self._variants(script, scope))
        for variant in variants:
            audit = audit_shell(
                variant.text,
                self.source,
                self.ctx,
                line_map=line_map,
                column_map=column_map,
                column_offsets=variant.offsets,
                variables=variables,
                locate=locate,
                downloaded=self.downloads,
                report_syntax=posix,
                budget=self.budget,
            )
            for item in audit.findings:
                loc = item.location
                found.setdefault((item.rule, loc.line, loc.column, item.subject), []).append(
                    (variant, item)
                )
            self.merge(audit, findings=False)
            if after is None:
                after = audit.downloads
        for seen in found.values():
            self.add(_for_values(seen, variants))
        self.downloads = after or ()
        self.run_downloads[id(node)] = self.downloads

    def _variables(self, scope: _Scope) -> dict[str, str | None]:
        """``env:`` as the step's shell sees it: literal values, or None when an expression
        decides the value at run time."""
        out: dict[str, str | None] = {}
        for name, node in scope.env.items():
            text = _yaml.scalar(node)
            if text is not None and "${{" in text:
                values = self._literal_values(text.strip(), scope)
                text = values[0] if len(values) == 1 else None
            out[name] = text
        return out

    def _locator(self, workdir: str | None) -> Callable[[str], str | None]:
        """Run steps start in the checkout (the repository root) or their working-directory."""
        base = workdir.strip().strip("/") if workdir and "${{" not in workdir else ""
        base = "" if base in (".", "./") else base

        def locate(written: str) -> str | None:
            if written.startswith(("/", "~", "$")):
                return None
            return repo_file(self.ctx, f"{base}/{written}" if base else written)

        return locate

    def _variants(self, script: str, scope: _Scope) -> Iterator[_Variant]:
        """The script with ``${{ }}`` expressions replaced: by their literal values where they
        resolve (one variant per combination of matrix values, up to a cap), else by a shell
        variable named after the expression, so the audit sees a value chosen at run time."""
        exprs = list(dict.fromkeys(m.group(0) for m in _EXPRESSION.finditer(script)))
        if not exprs:
            yield _Variant(text=script, offsets=None, values={})
            return
        choices: list[list[str]] = []
        for expr in exprs:
            values = self._literal_values(expr, scope)
            choices.append(values or [_placeholder(expr)])
        total = 1
        for values in choices:
            total *= len(values)
        if total > _MAX_VARIANTS:
            choices = [
                vs if len(vs) == 1 else [_placeholder(e)]
                for e, vs in zip(exprs, choices, strict=True)
            ]
        varying = {e: vs for e, vs in zip(exprs, choices, strict=True) if len(vs) > 1}
        for combo in itertools.product(*choices):
            table = dict(zip(exprs, combo, strict=True))
            yield _Variant(
                text=_substituted_text(script, table),
                offsets=_Offsets(script, table),
                values={e: table[e] for e in varying},
            )

    def _literal_values(self, expr: str, scope: _Scope) -> list[str]:
        """Literal values a simple ``${{ matrix.x }}``-style expression takes, or []."""
        if "\n" in expr:
            return []
        nodes = self.resolve(yaml.ScalarNode(_yaml.STR_TAG, expr), scope)
        if nodes is None:
            return []
        values = [_yaml.scalar(n) for n in nodes]
        if any(v is None or "${{" in v or "\n" in v for v in values):
            return []
        return list(dict.fromkeys(v for v in values if v is not None))

    def resolve(self, node: yaml.Node, scope: _Scope, depth: int = 0) -> list[yaml.Node] | None:
        """The literal value nodes behind a value that is exactly ``${{ matrix.KEY }}``,
        ``${{ env.KEY }}`` or ``${{ inputs.KEY }}``; None when it is not such a reference or
        the reference leads nowhere literal."""
        text = _yaml.scalar(node)
        match = _SIMPLE_REF.match(text.strip()) if text is not None else None
        if match is None or depth > _MAX_REF_DEPTH:
            return None
        context, key = match.group(1), match.group(2).lower()
        if context == "matrix":
            found = scope.matrix.get(key)
        else:
            table = scope.inputs if context == "inputs" else _folded_keys(scope.env)
            one = table.get(key)
            found = [one] if one is not None else None
        if not found:
            return None
        out: list[yaml.Node] = []
        for value in found:
            deeper = self.resolve(value, scope, depth + 1)
            if deeper is not None:
                out.extend(deeper)
            elif _SIMPLE_REF.match((_yaml.scalar(value) or "").strip()):
                return None
            else:
                out.append(value)
            if len(out) > _MAX_RESOLVED:
                self.budget.refuse(
                    self.at(node),
                    f"{text.strip() if text else 'a reference'} takes over {_MAX_RESOLVED} "
                    "values through other matrix values and is not expanded",
                )
                return None
        return out

    # scopes

    def _on_windows(self, runs_on: yaml.Node | None, matrix: dict[str, list[yaml.Node]]) -> bool:
        """Whether ``runs-on`` may name a Windows runner."""
        return any(
            "windows" in (_yaml.scalar(value) or "").lower()
            for value in self._runs_on(runs_on, matrix)
        )

    def _runs_on(
        self, runs_on: yaml.Node | None, matrix: dict[str, list[yaml.Node]]
    ) -> list[yaml.Node]:
        """The label nodes ``runs-on`` names (a label, a list of labels, ``group``/``labels``),
        matrix values resolved."""
        if isinstance(runs_on, yaml.MappingNode):
            runs_on = _get(self.mapping(runs_on), "labels")
        labels = (
            _yaml.sequence_items(runs_on) if isinstance(runs_on, yaml.SequenceNode) else [runs_on]
        )
        scope = _Scope(matrix=matrix)
        out: list[yaml.Node] = []
        for label in labels:
            if label is not None:
                out.extend(self.resolve(label, scope) or [label])
        return out

    def _default_run(self, entries: Entries, key: str) -> str | None:
        """``defaults.run.shell`` or ``defaults.run.working-directory``."""
        defaults = self.mapping(_get(entries, "defaults"))
        return _yaml.scalar(_get(self.mapping(_get(defaults, "run")), key))

    def _env(self, entries: Entries) -> dict[str, yaml.Node]:
        env = self.mapping(_get(entries, "env"))
        return {name: value for name, (_, value) in env.items()}

    def _trigger_inputs(self, top: Entries) -> yaml.Node | None:
        """``on.workflow_call.inputs`` (or ``workflow_dispatch``'s) of a workflow."""
        triggers = self.mapping(_get(top, "on"))
        for event in ("workflow_call", "workflow_dispatch"):
            inputs = self.mapping(_get(triggers, event)).get("inputs")
            if inputs is not None:
                return inputs[1]
        return None

    def _inputs(self, node: yaml.Node | None) -> dict[str, yaml.Node]:
        out: dict[str, yaml.Node] = {}
        for name, (_, spec) in self.mapping(node).items():
            default = self.mapping(spec).get("default")
            if default is not None and isinstance(default[1], yaml.ScalarNode):
                out[name.lower()] = default[1]
        return out

    def _matrix(self, strategy: yaml.Node | None) -> dict[str, list[yaml.Node]]:
        matrix = self.mapping(_get(self.mapping(strategy), "matrix"))
        out: dict[str, list[yaml.Node]] = {}
        for key, (_, value) in matrix.items():
            if key in ("include", "exclude"):
                continue
            if isinstance(value, yaml.SequenceNode):
                out[key.lower()] = [v for v in value.value if isinstance(v, yaml.ScalarNode)]
            elif isinstance(value, yaml.ScalarNode) and not _yaml.is_null(value):
                out[key.lower()] = [value]
        for entry in _yaml.sequence_items(_get(matrix, "include")):
            for key, (_, value) in self.mapping(entry).items():
                if isinstance(value, yaml.ScalarNode) and not _yaml.is_null(value):
                    out.setdefault(key.lower(), []).append(value)
        return out


def _shell_program(shell: str | None) -> str | None:
    """``bash`` for ``/usr/bin/bash -el {0}``; None when no shell is named."""
    words = shell.split() if shell else []
    if not words:
        return None
    return words[0].rsplit("/", 1)[-1].lower().removesuffix(".exe")


def _folded_keys(table: dict[str, yaml.Node]) -> dict[str, yaml.Node]:
    # Expression contexts are case-insensitive: ${{ env.torch }} reads TORCH.
    return {name.lower(): value for name, value in table.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Variant:
    """A run script with its expressions replaced by one combination of their values."""

    text: str
    offsets: Sequence[Sequence[int]] | None
    """For each line of ``text``: the column (0-based) in the script as written that each
    character comes from; a substituted value points at its expression."""
    values: dict[str, str]
    """The value each expression with several values takes in this variant."""


def _substituted_text(script: str, table: dict[str, str]) -> str:
    """The text :func:`_substitute` returns, without working out where each character was
    written."""
    return _EXPRESSION.sub(lambda m: table[m.group(0)] + "\n" * m.group(0).count("\n"), script)


class _Offsets(Sequence[Sequence[int]]):
    """The offsets :func:`_substitute` returns, worked out when a column is first asked for:
    most variants of a run script report nothing, and then no column is looked for."""

    def __init__(self, script: str, table: dict[str, str]) -> None:
        self._script = script
        self._table = table
        self._lines: tuple[tuple[int, ...], ...] | None = None

    def _worked_out(self) -> tuple[tuple[int, ...], ...]:
        if self._lines is None:
            self._lines = _substitute(self._script, self._table)[1]
        return self._lines

    def __len__(self) -> int:
        return len(self._worked_out())

    @overload
    def __getitem__(self, index: int) -> Sequence[int]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Sequence[int]]: ...
    def __getitem__(self, index: int | slice) -> Sequence[int] | Sequence[Sequence[int]]:
        return self._worked_out()[index]


def _substitute(script: str, table: dict[str, str]) -> tuple[str, tuple[tuple[int, ...], ...]]:
    """``script`` with each expression replaced by its value in ``table``, and where each
    character of the result was written. An expression spanning lines keeps its line breaks,
    so the line map stays true."""
    out: list[str] = []
    lines: list[list[int]] = [[]]
    column = 0

    def literal(text: str) -> None:
        # each character stands where it was written: a run of columns per line, not a loop
        # over characters (a script is mostly literal text)
        nonlocal column
        out.append(text)
        for index, piece in enumerate(text.split("\n")):
            if index:
                lines.append([])
                column = 0
            lines[-1].extend(range(column, column + len(piece)))
            column += len(piece)

    position = 0
    for match in _EXPRESSION.finditer(script):
        literal(script[position : match.start()])
        value = table[match.group(0)]
        out.append(value)
        lines[-1].extend([column] * len(value))
        written = match.group(0)
        breaks = written.count("\n")
        for _ in range(breaks):
            out.append("\n")
            lines.append([])
        column = len(written) - written.rfind("\n") - 1 if breaks else column + len(written)
        position = match.end()
    literal(script[position:])
    return "".join(out), tuple(tuple(line) for line in lines)


_MAX_NAMED_VALUES = 8
"""Matrix values named in one finding's message; more are counted."""


def _for_values(seen: list[tuple[_Variant, Finding]], variants: list[_Variant]) -> Finding:
    """One finding for a problem found in one or more variants of a run script, naming the
    values it holds for: of each expression whose value decides whether it is found, or
    changes what is said about it."""
    variant, first = seen[0]
    if len(variants) < 2:
        return first
    named: list[str] = []
    for expr in variant.values:
        every = list(dict.fromkeys(v.values[expr] for v in variants))
        held = list(dict.fromkeys(v.values[expr] for v, _ in seen))
        said: dict[str, set[str]] = {}
        for v, item in seen:
            said.setdefault(v.values[expr], set()).add(item.message)
        if held == every and len({frozenset(m) for m in said.values()}) == 1:
            continue
        shown = ", ".join(held[:_MAX_NAMED_VALUES])
        if len(held) > _MAX_NAMED_VALUES:
            shown += f" and {len(held) - _MAX_NAMED_VALUES} more"
        named.append(f"{_EXPRESSION.sub(lambda m: m.group(1).strip(), expr)}: {shown}")
    if not named:
        return first
    return replace(first, message=f"{first.message} (for {'; '.join(named)})")


def _placeholder(expr: str) -> str:
    inner = _EXPRESSION.sub(lambda m: m.group(1), expr)
    name = re.sub(r"\W+", "_", inner).strip("_").upper()[:40] or "GITHUB_EXPRESSION"
    if name[0].isdigit():
        name = f"GH_{name}"
    return f"${{{name}}}"


# --- the scanners --------------------------------------------------------------------------


def _top(source: SourceFile) -> yaml.Node | None:
    root = _yaml.compose(source.text)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ScanError(
            "expected a mapping at the top level", _yaml.node_line(root), _yaml.node_column(root)
        )
    return root


class WorkflowScanner(Scanner):
    """``.github/workflows/*.yml`` at any depth (monorepos keep several ``.github`` trees)."""

    name = KIND_WORKFLOW
    extensions = frozenset({"yml", "yaml"})

    def claims(self, relpath: str, filename: str) -> bool:
        if not filename.lower().endswith((".yml", ".yaml")):
            return False
        return relpath.startswith(".github/workflows/") or "/.github/workflows/" in relpath

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        root = _top(source)
        scan = _FileScan(source, ctx, KIND_WORKFLOW)
        if root is not None:
            scan.workflow(scan.mapping(root))
        return scan.facts()


class ActionScanner(Scanner):
    """Action metadata (``action.yml``): composite steps and docker images."""

    name = KIND_ACTION
    extensions = frozenset({"yml", "yaml"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in ("action.yml", "action.yaml")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        scan = _FileScan(source, ctx, KIND_ACTION)
        top = scan.mapping(_yaml.compose(source.text))
        if "runs" in top:  # without runs: some other file that happens to have this name
            scan.action(top)
        return scan.facts()


__all__ = [
    "KIND_ACTION",
    "KIND_WORKFLOW",
    "ActionScanner",
    "Entries",
    "Mappings",
    "WorkflowScanner",
    "is_floating_version",
    "scalar_geometry",
    "workflow_scanners",
    "yaml_lines",
]
