"""Shell text analysed once and placed in every file it is in (``audit_shell``'s memo of
analyses that read nothing but the text) agrees with analysing it in each file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.dockerfile import DockerfileScanner
from reprolock.audit.interface import FileFacts, Pin, ScanContext, SourceFile
from reprolock.audit.shell import ShellAudit, audit_shell, installers, scanner
from reprolock.audit.shell.analyzer import TEXT_GEOMETRY, Analyzer
from reprolock.audit.shell.syntax import parse
from reprolock.audit.workflows import WorkflowScanner
from reprolock.config import Config
from reprolock.model import Finding
from reprolock.specs import SpecError, classify
from tests.conftest import FIXTURES, write_tree


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    scanner._OWN.clear()
    yield
    scanner._OWN.clear()


def _direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "placing", False)


# Pieces of shell text: some read only themselves (placeable), some read variables, files,
# downloads or clones (never placed), some fail to parse.
_PIECES = [
    "apt-get install -y curl git",
    "apt-get update",
    "apk add --no-cache bash=5.2",
    "useradd --uid 10001 app",
    "rm -rf /var/lib/apt/lists/*",
    "pip install numpy",
    "pip install 'numpy>=1.2'",
    "pip install numpy>=1.2",
    "pip install numpy==1.26.4",
    "pip install --no-deps .",
    "pip install -r requirements.txt",
    "pip install -c constraints.txt torch",
    "pip install --extra-index-url https://example.org/simple x==1",
    "pip install https://example.org/x-1.0-py3-none-any.whl",
    "pip install $PKG",
    "PIP_TRUSTED_HOST=example.org pip install y==2",
    "conda install -y python=3.11 numpy",
    "curl -fsSL https://example.org/i.sh | sh",
    "curl -o /tmp/i.sh https://example.org/i.sh",
    "sh /tmp/i.sh",
    "git clone https://github.com/o/r",
    "cd r && pip install .",
    "for p in a b; do pip install $p; done",
    "X=1",
    "export PIP_INDEX_URL=https://example.org/simple",
    "sudo -u app pip install z",
    "python -m pip install w",
    "huggingface-cli download org/model",
    "sh -c 'pip install q'",
    "echo $(pip install inner)",
    "if true; then pip install t; fi",
    "echo 'unterminated",
]


@st.composite
def _scripts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4))
    joins = draw(st.lists(st.sampled_from([" && ", "\n", " \\\n    && ", "; "]), min_size=3))
    text = pieces[0]
    for piece, join in zip(pieces[1:], joins, strict=False):
        text += join + piece
    return text


def _context(tmp_path: Path, *, require_hashes: bool = True) -> ScanContext:
    write_tree(tmp_path, {"requirements.txt": "a==1\n", "constraints.txt": "torch==2.3.0\n"})
    return ScanContext(
        root=tmp_path,
        config=Config(require_hashes=require_hashes),
        files=frozenset({"requirements.txt", "constraints.txt"}),
    )


def _audit(
    text: str, ctx: ScanContext, path: str, first_line: int, **options: object
) -> ShellAudit:
    source = SourceFile(path=path, abspath=ctx.root / path, text=text)
    return audit_shell(text, source, ctx, first_line=first_line, **options)  # type: ignore[arg-type]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=_scripts(),
    first_lines=st.lists(st.integers(min_value=1, max_value=400), min_size=3, max_size=3),
    container=st.booleans(),
    column=st.integers(min_value=1, max_value=12),
    require_hashes=st.lists(st.booleans(), min_size=1, max_size=2),
)
def test_placed_analysis_agrees_with_direct(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    text: str,
    first_lines: list[int],
    container: bool,
    column: int,
    require_hashes: list[bool],
) -> None:
    scanner._OWN.clear()
    # one audit after another in a process, with the setting an analysis may read changed
    for hashes in require_hashes:
        _agrees(
            tmp_path,
            monkeypatch,
            text=text,
            first_lines=first_lines,
            container=container,
            column=column,
            require_hashes=hashes,
        )


def _agrees(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    text: str,
    first_lines: list[int],
    container: bool,
    column: int,
    require_hashes: bool,
) -> None:
    ctx = _context(tmp_path, require_hashes=require_hashes)
    count = text.count("\n") + 1
    options: list[dict[str, object]] = [
        {"container": container},
        {"container": container, "column_map": [column] * count},
        {"container": container, "line_map": [5 + 2 * i for i in range(count)]},
    ]
    # the same text in three files, at three places: first sight, second (placed), third (hit)
    placed = [_audit(text, ctx, f"d{i}/Dockerfile", first_lines[i], **options[i]) for i in range(3)]
    with monkeypatch.context() as m:
        _direct(m)
        direct = [
            _audit(text, ctx, f"d{i}/Dockerfile", first_lines[i], **options[i]) for i in range(3)
        ]
    assert placed == direct


def _scan_all(paths: list[Path], root: Path) -> list[FileFacts]:
    ctx = ScanContext(root=root, config=Config(), files=frozenset())
    out = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        source = SourceFile(path=rel, abspath=path, text=path.read_text(encoding="utf-8"))
        scan = DockerfileScanner() if "ockerfile" in path.name else WorkflowScanner()
        out.append(scan.scan(source, ctx))
    return out


def test_fixture_files_scan_the_same_placed_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file()
        and (p.name.startswith("Dockerfile") or p.parent.name == "workflows")
        and p.suffix in {"", ".yml", ".yaml"}
    )
    assert len(paths) > 40
    # every file twice over: texts repeated across and within the fixtures are placed
    placed = _scan_all(paths + paths, FIXTURES)
    assert scanner._OWN_HITS[0] > 0
    with monkeypatch.context() as m:
        _direct(m)
        direct = _scan_all(paths + paths, FIXTURES)
    assert placed == direct


def test_a_repeated_text_is_placed_at_each_file_s_line(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run = "apt-get install -y curl"
    before = scanner._OWN_HITS[0]
    audits = [_audit(run, ctx, f"p{i}/Dockerfile", 10 + i, container=True) for i in range(4)]
    # the first is read in its file; the second analysed in the text's own positions, and
    # from then on each is placed
    assert scanner._OWN_HITS[0] - before == 3
    assert isinstance(scanner._OWN[(run, True, True)], scanner._Placeable)
    assert [
        (f.rule, f.location.path, f.location.line, f.location.column)
        for a in audits
        for f in a.findings
    ] == [("RP304", f"p{i}/Dockerfile", 10 + i, 20) for i in range(4)]
    assert len({f.fingerprint for a in audits for f in a.findings}) == 4


@pytest.mark.parametrize(
    ("run", "container"),
    [
        ("pip install $PKG", True),  # a variable
        ("pip install ../lib", False),  # a path, judged from the file's own directory
        ("curl -o /tmp/i.sh https://example.org/i.sh", True),  # a download for the next text
    ],
)
def test_a_text_that_reads_its_file_is_never_placed(
    tmp_path: Path, run: str, container: bool
) -> None:
    ctx = _context(tmp_path)
    before = scanner._OWN_HITS[0]
    for i in range(3):
        _audit(run, ctx, f"p{i}/Dockerfile", 1, container=container)
    assert scanner._OWN[(run, container, True)] is scanner._NOT_OWN
    assert scanner._OWN_HITS[0] == before


@pytest.mark.parametrize(
    ("run", "rules"),
    [
        ("pip install numpy", ["RP101"]),
        ("pip install 'numpy>=1.2'", ["RP102"]),
        ("pip install numpy==1.26.4", ["RP103"]),
        ("pip install git+https://github.com/o/r@main", ["RP104"]),
    ],
)
def test_a_spec_judged_the_same_in_every_file_is_placed(
    tmp_path: Path, run: str, rules: list[str]
) -> None:
    ctx = _context(tmp_path)
    before = scanner._OWN_HITS[0]
    audits = [_audit(run, ctx, f"p{i}/run.sh", 2 + i) for i in range(3)]
    assert isinstance(scanner._OWN[(run, False, True)], scanner._Placeable)
    assert scanner._OWN_HITS[0] - before == 2
    assert [[(f.rule, f.location.path, f.location.line) for f in a.findings] for a in audits] == [
        [(rule, f"p{i}/run.sh", 2 + i) for rule in rules] for i in range(3)
    ]


def test_an_analysis_placed_under_one_require_hashes_is_not_placed_under_the_other(
    tmp_path: Path,
) -> None:
    run = "pip install numpy==1.26.4"
    hashed = _context(tmp_path, require_hashes=True)
    plain = _context(tmp_path, require_hashes=False)
    found = [
        [f.rule for f in _audit(run, ctx, "run.sh", 1).findings]
        for ctx in (hashed, hashed, hashed, plain, plain, plain, hashed)
    ]
    assert found == [["RP103"]] * 3 + [[]] * 3 + [["RP103"]]
    assert isinstance(scanner._OWN[(run, False, True)], scanner._Placeable)
    assert isinstance(scanner._OWN[(run, False, False)], scanner._Placeable)


def test_pending_downloads_are_read_in_the_file(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    first = _audit("curl -o /tmp/i.sh https://example.org/i.sh", ctx, "Dockerfile", 1)
    assert scanner._OWN.get(("sh /tmp/i.sh", False, True)) is None
    alone = [_audit("sh /tmp/i.sh", ctx, "Dockerfile", 5) for _ in range(3)]
    assert isinstance(scanner._OWN[("sh /tmp/i.sh", False, True)], scanner._Placeable)
    assert [a.findings for a in alone] == [(), (), ()]
    after = _audit("sh /tmp/i.sh", ctx, "Dockerfile", 7, downloaded=first.downloads)
    assert [(f.rule, f.location.line) for f in after.findings] == [("RP105", 7)]


def test_a_repository_file_is_asked_for_again_in_each_file(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {f"p{i}/requirements.txt": "a==1\n" for i in (0, 1, 2, 4)}
    files.update({f"p{i}/pyproject.toml": "[project]\n" for i in range(5)})
    write_tree(tmp_path, files)
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset(files))
    run = "pip install -r requirements.txt && pip install --no-deps ."
    before = scanner._OWN_HITS[0]
    audits = [_audit(run, ctx, f"p{i}/Dockerfile", 3 + i, container=True) for i in range(5)]
    # p3 has no requirements.txt: the text takes another way there, and is read in that file
    assert scanner._OWN_HITS[0] - before == 3
    assert [[(i.target, i.line) for i in a.includes] for a in audits] == [
        [("p0/requirements.txt", 3), ("p0/pyproject.toml", 3)],
        [("p1/requirements.txt", 4), ("p1/pyproject.toml", 4)],
        [("p2/requirements.txt", 5), ("p2/pyproject.toml", 5)],
        [("p3/pyproject.toml", 6)],
        [("p4/requirements.txt", 7), ("p4/pyproject.toml", 7)],
    ]


def test_two_questions_answered_by_one_file_are_not_placed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "a==1\n"})
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset({"requirements.txt"}))
    run = "pip install -r requirements.txt -r ./requirements.txt"
    for i in range(3):
        audit = _audit(run, ctx, "run.sh", 1 + i)
        assert [(x.target, x.line) for x in audit.includes] == [("requirements.txt", 1 + i)]
    assert scanner._OWN[(run, False, True)] is scanner._NOT_OWN


def test_placing_copies_every_field_of_a_finding_and_a_pin() -> None:
    # _Placeable.placed builds them field by field: a new field must be placed too
    assert [f.name for f in fields(Finding)] == [
        "rule",
        "severity",
        "message",
        "location",
        "subject",
        "fix",
        "fingerprint",
    ]
    assert [f.name for f in fields(Pin)] == ["name", "version", "line", "hashed"]


def test_the_callers_variables_are_copied_only_when_the_text_reads_one(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    given: dict[str, str | None] = {"PKG": "numpy==1.26.4"}

    def analyse(text: str) -> Analyzer:
        source = SourceFile(path="Dockerfile", abspath=tmp_path / "Dockerfile", text=text)
        analyzer = Analyzer(
            source=source,
            ctx=ctx,
            geometry=TEXT_GEOMETRY,
            variables=given,
            locate=lambda written: None,
            downloaded=(),
            container=True,
            budget=ExpansionBudget(),
            commands=scanner.COMMANDS,
        )
        analyzer.run(parse(text, []))
        return analyzer

    plain = analyse("apt-get update && useradd app")
    assert plain._vars is None
    assert plain.own
    reading = analyse("PKG2=x; pip install $PKG")
    assert reading.vars == {"PKG": "numpy==1.26.4", "PKG2": "x"}
    assert given == {"PKG": "numpy==1.26.4"}  # the caller's mapping is never written
    assert [p.version for p in reading.pins] == ["1.26.4"]
    assert not reading.own


def test_a_requirement_is_classified_once_and_the_same_as_unmemoised() -> None:
    installers._classified.cache_clear()
    for text, editable in [("numpy==1.26.4", False), ("numpy==1.26.4", False), (".", True)]:
        assert installers.classify(text, editable=editable) == classify(text, editable=editable)
    assert installers._classified.cache_info().hits == 1
    long = "x" * installers._MEMO_SPEC_CHARS + "==1"
    assert installers.classify(long) == classify(long)
    assert installers._classified.cache_info().currsize == 2
    with pytest.raises(SpecError):
        installers.classify("numpy===")


def test_a_text_with_nothing_to_place_is_handed_back_as_it_was_audited(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run = "useradd --uid 10001 app && pip install --index-url https://example.org/simple"
    before = scanner._OWN_HITS[0]
    audits = [_audit(run, ctx, f"p{i}/Dockerfile", 1 + i, container=True) for i in range(4)]
    known = scanner._OWN[(run, True, True)]
    assert isinstance(known, scanner._Placeable)
    assert known.unplaced == ShellAudit(indexes=("https://example.org/simple",))
    assert scanner._OWN_HITS[0] - before == 3
    assert audits[2] is known.unplaced
    assert audits[3] is known.unplaced
    assert audits[0] == audits[1] == known.unplaced


@pytest.mark.parametrize(
    "run",
    [
        "apt-get install -y curl",  # a finding
        "pip install numpy==1.26.4",  # a pin
        "pip install -r requirements.txt",  # a question
        "echo 'unterminated",  # a syntax note
    ],
)
def test_a_text_with_something_to_place_is_placed_in_each_file(tmp_path: Path, run: str) -> None:
    ctx = _context(tmp_path)
    for i in range(3):
        _audit(run, ctx, f"p{i}/run.sh", 1 + i)
    known = scanner._OWN[(run, False, True)]
    assert isinstance(known, scanner._Placeable)
    assert known.unplaced is None
