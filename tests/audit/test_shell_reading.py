"""Reading shell text cheaply: plain words read at once, each text read once however many files
hold it, and every finding still placed in its own file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.audit.interface import ScanContext, SourceFile
from reprolock.audit.shell import analyzer, scanner, syntax
from reprolock.audit.shell.analyzer import (
    Arg,
    Call,
    Geometry,
    Outcome,
    ShellAudit,
    literal_arg,
)
from reprolock.audit.shell.syntax import Command, Problem, Word, parse
from reprolock.config import Config
from reprolock.files import is_inside
from reprolock.model import Finding
from tests.conftest import FIXTURES

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
DIGEST = hashlib.sha256(b"image").hexdigest()


def _simple(text: str) -> Command:
    errors: list[Problem] = []
    script = parse(text, errors)
    assert errors == []
    return script.pipelines[0].commands[0]


def test_plain_words_keep_their_place() -> None:
    command = _simple("  pip install numpy==1.26.4\tpandas")
    assert command.words == (
        Word(raw="pip", text="pip", line=0, column=3),
        Word(raw="install", text="install", line=0, column=7),
        Word(raw="numpy==1.26.4", text="numpy==1.26.4", line=0, column=15),
        Word(raw="pandas", text="pandas", line=0, column=29),
    )


@pytest.mark.parametrize(
    ("text", "words", "ops"),
    [
        ("echo a;echo b", ["echo", "a"], []),
        ("echo a|cat", ["echo", "a"], []),
        ("echo a>out", ["echo", "a"], [">"]),
        ("echo x2>out", ["echo", "x2"], [">"]),  # not a file descriptor: part of the word
        ("echo 2>out", ["echo"], [">"]),  # a file descriptor
        ("echo a\r", ["echo", "a\r"], []),
        ("echo a'b'c", ["echo", "abc"], []),
        ('echo a"$B"c', ["echo", "a$Bc"], []),
        ("echo a\\ b", ["echo", "a b"], []),
        ("echo a$B", ["echo", "a$B"], []),
    ],
)
def test_where_a_word_ends(text: str, words: list[str], ops: list[str]) -> None:
    command = _simple(text)
    assert [w.text for w in command.words] == words
    assert [r.op for r in command.redirects] == ops


def test_an_array_assignment_is_one_word() -> None:
    command = _simple("a=(1 2) pip install x")
    assert [w.raw for w in command.assigns] == ["a=(1 2)"]
    assert [w.text for w in command.words] == ["pip", "install", "x"]


def test_a_function_definition_after_a_plain_word() -> None:
    errors: list[Problem] = []
    script = parse("f() { pip install x; }\nf", errors)
    assert errors == []
    first = script.pipelines[0].commands[0]
    assert first.words == ()
    assert len(first.bodies) == 1


def test_the_same_run_line_in_two_files_is_read_once_and_placed_in_each(audit: Audit) -> None:
    run = "RUN pip install flask && echo 'unterminated"
    scanner._parsed.cache_clear()
    found = audit(
        {
            "a/Dockerfile": f"FROM python:3.11@sha256:{DIGEST}\n{run}\n",
            "b/Dockerfile": f"FROM python:3.11@sha256:{DIGEST}\nWORKDIR /x\n\n{run}\n",
            "repro.toml": "require-hashes = false\n",
        }
    )
    placed = [
        (f.rule, f.location.path, f.location.line, f.location.column)
        for f in found
        if f.rule in {"RP101", "RP002"}
    ]
    assert placed == [
        ("RP101", "a/Dockerfile", 2, 17),
        ("RP002", "a/Dockerfile", 2, 31),
        ("RP101", "b/Dockerfile", 4, 17),
        ("RP002", "b/Dockerfile", 4, 31),
    ]
    info = scanner._parsed.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_a_long_text_is_read_but_not_kept(tmp_path: Path) -> None:
    scanner._parsed.cache_clear()
    text = "pip install flask  # " + "x" * scanner._MEMO_CHARS
    source = SourceFile(path="run.sh", abspath=tmp_path / "run.sh", text=text)
    found = scanner.audit_shell(text, source, ScanContext(root=tmp_path, config=Config()))
    assert [(f.rule, f.location.line, f.location.column) for f in found.findings] == [
        ("RP101", 1, 13)
    ]
    assert scanner._parsed.cache_info().currsize == 0


def test_repo_file_answers_without_resolving_what_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    (root / "req").mkdir(parents=True)
    (root / "req" / "a.txt").write_text("x\n")
    (tmp_path / "outside.txt").write_text("x\n")
    (root / "out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    ctx = ScanContext(root=root, config=Config())
    resolved: list[str] = []

    def counting(base: Path, path: str) -> bool:
        resolved.append(path)
        return is_inside(base, path)

    monkeypatch.setattr(scanner, "is_inside", counting)
    assert scanner.repo_file(ctx, "req/./a.txt") == "req/a.txt"
    assert scanner.repo_file(ctx, "req/missing.txt") is None
    assert scanner.repo_file(ctx, "no/such/dir/a.txt") is None
    assert scanner.repo_file(ctx, "bad\0name") is None
    assert scanner.repo_file(ctx, "out.txt") is None  # a link out of the root
    assert scanner.repo_file(ctx, "dangling.txt") is None
    assert scanner.repo_file(ctx, "req") is None  # a directory
    assert scanner.repo_file(ctx, "../outside.txt") is None
    assert resolved == ["req/a.txt", "out.txt", "dangling.txt", "req"]


def test_a_plain_word_is_built_with_every_field_the_constructor_sets() -> None:
    # plain_word sets the slots one by one: a new field must be set there too
    assert [f.name for f in fields(Word)] == list(syntax._WORD_FIELDS)
    assert syntax.plain_word("pip", 2, 7) == Word(raw="pip", text="pip", line=2, column=7)
    assert [f.name for f in fields(syntax._Token)] == ["kind", "value", "start", "word"]
    word = Word(raw="x", text="x", line=0, column=1)
    assert syntax._token("word", "x", 3, word) == syntax._Token(
        kind="word", value="x", start=3, word=word
    )
    assert syntax._token("nl", "\n", 0) == syntax._Token(kind="nl", value="\n", start=0)


def test_plain_words_are_built_by_the_fast_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def counted(raw: str, line: int, column: int) -> Word:
        built.append(raw)
        return Word(raw=raw, text=raw, line=line, column=column)

    monkeypatch.setattr(syntax, "plain_word", counted)
    command = _simple("pip install 'numpy>=1' pandas")
    assert built == ["pip", "install", "pandas"]
    assert [w.text for w in command.words] == ["pip", "install", "numpy>=1", "pandas"]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="ab \n", max_size=30),
    offset=st.integers(min_value=0, max_value=30),
    line_base=st.integers(min_value=0, max_value=5),
    col_base=st.integers(min_value=1, max_value=5),
)
def test_a_position_is_the_line_and_column_of_an_offset(
    text: str, offset: int, line_base: int, col_base: int
) -> None:
    lexer = syntax._Lexer(text, [], line_base=line_base, col_base=col_base, depth=0)
    assert lexer.position(offset) == (lexer.line_of(offset), lexer.column_of(offset))
    index = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    assert lexer.line_of(offset) == line_base + index
    assert lexer.column_of(offset) == (column + col_base - 1 if index == 0 else column)


_NEVER = re.compile(r"(?!)")


def _both_ways(text: str, *, line_base: int = 0, col_base: int = 1) -> tuple[object, object]:
    """The tree and problems of ``text`` with plain tokens (and a plain command) read at once,
    and read piece by piece, as comparable values (a here-document is compared by its
    fields)."""

    def plain(value: object) -> object:
        if isinstance(value, syntax.HereDoc):
            return tuple(getattr(value, name) for name in syntax.HereDoc.__slots__)
        if isinstance(value, tuple):
            return tuple(plain(v) for v in value)
        if is_dataclass(value):
            return (type(value), *(plain(getattr(value, f.name)) for f in fields(value)))
        return value

    fast_errors: list[Problem] = []
    fast = parse(text, fast_errors, line_base=line_base, col_base=col_base)
    slow_errors: list[Problem] = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(syntax, "_PLAIN_TOKEN", _NEVER)
        m.setattr(syntax, "_PLAIN_OPERATOR", _NEVER)
        m.setattr(syntax, "_PLAIN_LINE", _NEVER)
        slow = parse(text, slow_errors, line_base=line_base, col_base=col_base)
    return plain((fast, tuple(fast_errors))), plain((slow, tuple(slow_errors)))


# Pieces of shell text around the edges of a plain word: blanks, operators, quotes,
# expansions, comments, escapes, file descriptors, here-documents, carriage returns.
_LEXEMES = [
    " ", "\t", "\r", "\n", "\\\n", "a", "pip", "x=1", "2", "#", "# c\n", ";", ";;", "&", "&&",
    "|", "||", "<", ">", "2>", ">&", "<<", "<<-", "EOF", "(", ")", "$(", "<(", "'q'", '"d"',
    "$V", "${V}", "`b`", "\\", "{", "}", "if", "then", "fi", "for", "in", "do", "done", "=",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(_LEXEMES), max_size=24))
def test_plain_tokens_read_at_once_agree_with_reading_them_piece_by_piece(
    pieces: list[str],
) -> None:
    fast, slow = _both_ways("".join(pieces))
    assert fast == slow


def test_fixture_shell_text_reads_the_same_with_plain_tokens_read_at_once() -> None:
    paths = [
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and (p.suffix in {".sh", ".bash"} or p.name.startswith("Dockerfile"))
    ]
    assert len(paths) > 20
    for path in paths:
        fast, slow = _both_ways(path.read_text(encoding="utf-8", errors="replace"))
        assert fast == slow, path


# Pieces of one line of words: plain ones, and what makes a line something else (an
# assignment, a reserved word, a comment, a quote, an operator, a blank the lexer reads its
# own way).
_COMMAND_PIECES = [
    " ", "\t", "pip", "-m", "app.serve", "x=1", "A_B+=2", "=", "if", "{", "}", "[[", "!", "#",
    "a#b", "\r", "\x0b", "\xa0", "é", "'q'", "$V", "\\", ";", "&", "|", "(", ")", "<", "\n",
    "\\\n", " \\\n  ", "\n\n", "&&", "||", " && ", "&&\n", " |", "&|",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_COMMAND_PIECES), max_size=12),
    line_base=st.integers(min_value=0, max_value=3),
    col_base=st.integers(min_value=1, max_value=9),
)
def test_a_plain_command_built_at_once_agrees_with_the_parser(
    pieces: list[str], line_base: int, col_base: int
) -> None:
    fast, slow = _both_ways("".join(pieces), line_base=line_base, col_base=col_base)
    assert fast == slow


def _lexer_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the lexer is asked to read from now on (none on the plain-command path)."""
    read: list[str] = []
    monkeypatch.setattr(syntax._Lexer, "peek", lambda self: read.append(self.text))
    return read


def test_a_line_of_plain_words_is_built_without_the_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = _lexer_reads(monkeypatch)
    script = parse(" python  -m app.serve\t", [], line_base=2, col_base=5)
    assert read == []
    assert script == syntax.Script(
        pipelines=(
            syntax.Pipeline(
                commands=(
                    Command(
                        line=2,
                        words=(
                            Word(raw="python", text="python", line=2, column=6),
                            Word(raw="-m", text="-m", line=2, column=14),
                            Word(raw="app.serve", text="app.serve", line=2, column=17),
                        ),
                    ),
                )
            ),
        )
    )


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(["pip", "-r", "a/b.txt", "x=1", "é", "a#b", "}"]), min_size=1),
    gaps=st.lists(st.sampled_from([" ", "\t ", " \\\n", " \\\n\t", " \\\n \\\n "]), min_size=8),
    end=st.sampled_from(["", " ", "\n", " \\\n", "\n\n"]),
    line_base=st.integers(min_value=0, max_value=3),
    col_base=st.integers(min_value=1, max_value=9),
)
def test_plain_words_over_continued_lines_are_built_as_the_parser_reads_them(
    words: list[str], gaps: list[str], end: str, line_base: int, col_base: int
) -> None:
    text = "pip " + "".join(w + g for w, g in zip(words, gaps, strict=False)).rstrip(" \t\\\n")
    text += end
    assert syntax._plain_command(text, line_base, col_base) is not None  # the fast path
    fast, slow = _both_ways(text, line_base=line_base, col_base=col_base)
    assert fast == slow


_JOINS = [" && ", "&&", " ||\n ", " \\\n  && ", "&& \\\n", " &&\n\n\t"]


@settings(max_examples=300, deadline=None)
@given(
    commands=st.lists(
        st.lists(st.sampled_from(["pip", "-r", "a/b.txt", "x=1", "!", "if", "a#b"]), min_size=1),
        min_size=1,
        max_size=5,
    ),
    joins=st.lists(st.sampled_from(_JOINS), min_size=5, max_size=5),
    end=st.sampled_from(["", " ", "\n", " \\\n"]),
    col_base=st.integers(min_value=1, max_value=9),
)
def test_plain_commands_joined_by_and_or_are_built_as_the_parser_reads_them(
    commands: list[list[str]], joins: list[str], end: str, col_base: int
) -> None:
    text = "".join(
        " ".join(words) + (joins[i] if i < len(commands) - 1 else end)
        for i, words in enumerate(commands)
    )
    if not any(words[0] in {"x=1", "if"} for words in commands):
        assert syntax._plain_command(text, 2, col_base) is not None  # the fast path
    fast, slow = _both_ways(text, line_base=2, col_base=col_base)
    assert fast == slow


def test_an_and_or_list_of_plain_commands_is_built_without_the_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = _lexer_reads(monkeypatch)
    script = parse("apt-get update \\\n  && apt-get install -y curl \\\n  || true", [])
    assert read == []
    assert [
        [(w.text, w.line, w.column) for w in p.commands[0].words] for p in script.pipelines
    ] == [
        [("apt-get", 0, 1), ("update", 0, 9)],
        [("apt-get", 1, 6), ("install", 1, 14), ("-y", 1, 22), ("curl", 1, 25)],
        [("true", 2, 6)],
    ]
    assert [p.commands[0].line for p in script.pipelines] == [0, 1, 2]


def test_a_continued_command_keeps_each_word_on_its_line() -> None:
    command = _simple("python -m pip install \\\n  -r a/requirements.txt\n")
    assert [(w.text, w.line, w.column) for w in command.words] == [
        ("python", 0, 1),
        ("-m", 0, 8),
        ("pip", 0, 11),
        ("install", 0, 15),
        ("-r", 1, 3),
        ("a/requirements.txt", 1, 6),
    ]
    assert syntax._plain_command("python -m pip install \\\n  -r a/requirements.txt\n", 0, 1)


# An assignment or a reserved word first, a quote, two lines, a backslash-newline inside a
# word (it joins the word), a comment after one, a blank line first.
@pytest.mark.parametrize(
    "text",
    [
        *("A=1 python app.py", "if true", "{ echo", "echo 'a'", "a\nb", "a\\\nb", "a \\\n#b"),
        *("\na", "a &&", "a\n&& b", "a\\\n&& b", "a && if b", "a & b", "a | b", "a &&& b"),
    ],
)
def test_a_line_that_is_not_plain_words_goes_to_the_parser(text: str) -> None:
    assert syntax._plain_command(text, 0, 1) is None


def _general_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Where the lexer reads a token the general way, as it goes."""
    read: list[int] = []
    general = syntax._Lexer._lex_any

    def counted(self: syntax._Lexer) -> syntax._Token:
        read.append(self.pos)
        return general(self)

    monkeypatch.setattr(syntax._Lexer, "_lex_any", counted)
    return read


def test_a_plain_token_is_read_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    read = _general_reads(monkeypatch)
    command = _simple("pip install  numpy; echo 2>x 'q'")
    assert [w.text for w in command.words] == ["pip", "install", "numpy"]
    # the rest are read at once: "2>" (a file descriptor), the quote and the end
    assert read == [24, 28, 32]


def test_a_literal_argument_is_built_with_every_field_the_constructor_sets() -> None:
    word = Word(raw="'x'", text="x", line=1, column=4, quoted=True)
    assert [f.name for f in fields(Arg)] == ["text", "word", "dynamic"]
    assert literal_arg(word) == Arg(text="x", word=word, dynamic=False)


def _skip_blanks_by_character(text: str, pos: int) -> int:
    """Where the next token starts, found one character at a time."""
    while pos < len(text):
        if text[pos] in " \t\r":
            pos += 1
        elif text[pos] == "\\" and text.startswith("\n", pos + 1):
            pos += 2
        elif text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        else:
            break
    return pos


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from([" ", "\t", "\r", "\n", "\\", "\\\n", "#", "x", ";"])),
    start=st.integers(min_value=0, max_value=8),
)
def test_blanks_are_skipped_as_one_character_at_a_time(pieces: list[str], start: int) -> None:
    text = "".join(pieces)
    lexer = syntax._Lexer(text, [], line_base=0, col_base=1, depth=0)
    lexer.pos = min(start, len(text))
    lexer.skip_blanks()
    assert lexer.pos == _skip_blanks_by_character(text, min(start, len(text)))


def test_a_newline_is_read_at_once_unless_a_here_document_starts_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = _general_reads(monkeypatch)
    errors: list[Problem] = []
    script = parse("a && b # c\ncat <<E\nbody\nE\nd | e", errors)
    assert errors == []
    assert len(script.pipelines) == 4
    # "<<" and the newline before the body; the eof
    assert read == [14, 18, 31]


def test_per_text_objects_are_made_with_every_field_the_constructors_set() -> None:
    geometry = scanner._GEOMETRY(first_line=3, line_map=[3, 4], column_map=None)
    assert type(geometry) is Geometry
    assert geometry == Geometry(first_line=3, line_map=[3, 4], column_map=None)
    audit = scanner._SHELL_AUDIT(indexes=("https://i",), installs_python=True)
    assert type(audit) is ShellAudit
    assert audit == ShellAudit(indexes=("https://i",), installs_python=True)
    word = Word(raw="x", text="x", line=0, column=1)
    command = syntax._COMMAND(line=2, words=(word,))
    assert type(command) is Command
    assert command == Command(line=2, words=(word,))
    pipeline = syntax._PIPELINE(commands=(command,))
    assert pipeline == syntax.Pipeline(commands=(command,))
    assert syntax._SCRIPT(pipelines=(pipeline,)) == syntax.Script(pipelines=(pipeline,))
    redirect = syntax._REDIRECT(op=">", target=word)
    assert type(redirect) is syntax.Redirect
    assert redirect == syntax.Redirect(op=">", target=word)
    quoted = syntax._WORD_OF(raw="'a b'", text="a b", line=1, column=3, quoted=True)
    assert type(quoted) is Word
    assert quoted == Word(raw="'a b'", text="a b", line=1, column=3, quoted=True)


def test_a_call_is_made_with_every_field_the_constructor_sets() -> None:
    word = Word(raw="pip", text="pip", line=0, column=1)
    program = literal_arg(word)
    command = Command(line=0, words=(word,))
    made = analyzer._CALL(name="pip", program=program, rest=[], command=command, upstream=[])
    assert type(made) is Call
    assert made == Call(name="pip", program=program, rest=[], command=command, upstream=[])
    assert Outcome() == analyzer._NOTHING


@pytest.mark.parametrize("name", [None, "pip"])
def test_a_call_passed_on_is_what_replace_makes(name: str | None) -> None:
    word = Word(raw="python", text="python", line=0, column=1)
    program = literal_arg(word)
    command = Command(line=0, words=(word,))
    call = Call(name="python", program=program, rest=[program], command=command, upstream=[])
    rest = [literal_arg(Word(raw="x", text="x", line=0, column=9))]
    expected = replace(call, rest=rest) if name is None else replace(call, rest=rest, name=name)
    made = analyzer.recall(call, rest=rest, name=name)
    assert type(made) is Call
    assert made == expected
