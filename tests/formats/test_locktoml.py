"""The lock line reader: the same documents and lines as tomllib and ``locate``, or none."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.formats import locktoml, pdm, poetry, pylock, uv
from reprolock.formats.errors import ParseError
from reprolock.formats.lock import LockFile
from reprolock.formats.locktoml import load_compact_toml, read_lines
from reprolock.formats.toml import TomlDocument, load_toml, locate

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
LOCK_NAMES = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "pylock.*.toml")


def _locks(root: Path) -> list[Path]:
    return sorted(p for name in LOCK_NAMES for p in root.rglob(name) if p.is_file())


FIXTURE_LOCKS = _locks(REPO_ROOT / "fixtures") + _locks(REPO_ROOT / "tests")


def _reader(path: Path) -> Callable[[str], LockFile]:
    if path.name == "uv.lock":
        return uv.read
    if path.name == "pdm.lock":
        return pdm.read
    if path.name == "poetry.lock":
        beside = path.parent / "pyproject.toml"
        text = beside.read_text(encoding="utf-8") if beside.is_file() else None
        return lambda lock: poetry.read(lock, pyproject=text)
    return pylock.read


def _ordered(value: object) -> object:
    """``value`` with every table as its list of items: equal only in the same key order
    (the readers report in the order they meet keys)."""
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def _assert_agrees(path: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The line reader's document is tomllib's, located as ``locate``; the format's reader
    gives the same LockFile either way. True when the line reader read it."""
    text = path.read_text(encoding="utf-8")
    fast = read_lines(text)
    if fast is not None:
        assert _ordered(fast.data) == _ordered(tomllib.loads(text))
        assert dict(fast.lines) == locate(text, compact=True)
        for _ in range(2):  # the second time from the cache of blocks
            _assert_same(read_lines(text, shared=True), fast)
    read = _reader(path)
    with_reader = read(text)
    assert read(text) == with_reader  # packages made the first time
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "read_lines", lambda _text, **_: None)
        assert read(text) == with_reader
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "_BLOCK_CACHED", -1)  # no block read from the cache
        assert read(text) == with_reader
    return fast is not None


def test_the_fixtures_hold_locks_of_every_format() -> None:
    names = {p.name for p in FIXTURE_LOCKS}
    assert {"uv.lock", "poetry.lock", "pdm.lock", "pylock.toml"} <= names
    assert len(FIXTURE_LOCKS) >= 19


@pytest.mark.parametrize("path", FIXTURE_LOCKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_fixture_lock_reads_the_same_as_with_tomllib(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _assert_agrees(path, monkeypatch)  # and every one is in the subset


@pytest.mark.parametrize("shape", ["lock-heavy", "python-heavy"])
def test_generated_locks_take_the_line_reader_and_read_the_same(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "generate.py"), str(tmp_path / "tree"),
         "--projects", "60", "--seed", "0", "--shape", shape],
        check=True,
        capture_output=True,
    )  # fmt: skip
    locks = _locks(tmp_path / "tree")
    assert {p.name for p in locks} >= {"uv.lock", "poetry.lock"}
    assert len(locks) >= (10 if shape == "lock-heavy" else 2)
    assert all(_assert_agrees(path, monkeypatch) for path in locks)


# --------------------------------------------------------------------------------------------
# pyproject.toml files, as written by hand and by the benchmark's generator

PYPROJECTS = [
    *sorted(
        p for root in ("fixtures", "tests") for p in (REPO_ROOT / root).rglob("pyproject.toml")
    ),
    REPO_ROOT / "pyproject.toml",
]


def test_every_fixture_pyproject_is_inside_the_subset() -> None:
    outside = [
        p.relative_to(REPO_ROOT).as_posix()
        for p in PYPROJECTS
        if read_lines(p.read_text(encoding="utf-8")) is None
    ]
    assert outside == []
    assert len(PYPROJECTS) >= 25


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_fixture_pyproject_reads_as_tomllib_and_locate_do(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = read_lines(text)
    if doc is not None:
        assert _ordered(doc.data) == _ordered(tomllib.loads(text))
        assert dict(doc.lines) == locate(text, compact=True)
    assert load_compact_toml(text).data == tomllib.loads(text)


@pytest.mark.parametrize("shape", ["lock-heavy", "python-heavy"])
def test_generated_pyprojects_take_the_line_reader_and_read_the_same(
    shape: str, tmp_path: Path
) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "generate.py"), str(tmp_path / "tree"),
         "--projects", "40", "--seed", "1", "--shape", shape],
        check=True,
        capture_output=True,
    )  # fmt: skip
    paths = sorted((tmp_path / "tree").rglob("pyproject.toml"))
    assert len(paths) >= 40
    for path in paths:
        text = path.read_text(encoding="utf-8")
        doc = read_lines(text)
        assert doc is not None, path
        assert _ordered(doc.data) == _ordered(tomllib.loads(text))
        assert dict(doc.lines) == locate(text, compact=True)


# --------------------------------------------------------------------------------------------
# The subset, and what is left to tomllib

INSIDE = {
    "escaped quotes": 'markers = "python_version < \\"3.11\\" and x == \\"\\\\\\""\n',
    "literal string": "a = 'C:\\path \"x\"'\n",
    "quoted keys": '[package.dependencies]\n"zope.interface" = ">=5"\n\'lit\' = 1\n"" = 2\n',
    "comments": '# head\na = 1 # one\n[t] # table\n  b = "#" # not a comment\n',
    "spaced header": "[ a . b ]\nc = 1\n[a]\nd = 2\n",
    "nested arrays of tables": (
        '[[packages]]\nname = "a"\n[[packages.wheels]]\nname = "w1"\n'
        '[[packages.wheels]]\nname = "w2"\n[packages.wheels.hashes]\nsha256 = "x"\n'
        '[[packages]]\nname = "b"\n[[packages.wheels]]\nname = "w3"\n'
    ),
    "integers and booleans": "a = +1\nb = -0\nc = 1_000\nd = true\ne = false\nf = [1,2,]\n",
    "a UTC datetime": "t = 2024-04-29T13:50:14Z\nu = { at = 2021-05-05T14:18:17Z }\n",
    "empty values": "a = []\nb = {}\nc = [\n]\nd = ''\ne = \"\"\n",
    "multi-line array": 'a = [ # c\n  "x",\n  { n = "y", e = ["z"] },\n  "last"\n]\nb = 1\n',
    "four levels": "a = [[[{ b = 1 }]]]\nc = [\n  [[{ d = [] }]],\n]\n",
    "inline table values": 'a = { source = { registry = "r" }, x = "\\"q\\"", n = 5 }\n',
    "indented": "  a = 1\n\t[t]\n  b = [\n    1,\n  ]\n",
    "unicode": 'a = "naïve é ✓"\n"ключ" = 1\n',
    "floats": "a = 1.5\nb = -0.0\nc = 1e3\nd = 1_0.0_1e+0_1\ne = 6.02E-23\nf = 1e999\ng = [0.5]\n",
    "dotted keys": (
        'readme.content-type = "text/markdown"\nreadme.file = "R.md"\n'
        '[tool]\nruff.lint.select = ["E"]\nruff.line-length = 99\n"q.k".\'x\' = 1\n'
        "[[a]]\nb.c = 1\n[[a]]\nb.c = 2\n"
    ),
    "comments and blank lines in an array": "a = [\n  1,\n\n  # c\n  2, # two\n]\n",
    "several items on a line": 'a = [\n  "x", "y",\n  "z", { n = 1 }, [2, 3]\n]\n',
    "items on the opening and closing lines": 'a = ["x",\n     "y"]\nb = [ # c\n  "z"] # d\n',
    "comma on the next line": "a = [\n  1\n  , 2\n  ,\n]\n",
    "an empty array over lines": "a = [\n  # nothing\n\n]\n",
    "arrays over lines in an array": (
        "a = [\n  [\n    1, [2,\n 3]\n  ], [4],\n  [ # c\n  ]]\nb = [[\n1]]\n"
        "c = [\n" + "[\n" * 7 + "]\n" * 7 + "]\n"
    ),
    "five levels over lines": "b = [\n  [[[[1]]]],\n]\n",
    "flat tables of one to five pairs": (
        'a = [\n  { a = 1 },\n  { a = 1, b = "2" },\n  { a = 1, b = 2, c = 3 },\n'
        '  { a = 1, b = 2, c = 3, d = "" },\n  { a = 1, b = 2, c = 3, d = 4, e = 5 },\n]\n'
        'b = { a = "1", b = 2, c = 3, d = 4 }\nc = { a = 1, b = 2, c = 3, d = 4, e = "5" }\n'
    ),
    "a header longer than the parsed ones kept": "[" + "k" * 300 + ".b]\nc = 1\n[[d]]\n[[d]]\n",
    "plain lines": 'a = "x" # c\n  b=true\nc = false#c\nd = ""\n[t]\ne = "é"\n',
}


@pytest.mark.parametrize("text", INSIDE.values(), ids=INSIDE.keys())
def test_the_subset_reads_as_tomllib_and_locate_do(text: str) -> None:
    doc = read_lines(text)
    assert doc is not None
    assert _ordered(doc.data) == _ordered(tomllib.loads(text))
    assert dict(doc.lines) == locate(text, compact=True)


OUTSIDE = {
    "multi-line basic string": 'a = """x"""\n',
    "multi-line literal string": "a = '''x'''\n",
    "escape \\n": 'a = "x\\ny"\n',
    "escape \\u": 'a = "\\u00e9"\n',
    "bad escape": 'a = "\\q"\n',
    "float and more": "a = 1.5.3\n",
    "exponent without digits": "a = 1e\n",
    "float with a leading zero": "a = 01.5\n",
    "float without an integer part": "a = .5\n",
    "float without a fraction": "a = 1.\n",
    "float underscore at the end": "a = 1.5_\n",
    "hex": "a = 0x10\n",
    "leading zero": "a = 01\n",
    "local date": "a = 1979-05-27\n",
    "fractional seconds": "a = 1979-05-27T07:32:00.5Z\n",
    "offset": "a = 1979-05-27T07:32:00+01:00\n",
    "not a time": "a = 2024-01-01T00:00:60Z\n",
    "dotted key over a value": "a = 1\na.b = 1\n",
    "dotted key over an inline table": "a = { x = 1 }\na.b = 1\n",
    "dotted key over a header's table": "[a.b]\nx = 1\n[a]\nb.y = 2\n",
    "dotted key twice": "a.b = 1\na.b = 2\n",
    "header into a dotted table": "a.b = 1\n[a.b.c]\n",
    "dotted key ending with a dot": "a. = 1\n",
    "dotted key without =": "a.b 1\n",
    "dotted key in an inline table": "a = { b.c = 1 }\n",
    "duplicate key": "a = 1\na = 2\n",
    "duplicate key in an inline table": "a = { b = 1, b = 2 }\n",
    "duplicate flat inline key": 'a = { b = "1", b = "2" }\n',
    "duplicate key in a flat table of an array": 'a = [\n  { b = "1", c = 2, b = 3 },\n]\n',
    "duplicate plain key": 'a = "x"\na = true\n',
    "plain line with more": 'a = "x" "y"\n',
    "table twice": "[a]\n[a]\n",
    "table then array of tables": "[a]\n[[a]]\n",
    "array of tables then table": "[[a]]\n[a]\n",
    "header into an inline table": "a = { x = 1 }\n[a.b]\n",
    "header into a value": "a = 1\n[a.b]\n",
    "key over a sub-table": "[a.b]\n[a]\nb = 1\n",
    "array of tables into a static array": "a = [{ x = 1 }]\n[[a]]\n",
    "quoted header": '["a"]\n',
    "unbalanced header": "[a]]\n",
    "empty header": "[]\n",
    "unterminated array": "a = [1, 2\n",
    "unterminated string": 'a = "x\n',
    "missing comma": "a = [\n  1\n  2\n]\n",
    "missing comma on a line": "a = [\n  1 2,\n]\n",
    "two commas": "a = [\n  1,,\n]\n",
    "leading comma": "a = [\n  , 1\n]\n",
    "arrays over lines nested deeper than eight": "a = [\n" + "[\n" * 8 + "]\n" * 8 + "]\n",
    "an array over lines in an inline table": "a = { b = [\n  1,\n] }\n",
    "a multi-line string in an array": 'a = [\n  """x""",\n]\n',
    "closing bracket with more": "a = [\n  1,\n] b = 2\n",
    "array never closed": "a = [\n  1,\n",
    "five levels": "a = [[[[[1]]]]]\n",
    "an array over lines from a long line": "a = [" + "1, " * 2000 + "\n]\n",
    "an array over lines in an array from a long line": "a = [\n[" + "1, " * 2000 + "\n]]\n",
    "trailing comma in an inline table": "a = { x = 1, }\n",
    "crlf": 'a = "x"\r\nb = 1\r\n',
    "control character": 'a = "\x01"\n',
    "delete character": "a = 1 # \x7f\n",
    "control character in a multi-byte text": 'a = "é✓\x1f"\n',
    "word after true": "a = truex\n",
    "two values": "a = 1 b = 2\n",
    "nothing after =": "a =\n",
    "bom": "\ufeffa = 1\n",
    "inf": "a = inf\n",
    "bare key with a dot after": "a = 1\n.b = 2\n",
}


@pytest.mark.parametrize("text", OUTSIDE.values(), ids=OUTSIDE.keys())
def test_outside_the_subset_it_is_tomllib_that_reads(text: str) -> None:
    assert read_lines(text) is None
    assert _outcome(load_compact_toml, text) == _outcome(lambda t: load_toml(t, compact=True), text)


def test_a_lone_surrogate_is_read_as_tomllib_reads_it() -> None:
    text = 'a = "\ud800"\n'
    doc = read_lines(text)
    assert doc is not None
    assert doc.data == tomllib.loads(text) == {"a": "\ud800"}


def _outcome(load: Callable[[str], TomlDocument], text: str) -> object:
    """The document, or the message, line and column of the error."""
    try:
        return load(text)
    except ParseError as exc:
        return (str(exc), exc.line, exc.column)


@pytest.mark.parametrize("value", ["1" + "0" * 5000, "{ n = 1" + "0" * 5000 + " }"])
def test_an_integer_int_refuses_is_left_to_tomllib(value: str) -> None:
    assert read_lines(f"a = {value}\n") is None


def test_an_integer_int_refuses_is_a_parse_error_at_its_line() -> None:
    text = 'version = 1\n\n[[package]]\nname = "a"\nsize = 1' + "0" * 5000 + "\n"
    with pytest.raises(ParseError) as raised:
        uv.read(text)
    assert (str(raised.value), raised.value.line) == (
        "invalid TOML: an integer with too many digits",
        5,
    )


def test_a_bad_lock_reports_tomllibs_error_and_line() -> None:
    text = '[[package]]\nname = "a"\nversion = "1"\n\n[[package]]\nname = "b"\nname = "c"\n'
    with pytest.raises(ParseError) as raised:
        uv.read(text)
    assert raised.value.line == 7
    assert "invalid TOML" in str(raised.value)


def test_an_entry_with_a_bad_dependency_keeps_its_line() -> None:
    text = (
        'version = 1\n\n[[package]]\nname = "a"\nversion = "1"\nsource = { editable = "." }\n'
        'dependencies = [\n    { name = "ok" },\n'
        '    { name = "b", version = "not a version!" },\n]\n'
    )
    assert read_lines(text) is not None
    lock = uv.read(text)
    assert [(p.line, "b" in p.message) for p in lock.problems] == [(9, True)]


# --------------------------------------------------------------------------------------------
# Generated documents: what the reader accepts, tomllib accepts alike

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
_NOISE = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
    st.sampled_from(['"', "'", "[", "]]", "{", "}", ",", "=", ".", "#", "\\", "\n", "\r\n", '"""']),
)
_SCALAR = st.one_of(
    _TEXT.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    _TEXT.filter(lambda s: "'" not in s).map(lambda s: f"'{s}'"),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "1.5", "2024-01-02T03:04:05Z", "0x1f", '"\\n"', "1_0.5e0_1"]),
)
_KEY = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True),
    _TEXT.filter(lambda s: '"' not in s and "\\" not in s).map(lambda s: f'"{s}"'),
)
_KEYS = st.one_of(
    _KEY,
    # Dotted keys under a few shared prefixes, so they extend (and clash with) each other.
    st.tuples(st.lists(st.sampled_from(["a", "b", "package"]), min_size=1, max_size=2), _KEY).map(
        lambda parts: ".".join((*parts[0], parts[1]))
    ),
)


def _inline(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _SCALAR
    inner = _inline(depth - 1)
    return st.one_of(
        inner,
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(_KEYS, inner), max_size=4).map(
            lambda pairs: "{ " + ", ".join(f"{k} = {v}" for k, v in pairs) + " }"
        ),
    )


def _over_lines(depth: int) -> st.SearchStrategy[str]:
    """An array as people write it: items after the "[", several on a line, comments and
    blank lines between them, the "]" after the last; arrays like it among the items."""
    item = _inline(2) if depth == 0 else st.one_of(_inline(2), _over_lines(depth - 1))
    return st.tuples(st.lists(st.tuples(item, _SEPARATOR), max_size=4), _SEPARATOR).map(
        lambda parts: "[" + "".join(value + sep for value, sep in parts[0]) + parts[1] + "]"
    )


_OTHER_LINES = ["[[package]]", "[package.metadata]", "[[package.wheels]]", "[metadata]", "[a]"]
_OTHER_LINES += ["[a.b]", "# note", ""]
_SEPARATOR = st.sampled_from([",", ", ", ",\n    ", "\n    ", " # c\n  , ", ",\n\n  # c\n    ", ""])
_LINE = st.one_of(
    st.tuples(_KEYS, _inline(3).map(lambda value: f" = {value}")),
    st.tuples(_KEYS, st.lists(_inline(2), max_size=4)).map(
        lambda kv: (kv[0], " = [\n" + "".join(f"    {item},\n" for item in kv[1]) + "]")
    ),
    st.tuples(_KEYS, _over_lines(2)).map(lambda kv: (kv[0], " = " + kv[1])),
    st.sampled_from(_OTHER_LINES).map(lambda line: ("", line)),
)


def _unique(key: str, n: int) -> str:
    """``key`` made distinct per line, so most documents are valid TOML."""
    return f"{key[:-1]}_{n}{key[-1]}" if key.endswith('"') else f"{key}_{n}"


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_LINE, max_size=14), noise=st.tuples(st.integers(0, 10**6), _NOISE))
def test_what_the_reader_accepts_tomllib_reads_alike(
    lines: list[tuple[str, str]], noise: tuple[int, str]
) -> None:
    text = "\n".join(_unique(key, n) + rest if key else rest for n, (key, rest) in enumerate(lines))
    text += "\n"
    where, extra = noise
    where %= len(text) + 1
    for candidate in (text, text[:where] + extra + text[where:]):
        doc = read_lines(candidate)
        try:
            expected = tomllib.loads(candidate)
        except tomllib.TOMLDecodeError:
            assert doc is None
            continue
        if doc is not None:
            assert _ordered(doc.data) == _ordered(expected)
            assert dict(doc.lines) == locate(candidate, compact=True)
        for _ in range(2):  # the second time from the cache of blocks
            shared = read_lines(candidate, shared=True)
            assert (shared is None) == (doc is None)
            if doc is not None:
                _assert_same(shared, doc)


def test_a_lock_of_plain_lines_is_read_without_tomllib(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_text: str) -> None:
        raise AssertionError("tomllib was asked")

    monkeypatch.setattr(tomllib, "loads", refuse)
    text = (REPO_ROOT / "fixtures" / "locks" / "uv" / "uv.lock").read_text(encoding="utf-8")
    assert uv.read(text).entries


# --------------------------------------------------------------------------------------------
# Hostile input stays linear

PATHOLOGICAL = {
    "unclosed escapes": 'a = "' + '\\"' * 200_000 + "\n",
    "unclosed inline table": "a = {" + ' b = "x",' * 100_000 + "\n",
    "unclosed flat pairs": "a = {" + " b = 1," * 100_000 + " c = 1\n",
    "open brackets": "a = " + "[" * 200_000 + "\n",
    "long header": "[" + "a." * 100_000 + "a\n",
    "long key": "a" * 400_000 + " 1\n",
    "spaces": "a =" + " " * 400_000 + "x\n",
    "long array": "a = [\n" + "  1,\n" * 200_000 + "  x\n]\n",
    "open arrays on a long line": "a = [[[" + "2," * 200_000 + "\n",
    "open arrays on long lines": "a = [\n" + ("[" + "1," * 50_000 + "\n") * 8 + "]\n",
    "open arrays over lines": "a = [\n" + "[\n" * 200_000,
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_a_pathological_line_is_given_up_in_linear_time(text: str) -> None:
    start = time.monotonic()
    assert read_lines(text) is None
    assert time.monotonic() - start < 2  # a backtracking pattern: minutes


# --------------------------------------------------------------------------------------------
# The tables of lines met before are taken from a cache, as read the first time


def _uncached(text: str, monkeypatch: pytest.MonkeyPatch) -> TomlDocument | None:
    """``read_lines(text)`` reading every line anew (no line is short enough to be kept)."""
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "_LINE_CACHED", -1)
        return read_lines(text)


def _assert_same(one: TomlDocument | None, other: TomlDocument | None) -> None:
    assert one is not None
    assert other is not None
    assert _ordered(one.data) == _ordered(other.data)
    assert dict(one.lines) == dict(other.lines)


@pytest.mark.parametrize("path", FIXTURE_LOCKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_a_lock_read_from_the_cache_reads_as_read_anew(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8")
    monkeypatch.setattr(locktoml, "_BLOCK_CACHED", -1)  # lines read in place, not as blocks
    locktoml._few_item.cache_clear()
    locktoml._few_line.cache_clear()
    cold = read_lines(text)
    before = locktoml._few_item.cache_info().hits + locktoml._few_line.cache_info().hits
    warm = read_lines(text)
    after = locktoml._few_item.cache_info().hits + locktoml._few_line.cache_info().hits
    _assert_same(cold, _uncached(text, monkeypatch))
    _assert_same(warm, cold)
    # every table line of the second reading came from the cache
    tables = [line for line in text.split("\n") if line.lstrip().startswith("{")]
    tables += [line for line in text.split("\n") if "= {" in line and line[:1] not in " \t"]
    assert after - before >= len(tables) > 0 or not tables


def test_the_cached_tables_are_copied_into_each_document() -> None:
    text = (
        'wheels = [\n    { url = "https://x/a.whl", hash = "sha256:aa", size = 1 },\n]\n'
        'sdist = { url = "https://x/a.tar.gz", hash = "sha256:bb" }\n'
    )
    first = read_lines(text)
    assert first is not None
    first.data["wheels"][0]["hash"] = "changed"
    first.data["sdist"]["hash"] = "changed"
    second = read_lines(text)
    assert second is not None
    assert second.data == {
        "wheels": [{"url": "https://x/a.whl", "hash": "sha256:aa", "size": 1}],
        "sdist": {"url": "https://x/a.tar.gz", "hash": "sha256:bb"},
    }
    assert second.data["wheels"][0] is not first.data["wheels"][0]


def test_a_long_table_line_is_read_but_not_kept() -> None:
    url = "https://x/" + "a" * locktoml._LINE_CACHED
    text = f'wheels = [\n    {{ url = "{url}", hash = "sha256:aa" }},\n]\n'
    text += f'sdist = {{ url = "{url}" }}\n'
    locktoml._few_item.cache_clear()
    locktoml._few_line.cache_clear()
    doc = read_lines(text)
    assert doc is not None
    assert doc.data == {"wheels": [{"url": url, "hash": "sha256:aa"}], "sdist": {"url": url}}
    assert dict(doc.lines) == {("wheels",): 1, ("wheels", 0): 2, ("sdist",): 4}
    assert locktoml._few_item.cache_info().currsize == 1  # only the short "]" line
    assert locktoml._few_line.cache_info().currsize == 1  # only the short "wheels = [" line


def test_a_duplicate_key_on_a_cached_line_is_refused_each_time() -> None:
    for _ in range(2):
        assert read_lines('a = [\n    { b = "1", b = "2" },\n]\n') is None
        assert read_lines('a = { b = "1", b = "2" }\n') is None


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_LINE, max_size=10))
def test_generated_documents_read_alike_from_the_cache(lines: list[tuple[str, str]]) -> None:
    text = "\n".join(_unique(key, n) + rest if key else rest for n, (key, rest) in enumerate(lines))
    text += "\n"
    first = read_lines(text)
    second = read_lines(text)  # its table lines all from the cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(locktoml, "_LINE_CACHED", -1)
        uncached = read_lines(text)
    if uncached is None:
        assert first is None
        assert second is None
    else:
        _assert_same(first, uncached)
        _assert_same(second, uncached)


# --------------------------------------------------------------------------------------------
# Shared readings: a block of lines under a header is read once per process


_TWO_PACKAGES = (
    'version = 1\n\n[[package]]\nname = "a"\nversion = "1"\n'
    'wheels = [\n    { url = "https://x/a.whl", hash = "sha256:aa" },\n]\n\n'
    '[[package]]\nname = "b"\nversion = "2"\n\n[package.metadata]\nrequires-dist = []\n\n'
    '[package.optional-dependencies]\nx = [\n    { name = "a" },\n]\n\n'
    '[[package]]\nname = "c"\n\n[package.metadata]\nx = 1\n\n[package.metadata.deeper]\ny = 2\n'
)


def test_a_block_read_before_is_taken_from_the_cache() -> None:
    locktoml._block.cache_clear()
    first = read_lines(_TWO_PACKAGES, shared=True)
    assert locktoml._block.cache_info().hits == 0
    moved = "# one line more\n" + _TWO_PACKAGES
    second = read_lines(moved, shared=True)
    assert locktoml._block.cache_info().hits == locktoml._block.cache_info().misses == 7
    assert first is not None
    assert second is not None
    _assert_same(second, read_lines(moved))
    assert second.line("package", 0, "wheels", 0) == first.line("package", 0, "wheels", 0) + 1
    assert second.data["package"][0]["wheels"] is first.data["package"][0]["wheels"]  # shared
    assert second.data["package"][0] is not first.data["package"][0]  # the header's own


def test_a_reading_not_shared_reads_no_block() -> None:
    locktoml._block.cache_clear()
    doc = read_lines(_TWO_PACKAGES)
    assert locktoml._block.cache_info().misses == 0
    assert doc is not None
    assert locktoml.blocks_of(doc, "package", 0) is None


def test_what_a_table_was_read_from() -> None:
    doc = read_lines(_TWO_PACKAGES, shared=True)
    assert doc is not None
    a = locktoml.blocks_of(doc, "package", 0)
    assert a is not None
    assert len(a) == 1
    b = locktoml.blocks_of(doc, "package", 1)  # and its two sub-tables, by key
    assert b is not None
    assert [type(part).__name__ for part in b] == ["_Block", "str", "_Block", "str", "_Block"]
    assert b[1::2] == ("metadata", "optional-dependencies")
    assert locktoml.blocks_of(doc, "package", 1, "metadata") == (b[2],)
    # a table with a table of its own two levels down is not the sum of its blocks
    assert locktoml.blocks_of(doc, "package", 2) is None
    deeper = locktoml.blocks_of(doc, "package", 2, "metadata", "deeper")
    assert deeper is not None
    assert locktoml.blocks_of(doc, "package", 2, "metadata")[1:] == ("deeper", *deeper)  # type: ignore[index]
    assert locktoml.blocks_of(doc) is None  # the top-level keys are read in place
    again = read_lines(_TWO_PACKAGES, shared=True)
    assert again is not None
    assert locktoml.blocks_of(again, "package", 1) == b


@pytest.mark.parametrize(
    "text",
    [
        "[a.b]\nx = 1\n[a]\ny = 2\n",  # [a] is not empty when its header comes
        "[[p]]\nx = [\n[1]]\n[[p]]\n",  # an array going on past a line starting with [
        "[[p]]\n  [q]\nx = 1\n",  # an indented header
        "[[p]]\nx = 1\nx = 2\n",  # a duplicate: tomllib reads it
        "[[p]]\nx = " + '"' + "a" * 30_000 + '"\n',  # a block too long to keep
    ],
)
def test_what_is_not_a_block_is_read_in_place(text: str) -> None:
    expected = read_lines(text)
    for _ in range(2):
        shared = read_lines(text, shared=True)
        if expected is None:
            assert shared is None
        else:
            _assert_same(shared, expected)
            assert locktoml.blocks_of(shared, "p", 0) is None  # type: ignore[arg-type]


def _uv_lock(*packages: str) -> str:
    out = 'version = 1\nrequires-python = ">=3.11"\n'
    out += '\n[[package]]\nname = "proj"\nversion = "0.1.0"\nsource = { editable = "." }\n'
    out += "dependencies = [\n" + "".join(f'    {{ name = "{p}" }},\n' for p in packages) + "]\n"
    for name in packages:
        out += (
            f'\n[[package]]\nname = "{name}"\nversion = "1.0"\n'
            'source = { registry = "https://pypi.org/simple" }\n'
            f'sdist = {{ url = "https://x/{name}.tar.gz", hash = "sha256:{"a" * 64}" }}\n'
        )
    return out


def test_a_uv_package_is_made_once_and_placed_at_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    uv._MADE.clear()
    made = 0
    entry = uv._Reader._entry

    def counted(self: uv._Reader, *args: Any) -> Any:
        nonlocal made
        made += 1
        return entry(self, *args)

    monkeypatch.setattr(uv._Reader, "_entry", counted)
    first = uv.read(_uv_lock("alpha", "beta"))
    assert made == 3
    second_text = _uv_lock("beta", "alpha")  # the same packages, at other lines
    second = uv.read(second_text)
    assert made == 4  # only the project's entry made again
    assert {e.name: e.line for e in second.entries} != {e.name: e.line for e in first.entries}
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "_BLOCK_CACHED", -1)
        assert uv.read(second_text) == second


def test_a_poetry_package_is_made_once_and_placed_at_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    poetry._MADE.clear()
    made = 0
    entry = poetry._entry

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal made
        made += 1
        return entry(*args, **kwargs)

    monkeypatch.setattr(poetry, "_entry", counted)
    package = (
        '[[package]]\nname = "{0}"\nversion = "1.0"\ndescription = ""\noptional = false\n'
        'python-versions = ">=3.8"\n'
        'files = [\n    {{file = "{0}.whl", hash = "sha256:{1}"}},\n]\n\n'
        '[package.dependencies]\nsix = ">=1"\n\n'
    )
    tail = '[metadata]\nlock-version = "2.0"\npython-versions = "^3.11"\ncontent-hash = "x"\n'
    one = package.format("alpha", "a" * 64) + package.format("beta", "b" * 64) + tail
    other = package.format("beta", "b" * 64) + package.format("alpha", "a" * 64) + tail
    first = poetry.read(one)
    assert made == 2
    second = poetry.read(other)
    assert made == 2
    assert [e.name for e in second.entries] == ["beta", "alpha"]
    assert second.entries[0].line == first.entries[0].line
    assert second.entries[1].line == first.entries[1].line
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "_BLOCK_CACHED", -1)
        assert poetry.read(other) == second
