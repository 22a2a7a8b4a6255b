"""The compact TOML locator: fewer recorded paths, the same answer for every line asked."""

from __future__ import annotations

import tomllib

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.formats.toml import TomlDocument, TomlPath, locate

LOCK = """\
# comment with "quotes" and [brackets]
[[package]]
name = "numpy"
version = "1.26.4"
files = [
    {file = "numpy-1.26.4.whl", hash = "sha256:aa"},
    {file = "numpy-1.26.4.tar.gz", hash = "sha256:bb"}, # a comment ] }
]
wheels = [{ url = "https://x/y].whl", hash = "sha256:cc" }, { url = 'z[.whl' }]
deep = [[1, [2, [3, [4, [5]]]]], {a = {b = {c = {d = 1}}}}]
notes = \"\"\"
[[package]]
name = "fake" ] [
\"\"\"
arr = [\"\"\"x]\"\"\", 'y', '''z"]''', "w\\"]"]
inline = { x = 1, y.z = [
  "q",
], w = { v = 2 } }
[package.dependencies]
numpy = { version = ">=1", markers = "python_version >= '3.9'" }

[[package]]
name = "pandas"
"version" = "2.2.2"
files = []
[metadata]
content-hash = "abc"
"""


def _probe(lines: dict[TomlPath, int]) -> list[TomlPath]:
    """Every located path, plus children that do not exist."""
    out: list[TomlPath] = []
    for path in lines:
        out.extend([path, (*path, "nope"), (*path, 7), (*path, 0, "x")])
    return out


def _same_answers(text: str) -> dict[TomlPath, int]:
    full = locate(text)
    compact = locate(text, compact=True)
    by_full, by_compact = TomlDocument(data={}, lines=full), TomlDocument(data={}, lines=compact)
    assert [by_compact.line(*p) for p in _probe(full)] == [by_full.line(*p) for p in _probe(full)]
    return compact


def test_compact_leaves_out_what_sits_on_its_values_line() -> None:
    tomllib.loads(LOCK)
    compact = _same_answers(LOCK)
    full = locate(LOCK)
    assert full[("package", 0, "files", 1, "hash")] == 7
    assert ("package", 0, "files", 1, "hash") not in compact
    assert compact[("package", 0, "files", 1)] == 7
    assert ("package", 0, "wheels", 0) not in compact
    assert compact[("package", 0, "wheels")] == 9
    # A value over several lines is located item by item, as without compact.
    assert compact[("package", 0, "inline", "y", "z", 0)] == 17
    assert compact[("package", 0, "inline", "w")] == 18
    assert compact[("package", 0, "arr")] == 15
    assert compact[("package", 1, "name")] == 23
    assert compact[("package", 1, "version")] == 24
    assert compact[("metadata", "content-hash")] == 27
    assert len(compact) < len(full)


def test_compact_answers_the_same_over_crlf() -> None:
    text = LOCK.replace("\n", "\r\n")
    tomllib.loads(text)
    _same_answers(text)


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_SCALARS = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_compact_answers_every_path_as_the_full_locator(document: dict[str, object]) -> None:
    _same_answers(tomlkit.dumps(document))
