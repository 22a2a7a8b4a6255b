"""Typed configuration from ``[tool.repro]`` in pyproject.toml or the top level of repro.toml.

Every key is validated at load; an unknown key, a wrong type or a bad value raises
:class:`ConfigError` whose message names the file and the key path.
"""

from __future__ import annotations

import enum
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolock.errors import ConfigError
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
class Config:
    """The validated configuration of one audited root."""

    source: str | None = None
    """The file the config was read from, relative to the root; None for defaults."""
    profile: Profile = Profile.APPLICATION
    """``application`` (default) or ``library``."""
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

    def severity_of(self, rule_id: str, default: Severity) -> Severity | None:
        """The severity a finding of ``rule_id`` is reported with, or None when off."""
        if rule_id in self.severity:
            return self.severity[rule_id]
        return default


_KEYS = frozenset(
    {"profile", "fail-on", "require-hashes", "exclude", "baseline", "frameworks", "severity"}
)


def find_config_file(root: Path) -> tuple[Path, bool] | None:
    """The config file of ``root`` and whether it is a pyproject.toml, or None.

    ``repro.toml`` wins over ``[tool.repro]`` in pyproject.toml, as ``ruff.toml`` does over
    ``[tool.ruff]``: a dedicated file is the more deliberate choice.
    """
    dedicated = root / "repro.toml"
    if dedicated.is_file():
        return dedicated, False
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        return pyproject, True
    return None


def load_config(root: Path) -> Config:
    """Load and validate the config of the audited ``root`` (defaults when there is none)."""
    found = find_config_file(root)
    if found is None:
        return Config()
    path, is_pyproject = found
    # Messages name the file relative to the audited root, as finding paths do.
    display = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display}: invalid TOML: {exc}") from None
    if is_pyproject:
        tool = data.get("tool", {})
        table = tool.get("repro") if isinstance(tool, dict) else None
        if table is None:
            return Config()
        prefix = "[tool.repro]"
        if not isinstance(table, dict):
            raise ConfigError(f"{display}: {prefix}: expected a table, got {_describe(table)}")
    else:
        table = data
        prefix = ""
    return parse_config(table, source=display, prefix=prefix)


def _fail(source: str, where: str, message: str) -> ConfigError:
    where = where.strip()
    return ConfigError(f"{source}: {where}: {message}" if where else f"{source}: {message}")


def _describe(value: Any) -> str:
    """A TOML value as a message shows it: ``"fatal"``, ``3``, ``true``, ``an array``."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
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


def parse_config(table: Mapping[str, Any], *, source: str, prefix: str) -> Config:
    """Validate a config table (already parsed from TOML).

    ``source`` names the file in messages; ``prefix`` is the table's key path as written in
    messages (``[tool.repro]`` in a pyproject.toml, empty at the top level of repro.toml).
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
        exclude = _str_list(source, f"{prefix} exclude", table["exclude"])
    baseline = None
    if "baseline" in table:
        value = table["baseline"]
        if not isinstance(value, str) or not value.strip():
            raise _fail(source, f"{prefix} baseline", f"expected a path, got {_describe(value)}")
        baseline = value
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
        fail_on=fail_on,
        require_hashes=require_hashes,
        exclude=exclude,
        baseline=baseline,
        frameworks=frameworks,
        severity=severity,
    )
