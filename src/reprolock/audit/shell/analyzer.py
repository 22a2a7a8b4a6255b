"""The shell interpreter: walks a syntax tree in execution order, keeping variables, expanding
words within the file's budget and unrolling loops, removes wrappers (``sudo``, ``env``) and
hands each command to the handler its program name selects (the handlers live in
:mod:`.installers` and :mod:`.fetch`; :mod:`.scanner` puts them together)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reprolock.audit import slotted
from reprolock.audit.budget import (
    MAX_NESTED_SCRIPTS,
    MAX_SPLIT_WORDS,
    MAX_UNROLLED_COMMANDS,
    MAX_VALUE_CHARS,
    ExpansionBudget,
)
from reprolock.audit.interface import Include, Pin, ScanContext, SourceFile
from reprolock.audit.shell.syntax import (
    ASSIGNMENT,
    NAME,
    Command,
    Redirect,
    Script,
    Word,
    parse,
    word_set,
)
from reprolock.model import Finding, Location
from reprolock.specs import JudgeContext, Spec, SpecKind, judge_concrete


@dataclass(frozen=True, kw_only=True, slots=True)
class Download:
    """A file a command saved from the network and nothing has checked yet."""

    path: str
    """Where it was saved, normalised (``./x.sh`` becomes ``x.sh``)."""
    url: str
    """What was downloaded ("" when the command named no URL)."""
    line: int
    """File line of the download."""
    column: int = 1
    """File column of its URL."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Clone:
    """A repository cloned at a ref that can move, that nothing has used yet."""

    path: str
    """The directory it was cloned into, as written (normalised: ``./x/`` is ``x``)."""
    url: str
    """The repository."""
    ref: str | None
    """The branch or tag checked out (``-b``, a later ``git checkout``); None: the default
    branch."""
    line: int
    """File line of the URL."""
    column: int = 1
    """File column of the URL."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ShellAudit:
    """What :func:`~reprolock.audit.shell.audit_shell` found in a piece of shell text."""

    findings: tuple[Finding, ...] = ()
    """Findings about the commands."""
    pins: tuple[Pin, ...] = ()
    """Exact Python pins installed by the commands."""
    includes: tuple[Include, ...] = ()
    """``pip install -r FILE`` / ``-c FILE`` with FILE in the repository (root-relative)."""
    indexes: tuple[str, ...] = ()
    """``--index-url`` / ``--extra-index-url`` / ``-i`` values used."""
    installs_python: bool = False
    """True when some command installs Python packages (pip, uv, conda, poetry ...)."""
    downloads: tuple[Download, ...] = ()
    """Files downloaded and not yet checked when the text ends (a later Dockerfile ``RUN`` or
    CI step that runs one is still reported: pass them back in as ``downloaded``)."""
    clones: tuple[Clone, ...] = ()
    """Repositories cloned at a moving ref and not used yet when the text ends (pass them back
    in as ``cloned``: a later ``RUN`` or ``WORKDIR`` may build them)."""


Locator = Callable[[str], "str | None"]
"""Maps a file argument as written (``requirements.txt``, ``/app/req.txt``) to a root-relative
path of a file in the repository, or None when it is not one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Geometry:
    """Where the shell text sits in its file (see ``audit_shell``'s maps)."""

    first_line: int
    line_map: Sequence[int] | None
    column_map: Sequence[int] | None
    column_offsets: Sequence[Sequence[int]] | None = None

    def line(self, index: int) -> int:
        if self.line_map is not None and self.line_map:
            if 0 <= index < len(self.line_map):
                return self.line_map[index]
            return self.line_map[-1]
        return self.first_line + max(index, 0)

    def column(self, index: int, column: int) -> int:
        if self.column_offsets is not None and 0 <= index < len(self.column_offsets):
            offsets = self.column_offsets[index]
            if offsets:
                column = offsets[min(column - 1, len(offsets) - 1)] + 1
        if self.column_map is not None and 0 <= index < len(self.column_map):
            return self.column_map[index] + column - 1
        return column

    def location(self, source: SourceFile, index: int, column: int = 1) -> Location:
        return source.at(self.line(index), self.column(index, column))


class Unplaced(Exception):
    """A position :data:`TEXT_GEOMETRY` cannot hand back to the file's geometry unchanged."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TextGeometry(Geometry):
    """Positions in the text itself: script line i is line i + 1, columns as written. A
    location made with it is placed in a file by :meth:`place`."""

    def line(self, index: int) -> int:
        if index < 0:
            raise Unplaced  # another geometry maps it as it maps no other line
        return index + 1

    def column(self, index: int, column: int) -> int:
        if index < 0 or column < 1:
            raise Unplaced
        return column

    @staticmethod
    def place(location: Location, geometry: Geometry, source: SourceFile) -> Location:
        """``location`` (made by this geometry) where ``geometry`` puts it in ``source``."""
        return geometry.location(source, location.line - 1, location.column)


TEXT_GEOMETRY = TextGeometry(first_line=1, line_map=None, column_map=None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Arg:
    """A word after the variables known at that point were substituted."""

    text: str
    word: Word
    dynamic: bool
    """Still contains an expansion whose value is not known."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Fetch:
    """A download command's output."""

    url: str
    line: int
    column: int
    output: str | None
    """File it writes; None when it writes to standard output."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What a command hands on to the next one in its pipeline."""

    fetch: Fetch | None = None
    text: str | None = None
    """Literal text written by ``echo``/``printf`` (for ``| sha256sum -c``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """A command about to run: wrappers (``sudo``, ``env``) removed, variables substituted."""

    name: str
    """The program, as :func:`command_name` reads it."""
    program: Arg
    rest: list[Arg]
    """The arguments after the program name."""
    command: Command
    upstream: list[Outcome]
    """What the commands before it in its pipeline hand on."""
    onward: bool = False
    """Its output goes on to another command."""


_NOTHING = Outcome()
"""What most commands hand on: nothing (immutable, so one serves every command)."""
_CALL = slotted.constructor(Call)
"""``Call(...)``, one per command analysed, without the frozen dataclass's keyword
``__init__`` (a test compares the two)."""


def recall(call: Call, *, rest: list[Arg], name: str | None = None) -> Call:
    """``dataclasses.replace(call, rest=rest)`` (and ``name=name`` when given): the command a
    program runs with the arguments it passes on (``python -m pip``, ``uv pip``), made without
    ``replace``'s look-up of every field by name."""
    return _CALL(
        name=call.name if name is None else name,
        program=call.program,
        rest=rest,
        command=call.command,
        upstream=call.upstream,
        onward=call.onward,
    )


_ARG: Callable[[str, Word, bool], Arg] = slotted.builder(Arg)


def literal_arg(word: Word) -> Arg:
    """``Arg(text=word.text, word=word, dynamic=False)``, from every field in order
    (:func:`slotted.builder`): one per word of every command analysed, and the frozen
    dataclass's keyword ``__init__`` costs three times this (a test compares the two)."""
    return _ARG(word.text, word, False)


def retext(arg: Arg, text: str) -> Arg:
    """``dataclasses.replace(arg, text=text)``, from every field in order (an option's value
    split off its name, for every option read; ``replace`` looks up every field by name)."""
    return _ARG(text, arg.word, arg.dynamic)


Handler = Callable[["Analyzer", Call], "Outcome | None"]
"""Judges one command."""
Wrapper = Callable[["Analyzer", list[Arg]], "list[Arg] | None"]
"""Given a wrapper's arguments (``-u app pip install x`` after ``sudo``), the command it runs;
None when this use of the program runs none (``conda install``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Commands:
    """What the analyzer knows about programs, keyed by :func:`command_name`."""

    handlers: Mapping[str, Handler]
    wrappers: Mapping[str, Wrapper]
    fallback: Handler
    """For a program no handler knows (a script the text may have downloaded)."""
    environment: Callable[[Analyzer, Sequence[Word]], None]
    """Judges variable assignments that configure a tool (``PIP_EXTRA_INDEX_URL=...``)."""
    observers: tuple[Handler, ...] = ()
    """Called with every command before its handler (what a command does to a clone)."""


_MAX_LOOP = 32
_PIP = re.compile(r"^pip(?:\d+(?:\.\d+)?)?$")
_PYTHON = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)?)?[mtw]?$|^py$")
_VAR_ONLY = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_VAR_LAST = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?\s*$")
_PIP_VAR = re.compile(r"pip\d*(?:_(?:cmd|bin|exe|command))?")
_PYTHON_VAR = re.compile(r"(?:python|py)\d*(?:_(?:cmd|bin|exe|interpreter|command))?")
_EXPANSION = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+=?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_DYNAMIC = re.compile(r"\$[{(A-Za-z_0-9@*#?!$-]|`")


def command_name(arg: Arg) -> str:
    """The command a program name stands for: its base name without ``.exe``, ``pip`` for
    ``pip3.11``/``$PIP_CMD``, ``python`` for ``python3``/``pypy``/``$PYTHON_BIN``; "" for
    another expansion."""
    text = arg.text
    base = text.rstrip("/").rsplit("/", 1)[-1]
    if base.lower().endswith(".exe"):
        base = base[:-4]
    if "$" in base or "`" in base:
        match = _VAR_ONLY.match(base) or _VAR_LAST.search(base)
        if match is None:
            return ""
        var = match.group(1).lower()
        if _PIP_VAR.fullmatch(var):
            return "pip"
        if _PYTHON_VAR.fullmatch(var):
            return "python"
        return ""
    if base[:1] != "p":  # every pip and python name starts with it: most names skip the regexes
        return base
    if _PIP.match(base):
        return "pip"
    return "python" if _PYTHON.match(base) else base


def sub(rest: Sequence[Arg]) -> str:
    """The first argument (a subcommand), or ""."""
    return rest[0].text if rest else ""


def skip_options(
    rest: list[Arg], short_values: str, long_values: set[str] | frozenset[str]
) -> list[Arg]:
    """``rest`` after the leading options (and ``--``) of a wrapper command."""
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "--":
            return rest[index + 1 :]
        if not text.startswith("-") or text == "-":
            break
        if text.startswith("--"):
            option, eq, _ = text.partition("=")
            index += 2 if option in long_values and not eq else 1
            continue
        if len(text) == 2 and text[1] in short_values:
            index += 2
            continue
        index += 1  # a flag, or a number (nice -10)
    return rest[index:]


def ask(locate: Locator, ctx: ScanContext, written: str, *, discovered: bool) -> str | None:
    """:meth:`Analyzer.repository_file`'s answer, given the file's ``locate``."""
    target = locate(written)
    if discovered and target is not None and target not in ctx.files:
        return None
    return target


class Analyzer:
    """Walks the syntax tree in execution order and hands each command to its handler."""

    def __init__(
        self,
        *,
        source: SourceFile,
        ctx: ScanContext,
        geometry: Geometry,
        variables: Mapping[str, str | None],
        locate: Locator,
        downloaded: Sequence[Download],
        cloned: Sequence[Clone] = (),
        container: bool,
        budget: ExpansionBudget,
        commands: Commands,
    ) -> None:
        self._source = source
        self._ctx = ctx
        self._geometry = geometry
        self._given = variables
        self._vars: dict[str, str | None] | None = None
        self._locate = locate
        self.container = container
        """The text runs in an image build (paths name the image's files)."""
        self._budget = budget
        self.commands = commands
        self.current: Command | None = None
        """The command being analysed (where an RP002 note goes)."""
        self.script_depth = 0
        self.substitution_depth = 0
        self.redirects: tuple[Redirect, ...] = ()
        """The redirections of the command being judged."""
        self._sizes: dict[int, int] = {}
        self._judge: JudgeContext | None = None
        self.findings: list[Finding] = []
        self.pins: list[Pin] = []
        self.includes: list[Include] = []
        self.indexes: list[str] = []
        self.installs_python = False
        self._downloads: list[Download] = list(downloaded)
        self.cwd: str | None = ""
        """Where ``cd`` has led, relative to where the text starts running ("" for there);
        None once it leads somewhere the text does not say."""
        self._clones: list[Clone] = list(cloned)
        self.inside: Clone | None = None
        """The clone the current directory is in (after ``cd`` into it)."""
        self._own = True
        self.looked_up: list[tuple[str, bool, str | None]] = []
        """``(written, discovered, answer)`` of each :meth:`repository_file` question."""

    # --- what the text is judged against -----------------------------------------------------
    # Each of these differs from file to file. Reading one marks the analysis as not the
    # text's own (see :attr:`own`); positions go through :meth:`at`, :meth:`line_of` and
    # :meth:`here`, which a caller can place anywhere.

    @property
    def own(self) -> bool:
        """True while the analysis has read nothing but the text and the answers of
        :meth:`repository_file`: no variable, budget, pending download or clone, nor the file
        itself; its result is then the same in every file the text is in, positions and those
        answers apart."""
        return self._own and not self._downloads and not self._clones

    @property
    def source(self) -> SourceFile:
        self._own = False
        return self._source

    @property
    def ctx(self) -> ScanContext:
        self._own = False
        return self._ctx

    @property
    def geometry(self) -> Geometry:
        self._own = False
        return self._geometry

    @property
    def vars(self) -> dict[str, str | None]:
        """The variables known at this point (None: set, value unknown): the caller's,
        copied when first needed (most text names none)."""
        self._own = False
        if self._vars is None:
            self._vars = dict(self._given)
        return self._vars

    @property
    def locate(self) -> Locator:
        self._own = False
        return self._locate

    @property
    def budget(self) -> ExpansionBudget:
        self._own = False
        return self._budget

    @property
    def judge(self) -> JudgeContext:
        """How specs in this file are judged (made when first needed: most text has none)."""
        self._own = False
        return self._judge_context()

    def _judge_context(self) -> JudgeContext:
        if self._judge is None:
            self._judge = self._ctx.judge_context(self._source, hash_capable=False)
        return self._judge

    def judge_spec(self, spec: Spec, location: Location) -> list[Finding]:
        """:func:`judge_concrete` of a spec installed by the text. Only a path is judged by
        where the file is (a spec here has no hashes to ask for): any other spec's findings
        are the text's own."""
        if spec.kind is SpecKind.PATH:
            return judge_concrete(spec, location, self.judge)
        return judge_concrete(spec, location, self._judge_context())

    @property
    def require_hashes(self) -> bool:
        """The audit's ``require_hashes``: the same in every file, and part of the key under
        which :mod:`.scanner` keeps an analysis to place in other files."""
        return self._ctx.config.require_hashes

    @property
    def downloads(self) -> list[Download]:
        """Files downloaded and not checked yet. An empty list tells nothing about the file."""
        if self._downloads:
            self._own = False
        return self._downloads

    @downloads.setter
    def downloads(self, value: list[Download]) -> None:
        self._downloads = value

    @property
    def clones(self) -> list[Clone]:
        """Repositories cloned at a moving ref and not used yet."""
        if self._clones:
            self._own = False
        return self._clones

    @clones.setter
    def clones(self, value: list[Clone]) -> None:
        self._clones = value

    def installed_file(self, directory: str, name: str) -> str | None:
        """The repository file ``name`` in ``directory`` (as the text writes it, relative to the
        current ``cd``) that a project installer reads: only a file the audit discovered, so
        that nothing outside the audit is read because a command names it."""
        if self.cwd is None or "$" in directory:
            return None
        written = posixpath.normpath(posixpath.join(self.cwd, directory or ".", name))
        return self.repository_file(written, discovered=True)

    def repository_file(self, written: str, *, discovered: bool = False) -> str | None:
        """The repository file a file argument names, as :attr:`locate` resolves it;
        ``discovered``: only a file the audit discovered.

        Each question is kept with its answer in :attr:`looked_up`: an analysis that read
        nothing else of its file is placed in another by asking them again there (so an answer
        may only name an :class:`Include`, never decide what else is found)."""
        target = ask(self._locate, self._ctx, written, discovered=discovered)
        self.looked_up.append((written, discovered, target))
        return target

    # --- locations ---------------------------------------------------------------------------

    def at(self, word: Word) -> Location:
        return self._geometry.location(self._source, word.line, word.column)

    def line_of(self, word: Word) -> int:
        return self._geometry.line(word.line)

    def here(self) -> Location:
        command = self.current
        if command is None:
            return self._geometry.location(self._source, 0)
        if command.words:
            return self.at(command.words[0])
        return self._geometry.location(self._source, command.line)

    # --- walking -----------------------------------------------------------------------------

    def run(self, script: Script) -> None:
        for pipeline in script.pipelines:
            outcomes: list[Outcome] = []
            last = len(pipeline.commands) - 1
            for position, command in enumerate(pipeline.commands):
                outcomes.append(self.command(command, outcomes, onward=position < last))

    def run_text(self, text: str, anchor: Word) -> None:
        """Audit a string that a shell runs as a script (``sh -c``, ``su -c``, ``eval``)."""
        if self.script_depth >= MAX_NESTED_SCRIPTS:
            # `A='eval "$A"'; eval "$A"` runs itself for ever; no real script nests this deep.
            self.budget.refuse(
                self.at(anchor),
                f"scripts run by scripts nest over {MAX_NESTED_SCRIPTS} deep; the deeper ones are "
                "not audited",
            )
            return
        script = parse(text, [], line_base=anchor.line, col_base=anchor.column)
        self.script_depth += 1
        try:
            self.run(script)
        finally:
            self.script_depth -= 1

    def command(self, command: Command, upstream: list[Outcome], *, onward: bool) -> Outcome:
        self.current = command
        for word in (*command.assigns, *command.words):
            self._substitutions(word)
        for redirect in command.redirects:
            if redirect.target is not None:
                self._substitutions(redirect.target)
        if command.bodies:
            self._compound(command)
            return _NOTHING
        if not command.words:
            self.assign(command.assigns)
            return _NOTHING
        env = list(command.assigns)
        args = self.strip_wrappers(self.expand(command.words), env)
        self.commands.environment(self, env)
        if not args:
            return _NOTHING
        return self.dispatch(args, command, upstream, onward=onward)

    def _compound(self, command: Command) -> None:
        for word in command.loop_values:
            self._substitutions(word)
        values = self.expand(command.loop_values)
        static = values and not any(v.dynamic for v in values)
        if (
            len(command.loop_vars) == 1
            and static
            and len(values) <= _MAX_LOOP
            and self._unroll(command, len(values))
        ):
            # `for p in numpy pandas; do pip install $p; done`: once per value
            for value in values:
                self.vars[command.loop_vars[0]] = value.text
                for body in command.bodies:
                    self.run(body)
        for name in command.loop_vars:
            self.vars[name] = None
        for body in command.bodies:
            self.run(body)

    def _unroll(self, loop: Command, times: int) -> bool:
        """Whether the budget allows auditing ``loop``'s body ``times`` more times: nested
        loops of literal values would otherwise multiply (32 values, 4 deep: a million)."""
        if self.budget.unroll(times * sum(self._size(body) for body in loop.bodies)):
            return True
        self.budget.refuse(
            self.here(),
            f"unrolling for loops passes {MAX_UNROLLED_COMMANDS} commands; from here each loop "
            "body is audited once, its variable unknown",
        )
        return False

    def _size(self, script: Script) -> int:
        """Commands in ``script``, nested bodies and substitutions included (memoised: nested
        loops ask about the same bodies again)."""
        known = self._sizes.get(id(script))
        if known is not None:
            return known
        total = 0
        for pipeline in script.pipelines:
            for command in pipeline.commands:
                total += 1 + sum(self._size(body) for body in command.bodies)
                for word in (*command.assigns, *command.words, *command.loop_values):
                    total += sum(self._size(sub) for sub in word.subs)
        self._sizes[id(script)] = total
        return total

    def _substitutions(self, word: Word) -> None:
        if not word.subs:
            return
        self.substitution_depth += 1
        try:
            for script in word.subs:
                self.run(script)
        finally:
            self.substitution_depth -= 1

    # --- variables ---------------------------------------------------------------------------

    def substitute(self, text: str) -> tuple[str, bool]:
        """``text`` with known variables replaced; True when expansions remain."""

        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(4)
            op, word = match.group(2), match.group(3) or ""
            value = self.vars.get(name)
            if op in {":-", "-"} and value is None and name not in self.vars:
                return word if not _DYNAMIC.search(word) else match.group(0)
            if op in {":+", "+"}:
                return word if value is not None else match.group(0)
            if value is None:
                return "${" + name + "}"
            if not self.budget.value(value):
                self._over_budget(name)
                return "${" + name + "}"  # too large to carry on: decided at run time
            return value

        out = _EXPANSION.sub(one, text)
        return out, bool(_DYNAMIC.search(out))

    def _over_budget(self, name: str) -> None:
        self.budget.refuse(
            self.here(),
            f"${name} passes {MAX_VALUE_CHARS // 1024} KiB or the file's expansion budget and is "
            "not expanded; commands using it are audited as written",
        )

    def expand(self, words: Sequence[Word]) -> list[Arg]:
        args: list[Arg] = []
        for word in words:
            if not word.dynamic:
                args.append(literal_arg(word))
                continue
            text, dynamic = self.substitute(word.text)
            if not word.quoted and not dynamic and text != word.text:
                parts = text.split()
                if len(parts) > 1:
                    if self.budget.split(len(parts)):
                        args.extend(Arg(text=part, word=word, dynamic=False) for part in parts)
                        continue
                    self.budget.refuse(
                        self.here(),
                        f"expansions split into over {MAX_SPLIT_WORDS} words; from here an "
                        "expansion that splits is audited as unknown",
                    )
                    text, dynamic = word.text, True
            args.append(Arg(text=text, word=word, dynamic=dynamic))
        return args

    def assign(self, assigns: Sequence[Word]) -> None:
        for word in assigns:
            written, _, value = word.text.partition("=")
            name = written.rstrip("+")
            if "[" in name:
                continue
            text, dynamic = self.substitute(value) if word.dynamic else (value, False)
            if written.endswith("+"):
                before = self.vars.get(name, "")
                text = text if dynamic or before is None else before + text
                dynamic = dynamic or before is None
            if not dynamic and len(text) > MAX_VALUE_CHARS:
                self._over_budget(name)  # `A+=x` a million times: quadratic copying
                dynamic = True
            self.vars[name] = None if dynamic else text
        self.commands.environment(self, assigns)

    # --- dispatch ----------------------------------------------------------------------------

    def strip_wrappers(self, args: list[Arg], env: list[Word]) -> list[Arg]:
        """The command ``args`` runs once wrappers (``sudo``, ``env``, ``uv run``) are removed;
        assignments they make (``env A=1 cmd``) go to ``env``."""
        for _ in range(32):
            if not args:
                return args
            wrapper = self.commands.wrappers.get(command_name(args[0]))
            rest = wrapper(self, args[1:]) if wrapper is not None else None
            if rest is None:
                return args
            leading = 0
            while leading < len(rest) and ASSIGNMENT.match(rest[leading].text):
                env.append(rest[leading].word)
                leading += 1
            args = rest[leading:]
        return args

    def dispatch(
        self, args: list[Arg], command: Command, upstream: list[Outcome], *, onward: bool = False
    ) -> Outcome:
        call = _CALL(
            name=command_name(args[0]),
            program=args[0],
            rest=args[1:],
            command=command,
            upstream=upstream,
            onward=onward,
        )
        self.redirects = command.redirects
        for observe in self.commands.observers:
            observe(self, call)
        return self.handle(call)

    def handle(self, call: Call) -> Outcome:
        handler = self.commands.handlers.get(call.name, self.commands.fallback)
        return handler(self, call) or _NOTHING


# --- builtins that set variables ---------------------------------------------------------------


def _export(analyzer: Analyzer, call: Call) -> None:
    analyzer.assign([a.word for a in call.rest if ASSIGNMENT.match(a.word.text)])


def _unset(analyzer: Analyzer, call: Call) -> None:
    for arg in call.rest:
        analyzer.vars.pop(arg.text, None)


def _read(analyzer: Analyzer, call: Call) -> None:
    for arg in call.rest:
        if NAME.fullmatch(arg.text):
            analyzer.vars[arg.text] = None


def change_directory(analyzer: Analyzer, call: Call) -> None:
    """``cd DIR``: where a later ``uv sync`` or ``pip install .`` finds its project (the
    ``cd`` handler of :mod:`.vcs`, which also follows clones, calls this first)."""
    operands = [a for a in call.rest if not a.text.startswith("-") or a.text == "-"]
    if not operands or operands[0].dynamic or operands[0].text in {"-", "~"}:
        analyzer.cwd = None
    elif operands[0].text.startswith("/"):
        analyzer.cwd = posixpath.normpath(operands[0].text)
    elif analyzer.cwd is not None:
        analyzer.cwd = posixpath.normpath(posixpath.join(analyzer.cwd, operands[0].text))


BUILTINS: dict[str, Handler] = {
    **dict.fromkeys(("export", "declare", "typeset", "readonly", "local"), _export),
    "unset": _unset,
    "read": _read,
}
"""Builtins that change variables (``cd`` is :mod:`.vcs`'s, which calls
:func:`change_directory`)."""


# --- wrappers --------------------------------------------------------------------------------


def _options(short_values: str, long_values: str = "", *, operands: int = 0) -> Wrapper:
    """A wrapper that runs what follows its options (and ``operands`` operands of its own)."""
    long_set = word_set(long_values)

    def wrapped(analyzer: Analyzer, rest: list[Arg]) -> list[Arg]:
        return skip_options(rest, short_values, long_set)[operands:]

    return wrapped


def _drop(count: int) -> Wrapper:
    """A wrapper that runs what follows its first ``count`` arguments."""

    def wrapped(analyzer: Analyzer, rest: list[Arg]) -> list[Arg]:
        return rest[count:]

    return wrapped


def _command(analyzer: Analyzer, rest: list[Arg]) -> list[Arg]:
    if rest and rest[0].text in {"-v", "-V"}:
        return []  # a lookup: nothing runs
    return skip_options(rest, "", set())


WRAPPERS: dict[str, Wrapper] = {
    "sudo": _options("ugCDhprtTU"),
    "doas": _options("uC"),
    "env": _options("uCS", "--unset --chdir --split-string"),
    "time": _options("fo", "--format --output"),
    "exec": _options("a"),
    "nice": _options("n", "--adjustment"),
    "ionice": _options("cnpP", "--class --classdata --pid"),
    "stdbuf": _options("ioe", "--input --output --error"),
    "xargs": _options("aEeIiLlnPsd", "--arg-file --delimiter --max-args --max-procs --replace"),
    "timeout": _options("sk", "--signal --kill-after", operands=1),
    **dict.fromkeys(("gosu", "su-exec", "chpst", "setpriv"), _drop(1)),
    **dict.fromkeys(
        word_set("nohup builtin eatmydata fakeroot setsid chronic unbuffer travis_retry ! noglob"),
        _drop(0),
    ),
    "command": _command,
}
"""Programs that run the command after their own options."""
