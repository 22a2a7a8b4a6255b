"""The audit's limits on work that grows faster than its input, and the RP002 note past each.

A few hundred bytes can ask for gigabytes: a variable that doubles on every line, nested loops
unrolled, a YAML alias of a large step used a thousand times. Each such expansion draws on one
:class:`ExpansionBudget` per file; past a limit the expansion stops (the value is treated as
decided at run time, the loop body is audited once) and the file gets one RP002 note saying
where. docs/robustness.md lists every limit.
"""

from __future__ import annotations

from reprolock.model import Finding, Location
from reprolock.rules import finding

MAX_VALUE_CHARS = 64 * 1024
"""Longest value one expansion may produce (a shell or Dockerfile variable, a make reference);
a longer one is not kept: the variable counts as unknown."""

MAX_EXPANDED_CHARS = 256 * 1024
"""Characters all expansions of one file may produce together."""

MAX_EXPANSIONS = 100_000
"""Variable references one file may expand, however short their values."""

MAX_SPLIT_WORDS = 4096
"""Words that unquoted expansions may split into in one file (each is judged as an argument:
``pip install $PACKAGES``)."""

MAX_UNROLLED_COMMANDS = 4096
"""Commands that unrolling ``for`` loops (once per literal value) may add in one file; past it a
loop's body is audited once with its variable unknown."""

MAX_NESTED_SCRIPTS = 8
"""Depth of text run as a script inside a script (``sh -c``, ``eval``, ``su -c``)."""


class ExpansionBudget:
    """What one file's expansions may still cost, and the first place one was refused."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self.chars = MAX_EXPANDED_CHARS
        self.expansions = MAX_EXPANSIONS
        self.commands = MAX_UNROLLED_COMMANDS
        self.words = MAX_SPLIT_WORDS
        self.exceeded: tuple[Location, str] | None = None
        """Where the first refusal happened, and what was refused."""
        self.refused = 0
        """How many expansions :meth:`value` refused so far."""

    def value(self, text: str) -> bool:
        """True when one more expansion producing ``text`` is within budget (and charge it)."""
        if self.expansions <= 0 or len(text) > MAX_VALUE_CHARS or len(text) > self.chars:
            self.refused += 1
            return False
        self.expansions -= 1
        self.chars -= len(text)
        return True

    def would_fit(self, length: int) -> bool:
        """True when a value of ``length`` characters could still be produced."""
        return self.expansions > 0 and length <= MAX_VALUE_CHARS and length <= self.chars

    def split(self, words: int) -> bool:
        """True when splitting an expansion into ``words`` words is within budget (charged)."""
        if words > self.words:
            return False
        self.words -= words
        return True

    def unroll(self, commands: int) -> bool:
        """True when unrolling that adds ``commands`` commands is within budget (charged)."""
        if commands > self.commands:
            return False
        self.commands -= commands
        return True

    def refuse(self, location: Location, what: str) -> None:
        """Record a refusal at ``location`` (the first one is the one noted)."""
        if self.exceeded is None:
            self.exceeded = (location, what)

    def note(self) -> Finding | None:
        """The RP002 note for this file, when something was refused."""
        if self.exceeded is None:
            return None
        location, what = self.exceeded
        return over_limit(location, what)


def over_limit(location: Location, what: str) -> Finding:
    """An RP002 note: ``what`` (a sentence saying what passed which limit, and what was
    skipped) and where the limits are documented."""
    return finding(
        "RP002",
        f"{what} (limits: docs/robustness.md)",
        location,
    )
