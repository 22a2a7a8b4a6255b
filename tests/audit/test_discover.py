"""Discovery: which files the audit reads, and which it must never read."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pathspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit import discover as discover_module
from reprolock.audit.discover import Listings, _Matcher, claim, discover, walk, walk_aside
from reprolock.audit.interface import FileFacts, Role, ScanContext, Scanner, SourceFile
from reprolock.config import Config
from reprolock.model import Finding
from tests.conftest import write_tree


class _ClaimAll(Scanner):
    name = "all"

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".txt")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        return FileFacts(path=source.path, kind=self.name, role=Role.OTHER)


def _paths(root: Path, config: Config | None = None) -> list[str]:
    return [d.path for d in discover(root, config or Config(), [_ClaimAll()])]


def test_default_excludes_are_skipped(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "requirements.txt": "x\n",
            ".git/requirements.txt": "x\n",
            ".venv/lib/requirements.txt": "x\n",
            "node_modules/pkg/requirements.txt": "x\n",
            "vendor/requirements.txt": "x\n",
            "src/vendor/requirements.txt": "x\n",
            "third_party/lib/requirements.txt": "x\n",
            "svc/requirements.txt": "x\n",
        },
    )
    assert _paths(tmp_path) == ["requirements.txt", "svc/requirements.txt"]


def test_config_excludes_and_gitignore(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".gitignore": "build/\n*.tmp.txt\n",
            "build/requirements.txt": "x\n",
            "a.tmp.txt": "x\n",
            "legacy/old/requirements.txt": "x\n",
            "sub/.gitignore": "generated.txt\n",
            "sub/generated.txt": "x\n",
            "sub/kept.txt": "x\n",
            "generated.txt": "x\n",
        },
    )
    config = Config(exclude=("legacy/**",))
    assert _paths(tmp_path, config) == ["generated.txt", "sub/kept.txt"]


def test_symlinks_never_leave_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_tree(outside, {"secret.txt": "x\n", "dir/deep.txt": "x\n"})
    root = tmp_path / "repo"
    write_tree(root, {"real.txt": "x\n", "inner/file.txt": "x\n"})
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(outside / "dir", root / "linkdir")
    os.symlink(root / "inner", root / "alias")  # inside the root: followed, once
    os.symlink(root, root / "inner" / "loop")  # a loop back to the root: not followed twice
    paths = _paths(root)
    assert "link.txt" not in paths
    assert not any(p.startswith("linkdir/") for p in paths)
    assert "real.txt" in paths
    assert "inner/file.txt" in paths or "alias/file.txt" in paths
    assert len(paths) == len(set(paths))
    assert len(paths) <= 3


_PATTERNS = [
    ".venv/", "__pycache__/", "*.pyc", "/build", "docs/**/*.md", "data/*.csv", "**/tmp",
    "a?c.txt", "[ab]*.txt", "logs", "name with space.txt", "sub/dir/", "\\#literal", "*.(x)",
]  # fmt: skip
_PROBES = [
    "requirements.txt", "a/requirements.txt", ".venv/", "x/.venv/", "x/.venv", "m.pyc",
    "a/b/m.pyc", "build", "build/", "x/build", "docs/a/b/c.md", "docs/c.md", "docs/c.txt",
    "data/x.csv", "data/sub/x.csv", "tmp", "a/tmp/", "abc.txt", "axc.txt", "b.txt",
    "logs/", "logs", "x/logs/", "name with space.txt", "sub/dir/", "sub/dir", "#literal",
    "f.(x)", "(?P<ps_d>/", "__pycache__/", "y/__pycache__/",
]  # fmt: skip


def test_a_compiled_gitignore_matches_every_path_as_pathspec_does() -> None:
    for size in range(len(_PATTERNS) + 1):
        patterns = _PATTERNS[size:] + _PATTERNS[:size]
        for negated in ([], ["!keep.pyc"], ["!docs/"]):
            spec = pathspec.GitIgnoreSpec.from_lines([*patterns[:size], *negated])
            matcher = _Matcher(spec)
            for probe in _PROBES:
                assert matcher.match_file(probe) == spec.match_file(probe), (patterns, probe)


def test_a_gitignore_without_negations_is_one_expression() -> None:
    assert _Matcher(pathspec.GitIgnoreSpec.from_lines(["*.pyc", "build/"]))._regex is not None
    assert _Matcher(pathspec.GitIgnoreSpec.from_lines(["*.pyc", "!a.pyc"]))._regex is None


def test_walk_keeps_what_discovery_claims_from(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".gitignore": "*.log\nout/\n",
            "a.txt": "x\n",
            "b.csv": "1,2\n",
            "run.log": "x\n",
            "out/c.txt": "x\n",
            "sub/d.txt": "x\n",
        },
    )
    walked = walk(tmp_path, Config())
    assert [rel for rel, _ in walked] == [".gitignore", "a.txt", "b.csv", "sub/d.txt"]
    assert all(location == f"{tmp_path.resolve()}/{rel}" for rel, location in walked)
    assert [d.path for d in claim(walked, [_ClaimAll()])] == ["a.txt", "sub/d.txt"]


# Listings: a directory unchanged since the last walk is not listed again


def _aged(root: Path) -> None:
    """Every directory's and file's times set an hour back: old enough to be trusted."""
    past = os.stat(root).st_mtime - 3600
    for directory, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            os.utime(os.path.join(directory, name), (past, past), follow_symlinks=False)
        os.utime(directory, (past, past))


def _walk_twice(root: Path, config: Config | None = None) -> tuple[list[tuple[str, str]], Listings]:
    """The walk with the listings of one made just before (trusted now): both must agree."""
    config = config or Config()
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, config, [], first)
    return _again(root, first, config)


def _again(
    root: Path, before: Listings, config: Config | None = None
) -> tuple[list[tuple[str, str]], Listings]:
    config = config or Config()
    reused = Listings(known=dict(before.made), trusted_before=before.trusted_before)
    notes: list[Finding] = []
    walked = walk(root, config, notes, reused)
    fresh_notes: list[Finding] = []
    assert walked == walk(root, config, fresh_notes)
    assert notes == fresh_notes
    return walked, reused


_LISTED_TREE: dict[str, str | bytes] = {
    "a/requirements.txt": "x\n",
    "a/b/requirements.txt": "x\n",
    "a/b/data.csv": "1\n",
    "c/requirements.txt": "x\n",
    ".gitignore": "build/\n",
    "build/requirements.txt": "x\n",
}


def test_an_unchanged_tree_is_walked_without_listing_a_directory(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _LISTED_TREE)
    walked, listings = _walk_twice(root)
    assert [rel for rel, _ in walked] == [
        ".gitignore",
        "a/b/data.csv",
        "a/b/requirements.txt",
        "a/requirements.txt",
        "c/requirements.txt",
    ]
    assert listings.listed == 0
    assert sorted(listings.made) == ["", "a/", "a/b/", "c/"]


def test_a_directory_whose_entries_changed_is_listed_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _LISTED_TREE)
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], first)
    (root / "a/b/new.txt").write_text("x\n", encoding="utf-8")
    (root / "c/requirements.txt").unlink()
    walked, listings = _again(root, first)
    assert "a/b/new.txt" in [rel for rel, _ in walked]
    assert "c/requirements.txt" not in [rel for rel, _ in walked]
    assert listings.listed == 2


def test_a_gitignore_edited_in_place_is_applied(tmp_path: Path) -> None:
    # editing a file does not change its directory's times: the patterns' digest must
    tree: dict[str, str | bytes] = {
        **_LISTED_TREE,
        "a/.gitignore": "nothing\n",
        "setup.py": "",
        "a/b/setup.py": "",
    }
    root = write_tree(tmp_path / "repo", tree)
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], first)
    stamp = os.stat(root / "a")
    (root / "a/.gitignore").write_text("b/\n", encoding="utf-8")  # a/b/ goes, and what it holds
    os.utime(root / "a", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (root / ".gitignore").write_text("build/\nc/\n/setup.py\n", encoding="utf-8")
    walked, _ = _again(root, first)
    assert [rel for rel, _ in walked] == [".gitignore", "a/.gitignore", "a/requirements.txt"]


def test_a_reused_listing_compiles_its_gitignore_only_for_a_directory_listed_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _LISTED_TREE)
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], first)
    compiled: list[bytes] = []
    original = discover_module._spec_of_bytes

    def counted(data: bytes) -> Any:
        compiled.append(data)
        return original(data)

    monkeypatch.setattr(discover_module, "_spec_of_bytes", counted)
    _, listings = _again(root, first)
    assert (listings.listed, compiled) == (0, [])
    # a new directory under a/ (listed anew) is matched against the root's patterns
    write_tree(root, {"a/build/requirements.txt": "x\n", "a/kept/requirements.txt": "x\n"})
    walked, listings = _again(root, first)
    assert compiled == [b"build/\n"]
    assert "a/build/requirements.txt" not in [rel for rel, _ in walked]
    assert "a/kept/requirements.txt" in [rel for rel, _ in walked]


def test_a_gitignore_line_that_is_no_pattern_is_noted_by_a_walk_reusing_its_listing(
    tmp_path: Path,
) -> None:
    root = write_tree(tmp_path / "repo", {**_LISTED_TREE, ".gitignore": "build/\n!\n"})
    first = Listings(trusted_before=time.time_ns() + 10**12)
    notes: list[Finding] = []
    walk(root, Config(), notes, first)
    assert [(n.rule, n.location.line) for n in notes] == [("RP002", 2)]
    assert first.made[""][4].endswith("!")  # the digest says a line was skipped
    _, listings = _again(root, first)  # the same note again, with nothing listed
    assert listings.listed == 0


def test_a_directory_holding_a_symlink_is_always_listed(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"a/requirements.txt": "x\n", "b/req.txt": "x\n"})
    (root / "a/linked.txt").symlink_to(root / "b/req.txt")
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], first)
    assert "a/" not in first.made
    (root / "b/req.txt").unlink()  # the link's target goes; "a/" itself is unchanged
    walked, listings = _again(root, first)
    assert [rel for rel, _ in walked] == ["a/requirements.txt"]
    assert listings.listed == 2  # "a/" (a link in it) and "b/" (changed)


def test_listings_recorded_too_close_to_their_walk_are_not_trusted(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _LISTED_TREE)
    first = Listings(trusted_before=0)
    walk(root, Config(), [], first)
    _, listings = _again(root, first)
    assert listings.listed == 4
    _aged(root)
    first.trusted_before = time.time_ns()
    walk(root, Config(), [], first)
    _, listings = _again(root, first)
    assert listings.listed == 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "ignore", "unignore", "mkdir"]),
            st.sampled_from(["a", "a/b", "c", "build", "a/b/d"]),
            st.sampled_from(["x.txt", "y.py", "build"]),
        ),
        max_size=6,
    )
)
def test_a_walk_reusing_listings_keeps_what_a_fresh_walk_keeps(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str, str]]
) -> None:
    root = write_tree(tmp_path_factory.mktemp("walk") / "repo", _LISTED_TREE)
    listings = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], listings)
    for action, directory, name in steps:
        where = root / directory
        where.mkdir(parents=True, exist_ok=True)
        target = where / name
        if action == "add" and not target.is_dir():
            target.write_text("x\n", encoding="utf-8")
        elif action == "remove" and target.is_file():
            target.unlink()
        elif action == "ignore":
            with (where / ".gitignore").open("a", encoding="utf-8") as handle:
                handle.write(f"{name}\n")
        elif action == "unignore" and (where / ".gitignore").is_file():
            (where / ".gitignore").write_text("!\n", encoding="utf-8")  # no pattern: a note
        elif action == "mkdir" and not target.exists():
            target.mkdir()
            (target / "z.txt").write_text("x\n", encoding="utf-8")
        # _again asserts the walk with the previous listings equals a fresh one
        _, listings = _again(root, listings)


@pytest.mark.parametrize("names", ["..", ".", "a/../b", "a//b", "x\x00y"])
def test_a_listing_naming_what_no_directory_holds_is_not_reused(tmp_path: Path, names: str) -> None:
    # a damaged or forged cache must not lead the walk out of the root
    root = write_tree(tmp_path / "repo", {"a/requirements.txt": "x\n"})
    first = Listings(trusted_before=time.time_ns() + 10**12)
    walk(root, Config(), [], first)
    for field_index in (5, 6):
        forged = {prefix: list(entry) for prefix, entry in first.made.items()}
        forged[""][field_index] = names
        walked, listings = _again(root, Listings(made=forged, trusted_before=first.trusted_before))
        assert [rel for rel, _ in walked] == ["a/requirements.txt"]
        assert listings.listed == 1  # the root, listed again; "a/" reused


# --- walk_aside -----------------------------------------------------------------------------

_ASIDE_TREE: dict[str, str | bytes] = {
    **_LISTED_TREE,
    "a/.gitignore": "*.csv\n",
    "d/e/f/requirements.in": "x\n",
    "d/e/g/requirements.in": "x\n",
    "d/e/h/requirements.in": "x\n",
}


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the walk writes which process kept each file: the walk goes aside after 2."""
    monkeypatch.setattr(discover_module, "_ASIDE_AFTER_FILES", 2)
    path = tmp_path / "pids"
    original = discover_module._walk

    def logged(*args: Any) -> Any:
        for item in original(*args):
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{os.getpid()}\n")
            yield item

    monkeypatch.setattr(discover_module, "_walk", logged)
    return path


def _pids(log: Path) -> list[int]:
    return [int(line) for line in log.read_text(encoding="utf-8").split()]


@pytest.mark.parametrize("with_listings", [False, True])
def test_a_walk_aside_goes_on_in_another_process(
    tmp_path: Path, log: Path, with_listings: bool
) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)
    here = Listings(trusted_before=time.time_ns() + 10**12) if with_listings else None
    walked = walk(root, Config(), [], here)
    log.unlink()
    meanwhile: list[int] = []
    aside = Listings(trusted_before=here.trusted_before) if here is not None else None
    notes: list[Finding] = []
    result = walk_aside(root, Config(), notes, aside, lambda: meanwhile.append(os.getpid()))
    assert (result, notes) == (walked, [])
    assert "a/b/data.csv" not in [rel for rel, _ in walked]
    if here is not None and aside is not None:
        assert (aside.made, aside.listed) == (here.made, here.listed)
        assert aside.listed == 9
    assert meanwhile == [os.getpid()]
    pids = _pids(log)
    assert len(pids) == len(walked) == 8
    assert pids[:2] == [os.getpid()] * 2  # then the child went on
    assert set(pids[2:]) == {pids[2]} != {os.getpid()}


def test_a_small_tree_is_walked_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)
    forks: list[bool] = []
    monkeypatch.setattr(os, "fork", lambda: forks.append(True))
    meanwhile: list[bool] = []
    result = walk_aside(root, Config(), [], None, lambda: meanwhile.append(True))
    assert result == walk(root, Config(), [])
    assert (meanwhile, forks) == ([True], [])


def test_a_note_in_what_the_child_walks_is_given_by_this_process(tmp_path: Path, log: Path) -> None:
    # a line that is no pattern, in a directory the child lists: a note, given here
    tree = {**_ASIDE_TREE, "a/.gitignore": "*.csv\n!\n", ".gitignore": "!\n"}
    root = write_tree(tmp_path / "repo", tree)
    notes: list[Finding] = []
    walked = walk(root, Config(), notes)
    assert sorted((n.rule, n.location.path) for n in notes) == [
        ("RP002", ".gitignore"),
        ("RP002", "a/.gitignore"),
    ]
    log.unlink()
    aside_notes: list[Finding] = []
    assert walk_aside(root, Config(), aside_notes, None, lambda: None) == walked
    assert sorted(aside_notes, key=str) == sorted(notes, key=str)
    pids = _pids(log)
    child = [pid for pid in pids if pid != os.getpid()]
    assert child  # the child walked some, then gave up on the note
    assert pids[-1] == os.getpid()
    assert pids.count(os.getpid()) == len(walked)


def test_a_walk_aside_that_fails_goes_on_here(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)
    walked = walk(root, Config(), [])
    log.unlink()
    parent = os.getpid()
    original = discover_module._walk

    def broken(*args: Any) -> Any:
        for item in original(*args):
            if os.getpid() != parent:
                raise OSError("the walking process fails")
            yield item

    monkeypatch.setattr(discover_module, "_walk", broken)
    assert walk_aside(root, Config(), [], None, lambda: None) == walked
    assert _pids(log).count(parent) == len(walked)  # the child kept one, then failed


def test_a_walk_aside_with_threads_running_goes_on_here(tmp_path: Path, log: Path) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        walked = walk_aside(root, Config(), [], None, lambda: None)
    finally:
        release.set()
        thread.join()
    assert walked == walk(root, Config(), [])
    assert set(_pids(log)) == {os.getpid()}  # a fork with threads running is not safe


def test_a_walk_aside_that_cannot_fork_goes_on_here(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    meanwhile: list[bool] = []
    walked = walk_aside(root, Config(), [], None, lambda: meanwhile.append(True))
    assert walked == walk(root, Config(), [])
    assert meanwhile == [True]
    assert set(_pids(log)) == {os.getpid()}


def test_a_walk_aside_whose_caller_fails_leaves_no_process_behind(
    tmp_path: Path, log: Path
) -> None:
    root = write_tree(tmp_path / "repo", _ASIDE_TREE)

    def fails() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        walk_aside(root, Config(), [], None, fails)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the walking process was reaped


# --- claiming by extension -------------------------------------------------------------------

_NAME_PIECES = [
    "Dockerfile", "Containerfile", "dockerfile", "requirements", "constraints", "environment",
    "conda", "conda-lock", "env", "pylock", "pyproject", "Pipfile", "poetry", "uv", "pdm",
    "action", "dvc", "Makefile", "GNUmakefile", "makefile", ".pre-commit-config",
    ".gitlab-ci", ".devcontainer", "devcontainer", ".python-version", "setup", "install",
    "train", "x", ".", "-", "_", ".lock", ".yml", ".YAML", ".yaml", ".json", ".toml", ".txt",
    ".in", ".TXT", ".sh", ".Bash", ".mk", ".py", ".ipynb", ".dvc", ".gpu", ".dockerfile",
]  # fmt: skip
_DIRS = ["", "scripts/", "bin/", ".github/workflows/", ".devcontainer/", "requirements/", "ci/"]


def _real_paths() -> list[str]:
    """Every file of the fixtures and of this repository: names as the field has them."""
    base = Path(__file__).resolve().parents[2]
    out = []
    for top in (base / "fixtures", base / "src", base / "tests", base / ".github", base):
        for path in top.rglob("*") if top != base else top.iterdir():
            if path.is_file() and ".git" not in path.parts:
                out.append(path.relative_to(base).as_posix())
    return out


def _every_scanner() -> list[Scanner]:
    from reprolock.audit.registry import all_scanners

    return all_scanners()


def _naive_claim(walked: list[tuple[str, str]], scanners: list[Scanner]) -> list[Any]:
    out = []
    for rel, location in walked:
        name = rel.rsplit("/", 1)[-1]
        claimed = next((s for s in scanners if s.claims(rel, name)), None)
        if claimed is not None:
            out.append((rel, location, claimed.name))
    return out


def test_every_name_a_scanner_claims_has_one_of_its_extensions() -> None:
    paths = _real_paths()
    assert len(paths) > 500
    for scanner in _every_scanner():
        if scanner.extensions is None:
            continue
        for rel in paths:
            name = rel.rsplit("/", 1)[-1]
            if scanner.claims(rel, name):
                assert discover_module.extension(name) in scanner.extensions, (scanner.name, rel)


@settings(max_examples=400, deadline=None)
@given(
    directory=st.sampled_from(_DIRS),
    pieces=st.lists(st.sampled_from(_NAME_PIECES), min_size=1, max_size=4),
)
def test_a_name_made_of_pieces_is_claimed_only_within_its_extensions(
    directory: str, pieces: list[str]
) -> None:
    name = "".join(pieces)
    rel = f"{directory}{name}"
    scanners = _every_scanner()
    for scanner in scanners:
        if scanner.extensions is not None and scanner.claims(rel, name):
            assert discover_module.extension(name) in scanner.extensions, (scanner.name, rel)
    walked = [(rel, f"/r/{rel}")]
    assert [(d.path, d.location, d.scanner.name) for d in claim(walked, scanners)] == (
        _naive_claim(walked, scanners)
    )


def test_claiming_by_extension_claims_what_every_scanner_asked_in_turn_does() -> None:
    walked = [(rel, f"/r/{rel}") for rel in sorted(_real_paths())]
    scanners = _every_scanner()
    found = [(d.path, d.location, d.scanner.name) for d in claim(walked, scanners)]
    assert found == _naive_claim(walked, scanners)
    assert len({kind for _, _, kind in found}) >= 15
