"""GNU make's expansion of a piece of text: variable references, substitution references and
the built-in functions, as far as the Makefile itself decides them.

Grammar read (``{ x }`` repeats, ``[ x ]`` is optional)::

    text      = { literal | reference }
    reference = "$$" | "$" CHAR | "$(" inner ")" | "${" inner "}"
    inner     = FUNCTION WHITESPACE args          (a built-in function)
              | name ":" from "=" to              (a substitution reference)
              | name                              (a variable, its name itself expanded)
    args      = arg { "," arg }                   (commas inside nested references or
                                                   brackets do not split)

A value make can only compute when it runs (``$(shell ...)``, ``$(wildcard ...)``, an
automatic variable, a variable the file does not set) is *unknown*: it reaches the shell as a
variable reference (``${make_shell}``), which the shell reader treats as decided at run time.
Nothing here is a parse error: text make would refuse is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.shell.syntax import word_set

MAX_DEPTH = 8
"""References inside references (and variables naming variables) followed this deep; a
deeper one is unknown."""

_MAX_WORDS = 4096
"""Words a ``foreach`` runs over; a longer list makes its result unknown."""

_FUNCTIONS = word_set(
    "abspath addprefix addsuffix and basename call dir error eval file filter filter-out "
    "findstring firstword flavor foreach guile if info intcmp join lastword let notdir or "
    "origin patsubst realpath shell sort strip subst suffix value warning wildcard word "
    "wordlist words"
)
_NOT_SHELL_NAME = re.compile(r"[^A-Za-z0-9_]")
_CLOSE = {"(": ")", "{": "}"}


@dataclass(frozen=True, slots=True)
class Value:
    """An expansion's text, and whether make's own text decides all of it."""

    text: str
    known: bool


def unknown(name: str) -> Value:
    """A value decided only when make runs, as the shell will see it: ``${name}``."""
    safe = _NOT_SHELL_NAME.sub("_", name.strip()) or "MAKE"
    return Value("${" + safe + "}", False)


Refuse = Callable[[str], None]
"""Records that the value of the named variable was not expanded (over the budget)."""


class Expander:
    """Expands text against a Makefile's variables, within one file's budget."""

    def __init__(
        self, variables: Mapping[str, str | None], budget: ExpansionBudget, refuse: Refuse
    ) -> None:
        self.variables = variables
        self.budget = budget
        self.refuse = refuse

    # --- reading references --------------------------------------------------------------

    def references(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, reference)`` of every reference in ``text``, outermost only."""
        out: list[tuple[int, int, str]] = []
        index = text.find("$")
        while index >= 0 and index + 1 < len(text):
            following = text[index + 1]
            if following in _CLOSE:
                end = matching(text, index + 1)
                if end < 0:
                    break  # unterminated: make stops; the rest is kept as written
                out.append((index, end + 1, text[index : end + 1]))
                index = text.find("$", end + 1)
                continue
            out.append((index, index + 2, text[index : index + 2]))
            index = text.find("$", index + 2)
        return out

    # --- expanding -----------------------------------------------------------------------

    def expand(self, text: str, depth: int = 0, local: Mapping[str, str] | None = None) -> Value:
        """``text`` with every reference expanded."""
        if "$" not in text:
            return Value(text, True)
        parts: list[str] = []
        known = True
        position = 0
        for start, end, ref in self.references(text):
            parts.append(text[position:start])
            value = self.reference(ref, depth, local or {})
            parts.append(value.text)
            known = known and value.known
            position = end
        parts.append(text[position:])
        return Value("".join(parts), known)

    def reference(self, ref: str, depth: int, local: Mapping[str, str]) -> Value:
        """One reference: ``$$``, ``$X``, ``$(...)`` or ``${...}``."""
        if ref == "$$":
            return Value("$", True)
        if ref[1] not in _CLOSE:
            return self.variable(ref[1], depth, local)
        inner = ref[2:-1]
        if depth >= MAX_DEPTH:
            return unknown(inner.split()[0] if inner.split() else "MAKE")
        head, _, rest = _split_head(inner)
        if head in _FUNCTIONS and rest is not None:
            return self.function(head, rest, depth + 1, local)
        name, substitution = _substitution(inner)
        if substitution is not None:
            return self.substituted(name, substitution, depth + 1, local)
        expanded_name = self.expand(inner, depth + 1, local)
        if not expanded_name.known:
            return unknown(inner)
        return self.variable(expanded_name.text.strip(), depth, local)

    def variable(self, name: str, depth: int, local: Mapping[str, str]) -> Value:
        if name in local:
            return Value(local[name], True)
        value = self.variables.get(name)
        if value is None or depth >= MAX_DEPTH:
            return unknown(name)
        # Charged as it goes: `A2 = $(A1) $(A1)`, ten references a level, eight levels deep,
        # is 10**8 expansions; once the budget is spent every reference stops here.
        if not self.budget.would_fit(len(value)):
            self.refuse(name)
            return unknown(name)
        expanded = self.expand(value, depth + 1, local)
        if not self.budget.value(expanded.text):
            self.refuse(name)
            return unknown(name)
        return expanded

    def substituted(
        self, name: str, rule: tuple[str, str], depth: int, local: Mapping[str, str]
    ) -> Value:
        """``$(var:a=b)``: the suffix ``a`` of each word replaced by ``b`` (or a ``%`` pattern)."""
        value = self.variable(name.strip(), depth, local)
        if not value.known:
            return unknown(name)
        old, new = (self.expand(part, depth, local) for part in rule)
        if not old.known or not new.known:
            return unknown(name)
        pattern = old.text if "%" in old.text else "%" + old.text
        replacement = new.text if "%" in old.text else "%" + new.text
        return Value(_patsubst(pattern, replacement, value.text), True)

    def function(self, name: str, text: str, depth: int, local: Mapping[str, str]) -> Value:
        """A built-in function whose arguments are written in ``text``."""
        args = split_args(text)
        if name == "if":
            return self._if(args, depth, local)
        if name == "foreach":
            return self._foreach(args, depth, local)
        if name == "call":
            return self._call(args, depth, local)
        if name in {"info", "warning"}:
            return Value("", True)
        if name == "value":
            return self._value(args, local)
        evaluate = _EVALUATORS.get(name)
        if evaluate is None:
            return unknown(f"make_{name}")  # decided by make when it runs: shell, wildcard...
        values = [self.expand(arg, depth, local) for arg in args]
        if not all(v.known for v in values):
            return unknown(f"make_{name}")
        result = evaluate([v.text for v in values])
        if result is None or not self.budget.value(result):
            return unknown(f"make_{name}")
        return Value(result, True)

    def _if(self, args: list[str], depth: int, local: Mapping[str, str]) -> Value:
        if not args:
            return Value("", True)
        condition = self.expand(args[0].strip(), depth, local)
        branches = [*args[1:3], "", ""][:2]
        if condition.known:
            chosen = branches[0] if condition.text.strip() else branches[1]
            return self.expand(chosen, depth, local)
        # `$(if $(CI),--report-log ci.log,)`: one branch or the other, decided at run time
        return unknown("make_if")

    def _foreach(self, args: list[str], depth: int, local: Mapping[str, str]) -> Value:
        if len(args) < 3:
            return Value("", True)
        variable = self.expand(args[0], depth, local)
        words = self.expand(args[1], depth, local)
        if not variable.known or not words.known or len(words.text.split()) > _MAX_WORDS:
            return unknown("make_foreach")
        body = ",".join(args[2:])
        out: list[str] = []
        for word in words.text.split():
            value = self.expand(body, depth, {**local, variable.text.strip(): word})
            if not value.known or not self.budget.value(value.text):
                return unknown("make_foreach")
            out.append(value.text)
        return Value(" ".join(out), True)

    def _call(self, args: list[str], depth: int, local: Mapping[str, str]) -> Value:
        if not args:
            return Value("", True)
        name = self.expand(args[0], depth, local)
        if not name.known:
            return unknown("make_call")
        body = local.get(name.text.strip(), self.variables.get(name.text.strip()))
        if body is None:
            return unknown("make_call")
        params: dict[str, str] = {"0": name.text.strip()}
        for number, arg in enumerate(args[1:], start=1):
            value = self.expand(arg, depth, local)
            if not value.known:
                return unknown("make_call")
            params[str(number)] = value.text
        return self.expand(body, depth, {**local, **params})

    def _value(self, args: list[str], local: Mapping[str, str]) -> Value:
        name = args[0].strip() if args else ""
        raw = local.get(name, self.variables.get(name))
        return Value(raw, True) if raw is not None and "$" not in name else unknown("make_value")


def matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (brackets of its kind nest, as
    make counts them), or -1."""
    opener = text[open_at]
    closer = _CLOSE[opener]
    level = 0
    for index in range(open_at, len(text)):
        char = text[index]
        if char == opener:
            level += 1
        elif char == closer:
            level -= 1
            if level == 0:
                return index
    return -1


def _split_head(inner: str) -> tuple[str, str, str | None]:
    """The first word of a reference and the text after the whitespace that ends it (None
    when no whitespace follows: ``$(dir)`` is a variable named ``dir``)."""
    match = re.match(r"([^\s$(){}:=,]+)([ \t]+)", inner)
    if match is None:
        return inner, "", None
    return match.group(1), match.group(2), inner[match.end() :]


def _substitution(inner: str) -> tuple[str, tuple[str, str] | None]:
    """``var:a=b`` as ``("var", ("a", "b"))``; ``(inner, None)`` when it is not one."""
    depth = 0
    for index, char in enumerate(inner):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        elif char == ":" and depth == 0:
            old, eq, new = inner[index + 1 :].partition("=")
            if eq:
                return inner[:index], (old, new)
            return inner, None
    return inner, None


def split_args(text: str) -> list[str]:
    """A function's arguments: split at commas outside nested brackets."""
    args: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            args.append(text[start:index])
            start = index + 1
    args.append(text[start:])
    return args


# --- the functions make's text alone decides ---------------------------------------------------


def _pattern_match(pattern: str, word: str) -> str | None:
    """The stem ``%`` matches in ``word``, or None (a pattern without ``%`` must be equal)."""
    if "%" not in pattern:
        return "" if pattern == word else None
    prefix, _, suffix = pattern.partition("%")
    if len(word) >= len(prefix) + len(suffix) and word.startswith(prefix) and word.endswith(suffix):
        return word[len(prefix) : len(word) - len(suffix)]
    return None


def _patsubst(pattern: str, replacement: str, text: str) -> str:
    out: list[str] = []
    for word in text.split():
        stem = _pattern_match(pattern, word)
        if stem is None:
            out.append(word)
        elif "%" in replacement:
            out.append(replacement.replace("%", stem, 1))
        else:
            out.append(replacement)
    return " ".join(out)


def _number(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() and len(stripped) < 10 else None


def _word(args: list[str]) -> str | None:
    index = _number(args[0]) if args else None
    if index is None or index < 1 or len(args) < 2:
        return None
    words = args[1].split()
    return words[index - 1] if index <= len(words) else ""


def _wordlist(args: list[str]) -> str | None:
    if len(args) < 3:
        return None
    start, end = _number(args[0]), _number(args[1])
    if start is None or end is None or start < 1:
        return None
    return " ".join(args[2].split()[start - 1 : end])


def _dir(word: str) -> str:
    head, slash, _ = word.rpartition("/")
    return f"{head}{slash}" if slash else "./"


def _suffix(word: str) -> str | None:
    name = word.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else None


def _basename(word: str) -> str:
    slash = word.rfind("/")
    dot = word.rfind(".")
    return word[:dot] if dot > slash else word


def _each(transform: Callable[[str], str | None]) -> Callable[[list[str]], str | None]:
    def evaluate(args: list[str]) -> str | None:
        words = (transform(w) for w in ",".join(args).split())
        return " ".join(w for w in words if w)

    return evaluate


def _affix(join: Callable[[str, str], str]) -> Callable[[list[str]], str | None]:
    def evaluate(args: list[str]) -> str | None:
        if len(args) < 2:
            return None
        return " ".join(join(args[0], word) for word in ",".join(args[1:]).split())

    return evaluate


def _filter(keep: bool) -> Callable[[list[str]], str | None]:
    def evaluate(args: list[str]) -> str | None:
        if len(args) < 2:
            return None
        patterns = args[0].split()
        words = ",".join(args[1:]).split()
        matched = [w for w in words if any(_pattern_match(p, w) is not None for p in patterns)]
        return " ".join(w for w in words if (w in matched) == keep)

    return evaluate


def _join(args: list[str]) -> str | None:
    if len(args) < 2:
        return None
    first, second = args[0].split(), args[1].split()
    width = max(len(first), len(second))
    first += [""] * (width - len(first))
    second += [""] * (width - len(second))
    return " ".join(a + b for a, b in zip(first, second, strict=True))


def _or(args: list[str]) -> str | None:
    return next((a.strip() for a in args if a.strip()), "")


def _and(args: list[str]) -> str | None:
    if any(not a.strip() for a in args):
        return ""
    return args[-1].strip() if args else ""


_EVALUATORS: dict[str, Callable[[list[str]], str | None]] = {
    "subst": lambda a: a[2].replace(a[0], a[1]) if len(a) >= 3 and a[0] else None,
    "patsubst": lambda a: (
        _patsubst(a[0].strip(), a[1].strip(), ",".join(a[2:])) if len(a) >= 3 else None
    ),
    "strip": lambda a: " ".join(",".join(a).split()),
    "findstring": lambda a: a[0] if len(a) >= 2 and a[0] in a[1] else "",
    "filter": _filter(keep=True),
    "filter-out": _filter(keep=False),
    "sort": lambda a: " ".join(sorted(set(",".join(a).split()))),
    "word": _word,
    "words": lambda a: str(len(",".join(a).split())),
    "wordlist": _wordlist,
    "firstword": lambda a: next(iter(",".join(a).split()), ""),
    "lastword": lambda a: (",".join(a).split() or [""])[-1],
    "dir": _each(_dir),
    "notdir": _each(lambda w: w.rsplit("/", 1)[-1]),
    "suffix": _each(_suffix),
    "basename": _each(_basename),
    "addsuffix": _affix(lambda affix, word: word + affix),
    "addprefix": _affix(lambda affix, word: affix + word),
    "join": _join,
    "or": _or,
    "and": _and,
}
"""Functions whose result follows from their arguments alone. ``abspath``, ``realpath`` and
``wildcard`` read the file system where make runs, ``shell`` runs a command: not here."""

__all__ = ["MAX_DEPTH", "Expander", "Value", "matching", "split_args", "unknown"]
