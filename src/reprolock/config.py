"""Typed configuration from ``[tool.repro]`` in pyproject.toml or the top level of repro.toml.

Every key is validated at load; an unknown key, a wrong type or a bad value raises
:class:`ConfigError` whose message names the file and the key path. Paths (a suite's
``lock``, ``inputs``, ``golden``, ``source``; ``baseline``) must stay inside the project once
symlinks are resolved: the config may come from the repository being audited.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolock.errors import ConfigError
from reprolock.files import OutsideRootError, inside, read_text
from reprolock.model import Severity
from reprolock.rules import RULES


class Profile(enum.Enum):
    """What kind of project is audited; ``library`` relaxes manifest rules only."""

    APPLICATION = "application"
    LIBRARY = "library"


class FailOn(enum.Enum):
    """The lowest severity that makes ``repro check`` exit 1."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
    NEVER = "never"

    def fails(self, severity: Severity) -> bool:
        """True when a finding of ``severity`` fails the run."""
        if self is FailOn.NEVER:
            return False
        return severity.rank >= Severity(self.value).rank


DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    "node_modules/",
    "vendor/",
    "third_party/",
    "__pycache__/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
)

BUILTIN_FRAMEWORKS: tuple[str, ...] = (
    "torch",
    "torchvision",
    "torchaudio",
    "tensorflow",
    "keras",
    "jax",
    "jaxlib",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "catboost",
    "transformers",
    "tokenizers",
    "sentence-transformers",
    "onnx",
    "onnxruntime",
    "numpy",
    "scipy",
    "pandas",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputTolerance:
    """Tolerances of one output of a suite (``[tool.repro.suites.NAME.outputs.OUTPUT]``)."""

    rtol: float | None = None
    """Relative tolerance; None takes the suite's."""
    atol: float | None = None
    """Absolute tolerance; None takes the suite's."""
    max_label_flip_rate: float | None = None
    """Largest allowed share of changed labels (0..1); None takes the suite's."""
    accept_noise: bool = False
    """``noise = "accept"``: the output may differ between two runs of one environment (an
    unseeded model); the difference measured at record then widens its float tolerance."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Suite:
    """One golden suite (``[tool.repro.suites.NAME]``); paths are relative to ``base_dir``."""

    name: str
    """The table name, used by ``--suite`` and in reports."""
    base_dir: Path
    """The directory of the config file: every relative path below is resolved from it."""
    lock: str
    """The pinned environment, any supported lock format."""
    base_image: str
    """The image the environment is built on: ``name@sha256:...``, or a local tag."""
    entrypoint: str
    """``module:function``, called with a dict of input arrays."""
    inputs: str
    """The ``.npz`` of input arrays."""
    golden: str
    """The ``.npz`` of golden outputs; ``golden.json`` of the same stem sits beside it."""
    source: tuple[str, ...] = ()
    """Paths mounted read-only at ``/work/<path>`` in the container (the run's cwd is /work)."""
    pythonpath: tuple[str, ...] = ()
    """Paths under /work added to ``sys.path`` before the entrypoint is imported."""
    rtol: float = 1e-7
    """Relative tolerance of float outputs."""
    atol: float = 0.0
    """Absolute tolerance of float outputs."""
    max_label_flip_rate: float = 0.0
    """Largest allowed share of changed labels (0..1)."""
    timeout: float = 600.0
    """Seconds one run may take before it is killed."""
    memory: str = "2g"
    """Memory limit of the container, in Docker's notation (``512m``, ``2g``)."""
    max_output: str = "1g"
    """Largest total size of the arrays a run may return (and its golden may hold)."""
    outputs: Mapping[str, OutputTolerance] = field(default_factory=dict)
    """Per-output tolerance overrides."""
    config_file: str = ""
    """The config file the suite was read from, as messages name it (``pyproject.toml``)."""
    table: str = ""
    """The suite's table as that file spells it (``[tool.repro.suites.NAME]``)."""

    @property
    def where(self) -> str:
        """The suite's table for messages, in the config file's own spelling."""
        return self.table or f"[tool.repro.suites.{self.name}]"

    def output_table(self, output: str) -> str:
        """The table of one output's settings: ``[tool.repro.suites.NAME.outputs.OUTPUT]``."""
        return f"{self.where[:-1]}.outputs.{output}]"

    def path(self, value: str) -> Path:
        """A path from the config, resolved from the config file's directory."""
        return self.base_dir / value

    @property
    def lock_path(self) -> Path:
        """The suite's own lock."""
        return self.path(self.lock)

    @property
    def inputs_path(self) -> Path:
        """The inputs ``.npz``."""
        return self.path(self.inputs)

    @property
    def golden_path(self) -> Path:
        """The golden ``.npz``."""
        return self.path(self.golden)

    @property
    def golden_json_path(self) -> Path:
        """The ``golden.json`` beside the golden ``.npz`` (same stem)."""
        golden = self.golden_path
        return golden.with_name(f"{golden.stem}.json")

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes."""
        parsed = parse_memory(self.memory)
        if parsed is None:
            raise ValueError(f"memory {self.memory!r} is not a size")  # validated at load
        return parsed

    @property
    def max_output_bytes(self) -> int:
        """The output size cap in bytes."""
        parsed = parse_memory(self.max_output)
        if parsed is None:
            raise ValueError(f"max-output {self.max_output!r} is not a size")  # validated at load
        return parsed


ENVIRONMENT_PURPOSES: tuple[str, ...] = (
    "serving",
    "training",
    "pipeline",
    "batch",
    "test",
    "docs",
    "example",
    "benchmark",
    "dev",
    "ci",
    "other",
)
"""What an environment can be for (RP501 compares serving, training, pipeline and batch)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentGroup:
    """``[tool.repro.environments.NAME]``: environments that must agree (RP501).

    The table named ``default`` adjusts the built-in group (every serving, training, pipeline
    and batch environment) instead of naming a new one; other names replace the built-in group
    unless a ``default`` table is also given."""

    name: str
    """The table name."""
    members: tuple[str, ...] = ()
    """Gitignore-style patterns of the environments' files (``training/**``)."""
    exclude: tuple[str, ...] = ()
    """Patterns of files left out of the group even if ``members`` takes them."""
    purpose: str | None = None
    """Gives the members this purpose (one of :data:`ENVIRONMENT_PURPOSES`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """The validated configuration of one audited root."""

    source: str | None = None
    """The file the config was read from, relative to the root; None for defaults."""
    profile: Profile = Profile.APPLICATION
    """``application`` (default) or ``library``."""
    profile_set: bool = False
    """Whether the config states the profile (else RP501 guesses it from the repository)."""
    fail_on: FailOn = FailOn.ERROR
    """Lowest severity that fails the run."""
    require_hashes: bool = True
    """Whether exact pins need hashes (RP103); defaults to on for applications only."""
    exclude: tuple[str, ...] = ()
    """Gitignore-style patterns excluded in addition to :data:`DEFAULT_EXCLUDES`."""
    baseline: str | None = None
    """Path of the baseline file relative to the root."""
    frameworks: tuple[str, ...] = BUILTIN_FRAMEWORKS
    """ML frameworks checked for skew: the built-in list plus ``frameworks``."""
    severity: Mapping[str, Severity | None] = field(default_factory=dict)
    """Per-rule severity overrides; ``None`` turns the rule off."""
    suites: Mapping[str, Suite] = field(default_factory=dict)
    """Golden suites of the compatibility harness, by name, in config order."""
    environments: Mapping[str, EnvironmentGroup] = field(default_factory=dict)
    """Groups of environments that must agree (RP501), by name, in config order."""

    def severity_of(self, rule_id: str, default: Severity) -> Severity | None:
        """The severity a finding of ``rule_id`` is reported with, or None when off."""
        if rule_id in self.severity:
            return self.severity[rule_id]
        return default


_KEYS = frozenset(
    {
        "profile",
        "fail-on",
        "require-hashes",
        "exclude",
        "baseline",
        "frameworks",
        "severity",
        "suites",
        "environments",
    }
)
_ENVIRONMENT_KEYS = frozenset({"members", "exclude", "purpose"})
_SUITE_REQUIRED = ("lock", "base-image", "entrypoint", "inputs")
_SUITE_KEYS = frozenset(
    {
        *_SUITE_REQUIRED,
        "golden",
        "source",
        "pythonpath",
        "rtol",
        "atol",
        "max-label-flip-rate",
        "timeout",
        "memory",
        "max-output",
        "outputs",
    }
)
_TOLERANCE_KEYS = frozenset({"rtol", "atol", "max-label-flip-rate"})
_OUTPUT_KEYS = _TOLERANCE_KEYS | {"noise"}
_NOISE_CHOICES = ("accept", "fail")
SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a suite's name may be (it names a table, a directory and a ``--suite``)."""
_SUITE_NAME = SUITE_NAME
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = re.compile(rf"^{_IDENTIFIER}(?:\.{_IDENTIFIER})*:{_IDENTIFIER}$")
# At most 19 digits: int() of more is slow or refused, and no limit needs them.
_MEMORY = re.compile(r"^(?P<number>[0-9]{1,19})(?P<unit>[bkmg]?)$", re.IGNORECASE)
_MEMORY_DIGITS = re.compile(r"^[0-9]+[bkmg]?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MIN_MEMORY = 6 * 2**20
"""Docker refuses a memory limit below 6 MiB."""
MAX_MEMORY = 2**50
"""1 PiB: above any machine, far below what overflows the daemon's 64-bit limit."""
MAX_TIMEOUT = 86400.0
"""A day: longer is a mistake, and past about 1e9 seconds the clocks that enforce it overflow."""


def parse_memory(value: str) -> int | None:
    """Bytes of a Docker memory size (``512m``, ``2g``, ``1048576``), or None when malformed."""
    match = _MEMORY.match(value.strip())
    if not match:
        return None
    return int(match.group("number")) * _MEMORY_UNITS[match.group("unit").lower()]


def find_config_file(root: Path) -> tuple[Path, bool] | None:
    """The config file of ``root`` and whether it is a pyproject.toml, or None.

    ``repro.toml`` wins over ``[tool.repro]`` in pyproject.toml, as ``ruff.toml`` does over
    ``[tool.ruff]``: a dedicated file is the more deliberate choice.
    """
    dedicated = root / "repro.toml"
    if dedicated.is_file() or dedicated.is_symlink():
        return dedicated, False
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() or pyproject.is_symlink():
        return pyproject, True
    return None


def _declares_repro(path: Path, is_pyproject: bool) -> bool:
    if not is_pyproject:
        return True
    import tomllib  # noqa: PLC0415 - a tree without a config file (a warm audit) never needs it

    try:
        data = tomllib.loads(read_text(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return True  # a broken file is still the one meant: loading it says what is wrong
    tool = data.get("tool")
    return isinstance(tool, dict) and "repro" in tool


def find_project_root(start: Path) -> Path:
    """The directory whose config the harness commands read, searched as pytest and ruff search
    for theirs: ``start``, then each parent up to the repository's top (the first directory
    holding ``.git``), for a ``repro.toml`` or a ``pyproject.toml`` with ``[tool.repro]``.
    ``start`` itself when none has one."""
    current = start.resolve()
    for directory in (current, *current.parents):
        found = find_config_file(directory)
        if found is not None and _declares_repro(*found):
            return start if directory == current else directory
        if (directory / ".git").exists():
            break
    return start


def load_config(root: Path) -> Config:
    """Load and validate the config of the audited ``root`` (defaults when there is none)."""
    found = find_config_file(root)
    if found is None:
        return Config()
    path, is_pyproject = found
    # Messages name the file relative to the audited root, as finding paths do.
    display = path.name
    try:
        inside(root, path.name, what=display)
    except OutsideRootError:
        raise ConfigError(f"{display}: a symlink that leads outside the project") from None
    import tomllib  # noqa: PLC0415 - see _declares_repro

    try:
        # read_text: a regular file under the size limit, BOM removed (tomllib refuses one)
        data = tomllib.loads(read_text(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{display}: invalid TOML: nesting too deep to parse") from None
    if is_pyproject:
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{display}: [tool]: expected a table, got {_describe(tool)}")
        table = tool.get("repro")
        if table is None:
            return Config()
        prefix = "[tool.repro]"
        if not isinstance(table, dict):
            raise ConfigError(f"{display}: {prefix}: expected a table, got {_describe(table)}")
    else:
        table = data
        prefix = ""
    return parse_config(table, source=display, prefix=prefix, base_dir=path.parent)


def _fail(source: str, where: str, message: str) -> ConfigError:
    where = where.strip()
    return ConfigError(f"{source}: {where}: {message}" if where else f"{source}: {message}")


_SHOWN = 80


def _describe(value: Any) -> str:
    """A TOML value as a message shows it: ``"fatal"``, ``3``, ``true``, ``an array``."""
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__} {value}"


def _enum_value(source: str, where: str, value: Any, choices: type[enum.Enum]) -> Any:
    names = [str(m.value) for m in choices]
    if not isinstance(value, str) or value not in names:
        raise _fail(source, where, f"expected one of {', '.join(names)}, got {_describe(value)}")
    return choices(value)


def _str_list(source: str, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, where, f"expected a list of strings, got {_describe(value)}")
    return tuple(value)


def parse_config(
    table: Mapping[str, Any], *, source: str, prefix: str, base_dir: Path | None = None
) -> Config:
    """Validate a config table (already parsed from TOML).

    ``source`` names the file in messages; ``prefix`` is the table's key path as written in
    messages (``[tool.repro]`` in a pyproject.toml, empty at the top level of repro.toml);
    ``base_dir`` is the config file's directory, which suite paths are relative to.
    """
    for key in table:
        if key == "tool" and not prefix:
            raise _fail(
                source, "[tool]", "repro.toml takes the keys at the top level, no [tool.repro]"
            )
        if key not in _KEYS:
            raise _fail(
                source, f"{prefix} {key}", f"unknown key (known: {', '.join(sorted(_KEYS))})"
            )
    profile = Profile.APPLICATION
    if "profile" in table:
        profile = _enum_value(source, f"{prefix} profile", table["profile"], Profile)
    fail_on = FailOn.ERROR
    if "fail-on" in table:
        fail_on = _enum_value(source, f"{prefix} fail-on", table["fail-on"], FailOn)
    require_hashes = profile is Profile.APPLICATION
    if "require-hashes" in table:
        value = table["require-hashes"]
        if not isinstance(value, bool):
            raise _fail(
                source,
                f"{prefix} require-hashes",
                f"expected true or false, got {_describe(value)}",
            )
        require_hashes = value
    exclude: tuple[str, ...] = ()
    if "exclude" in table:
        exclude = _patterns(source, f"{prefix} exclude", table["exclude"])
    baseline = None
    if "baseline" in table:
        baseline = _inside(source, f"{prefix} baseline", table["baseline"], base_dir or Path())
    suites: dict[str, Suite] = {}
    if "suites" in table:
        suites = _suites(source, prefix, table["suites"], base_dir or Path())
    environments: dict[str, EnvironmentGroup] = {}
    if "environments" in table:
        environments = _environments(source, prefix, table["environments"])
    frameworks = BUILTIN_FRAMEWORKS
    if "frameworks" in table:
        extra = _str_list(source, f"{prefix} frameworks", table["frameworks"])
        frameworks = tuple(dict.fromkeys((*BUILTIN_FRAMEWORKS, *extra)))
    severity: dict[str, Severity | None] = {}
    if "severity" in table:
        raw = table["severity"]
        where = f"[{prefix.strip('[]')}.severity]" if prefix else "[severity]"
        if not isinstance(raw, dict):
            raise _fail(source, where, f"expected a table, got {_describe(raw)}")
        for rule_id, level in raw.items():
            if rule_id not in RULES:
                raise _fail(source, f"{where} {rule_id}", "unknown rule id (see `repro rules`)")
            allowed = ("error", "warning", "note", "off")
            if not isinstance(level, str) or level not in allowed:
                raise _fail(
                    source,
                    f"{where} {rule_id}",
                    f"expected one of {', '.join(allowed)}, got {_describe(level)}",
                )
            severity[rule_id] = None if level == "off" else Severity(level)
    return Config(
        source=source,
        profile=profile,
        profile_set="profile" in table,
        fail_on=fail_on,
        require_hashes=require_hashes,
        exclude=exclude,
        baseline=baseline,
        frameworks=frameworks,
        severity=severity,
        suites=suites,
        environments=environments,
    )


def _environments(source: str, prefix: str, raw: Any) -> dict[str, EnvironmentGroup]:
    where = _subtable(prefix, "environments")
    if not isinstance(raw, dict):
        raise _fail(source, where, f"expected a table of environment groups, got {_describe(raw)}")
    return {name: _environment_group(source, prefix, name, t) for name, t in raw.items()}


def _environment_group(source: str, prefix: str, name: str, table: Any) -> EnvironmentGroup:
    where = _subtable(prefix, "environments", name)
    if not _SUITE_NAME.match(name):
        raise _fail(source, where, "a group name takes letters, digits, '.', '_' and '-' only")
    if not isinstance(table, dict):
        raise _fail(source, where, f"expected a table, got {_describe(table)}")
    for key in table:
        if key not in _ENVIRONMENT_KEYS:
            known = ", ".join(sorted(_ENVIRONMENT_KEYS))
            raise _fail(source, f"{where} {key}", f"unknown key (known: {known})")
    if "members" not in table and name != "default":
        raise _fail(source, f"{where} members", "missing (a group needs the paths it takes)")
    members = _patterns(source, f"{where} members", table.get("members", []))
    if name != "default" and not members:
        raise _fail(source, f"{where} members", "expected at least one pattern")
    exclude = _patterns(source, f"{where} exclude", table.get("exclude", []))
    purpose = table.get("purpose")
    if purpose is not None and purpose not in ENVIRONMENT_PURPOSES:
        raise _fail(
            source,
            f"{where} purpose",
            f"expected one of {', '.join(ENVIRONMENT_PURPOSES)}, got {_describe(purpose)}",
        )
    return EnvironmentGroup(name=name, members=members, exclude=exclude, purpose=purpose)


def _subtable(prefix: str, *names: str) -> str:
    """The key path of a nested table as written in messages: ``[tool.repro.suites.churn]``."""
    parts = [prefix.strip("[]")] if prefix else []
    return f"[{'.'.join([*parts, *names])}]"


def _number(source: str, where: str, value: Any, *, upper: float | None = None) -> float:
    # TOML booleans are ints to Python; `rtol = true` is a mistake, not 1.
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and value >= 0 and (upper is None or value <= upper):
        return float(value)
    expected = f"a number from 0 to {upper:g}" if upper is not None else "a number >= 0"
    raise _fail(source, where, f"expected {expected}, got {_describe(value)}")


def _patterns(source: str, where: str, value: Any) -> tuple[str, ...]:
    """Gitignore-style patterns, each compiled here so that a bad one is a config error."""
    patterns = _str_list(source, where, value)
    if patterns:
        # imported only here: a run answered from the cache needs no pattern compiled
        import pathspec  # noqa: PLC0415
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except (ValueError, re.error) as exc:  # GitIgnorePatternError is a ValueError
            detail = str(exc).split(":", 1)[0] if isinstance(exc, ValueError) else str(exc)
            raise _fail(source, where, f"invalid pattern {_describe(pattern)} ({detail})") from None
    return patterns


def _relative_paths(source: str, where: str, value: Any) -> tuple[str, ...]:
    paths = _str_list(source, where, value)
    for path in paths:
        _relative_path(source, where, path)
    return paths


def _inside(source: str, where: str, raw: Any, base_dir: Path, *, file: bool = False) -> str:
    """A relative path that stays inside ``base_dir`` once symlinks are resolved (nothing is
    read); with ``file``, one that is not a directory. Messages show the path as written,
    never anything it leads to."""
    value = _relative_path(source, where, raw)
    try:
        resolved = inside(base_dir, value)
    except OutsideRootError:
        raise _fail(
            source, where, f"{_describe(value)} leads outside the project (through a symlink)"
        ) from None
    try:
        directory = file and resolved.is_dir()
    except OSError as exc:  # a name too long for the file system, say
        raise _fail(
            source, where, f"{_describe(value)} is not a usable path: {exc.strerror}"
        ) from None
    if directory:
        raise _fail(source, where, f"expected a file, got {_describe(value)}, a directory")
    return value


def _path(source: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, where, f"expected a path, got {_describe(value)}")
    return value


def _relative_path(source: str, where: str, raw: Any) -> str:
    value = _path(source, where, raw)
    # Each path is mounted at /work/<path>: it must stay inside the project.
    pure = Path(value)
    if pure.is_absolute() or ".." in pure.parts or "\\" in value or value.startswith("~"):
        raise _fail(
            source,
            where,
            f"expected a relative path inside the project, got {_describe(value)}",
        )
    return value


def _tolerances(source: str, where: str, raw: Mapping[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for key in ("rtol", "atol"):
        if key in raw:
            values[key] = _number(source, f"{where} {key}", raw[key])
    if "max-label-flip-rate" in raw:
        values["max_label_flip_rate"] = _number(
            source, f"{where} max-label-flip-rate", raw["max-label-flip-rate"], upper=1
        )
    return values


def _suites(source: str, prefix: str, raw: Any, base_dir: Path) -> dict[str, Suite]:
    where = _subtable(prefix, "suites")
    if not isinstance(raw, dict):
        raise _fail(source, where, f"expected a table of suites, got {_describe(raw)}")
    return {name: _suite(source, prefix, name, table, base_dir) for name, table in raw.items()}


def _suite(source: str, prefix: str, name: str, table: Any, base_dir: Path) -> Suite:
    where = _subtable(prefix, "suites", name)
    if not _SUITE_NAME.match(name):
        raise _fail(source, where, "a suite name takes letters, digits, '.', '_' and '-' only")
    if not isinstance(table, dict):
        raise _fail(source, where, f"expected a table, got {_describe(table)}")
    for key in table:
        if key not in _SUITE_KEYS:
            known = ", ".join(sorted(_SUITE_KEYS))
            raise _fail(source, f"{where} {key}", f"unknown key (known: {known})")
    for key in _SUITE_REQUIRED:
        if key not in table:
            raise _fail(
                source,
                f"{where} {key}",
                "missing (every suite needs lock, base-image, entrypoint and inputs)",
            )
    lock = _inside(source, f"{where} lock", table["lock"], base_dir, file=True)
    base_image = table["base-image"]
    if not isinstance(base_image, str) or not base_image.strip() or " " in base_image:
        raise _fail(
            source,
            f"{where} base-image",
            f"expected an image reference such as python:3.11-slim@sha256:<64 hex>, "
            f"got {_describe(base_image)}",
        )
    entrypoint = table["entrypoint"]
    if not isinstance(entrypoint, str) or not _ENTRYPOINT.match(entrypoint):
        raise _fail(
            source,
            f"{where} entrypoint",
            f"expected module:function, e.g. churn.model:predict, got {_describe(entrypoint)}",
        )
    inputs = _inside(source, f"{where} inputs", table["inputs"], base_dir, file=True)
    golden = f"golden/{name}/golden.npz"
    if "golden" in table:
        golden = _path(source, f"{where} golden", table["golden"])
        if not golden.endswith(".npz"):
            raise _fail(
                source,
                f"{where} golden",
                f"expected a path ending in .npz, got {_describe(golden)}",
            )
    golden = _inside(source, f"{where} golden", golden, base_dir, file=True)
    _inside(source, f"{where} golden", golden.removesuffix(".npz") + ".json", base_dir, file=True)
    sources: tuple[str, ...] = ()
    if "source" in table:
        # each entry is bind-mounted: a symlink in it to a host directory would be mounted
        sources = _str_list(source, f"{where} source", table["source"])
        for entry in sources:
            _inside(source, f"{where} source", entry, base_dir)
    pythonpath: tuple[str, ...] = ()
    if "pythonpath" in table:
        pythonpath = _relative_paths(source, f"{where} pythonpath", table["pythonpath"])
    timeout = 600.0
    if "timeout" in table:
        value = table["timeout"]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise _fail(source, f"{where} timeout", f"expected seconds > 0, got {_describe(value)}")
        if value > MAX_TIMEOUT:
            raise _fail(
                source,
                f"{where} timeout",
                f"expected at most {MAX_TIMEOUT:g} seconds (a day), got {_describe(value)}",
            )
        timeout = float(value)
    memory = "2g"
    if "memory" in table:
        value = table["memory"]
        size = parse_memory(value) if isinstance(value, str) else None
        if size is None and isinstance(value, str) and _MEMORY_DIGITS.match(value.strip()):
            size = MAX_MEMORY + 1  # more digits than any limit has
        if size is None or size < MIN_MEMORY:
            raise _fail(
                source,
                f"{where} memory",
                f"expected a size of at least 6m such as 512m or 2g, got {_describe(value)}",
            )
        if size > MAX_MEMORY:
            raise _fail(
                source,
                f"{where} memory",
                f"expected a size of at most 1048576g (1 PiB), got {_describe(value)}",
            )
        memory = value.strip()
    max_output = "1g"
    if "max-output" in table:
        value = table["max-output"]
        size = parse_memory(value) if isinstance(value, str) else None
        if size is None or size < 1:
            raise _fail(
                source,
                f"{where} max-output",
                f"expected a size such as 256m or 1g, got {_describe(value)}",
            )
        max_output = value.strip()
    outputs: dict[str, OutputTolerance] = {}
    if "outputs" in table:
        raw_outputs = table["outputs"]
        outputs_where = _subtable(prefix, "suites", name, "outputs")
        if not isinstance(raw_outputs, dict):
            raise _fail(source, outputs_where, f"expected a table, got {_describe(raw_outputs)}")
        for output, raw in raw_outputs.items():
            output_where = _subtable(prefix, "suites", name, "outputs", output)
            if not _OUTPUT_NAME.match(output):
                raise _fail(source, output_where, "not a valid output name")
            if not isinstance(raw, dict):
                raise _fail(source, output_where, f"expected a table, got {_describe(raw)}")
            for key in raw:
                if key not in _OUTPUT_KEYS:
                    known = ", ".join(sorted(_OUTPUT_KEYS))
                    raise _fail(source, f"{output_where} {key}", f"unknown key (known: {known})")
            noise = raw.get("noise", "fail")
            if noise not in _NOISE_CHOICES:
                raise _fail(
                    source,
                    f"{output_where} noise",
                    f'expected "accept" or "fail", got {_describe(noise)}',
                )
            outputs[output] = OutputTolerance(
                **_tolerances(source, output_where, raw), accept_noise=noise == "accept"
            )
    return Suite(
        name=name,
        base_dir=base_dir,
        lock=lock,
        base_image=base_image.strip(),
        entrypoint=entrypoint,
        inputs=inputs,
        golden=golden,
        source=sources,
        pythonpath=pythonpath,
        timeout=timeout,
        memory=memory,
        max_output=max_output,
        outputs=outputs,
        config_file=source,
        table=where,
        **_tolerances(source, where, table),
    )
