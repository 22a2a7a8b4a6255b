"""Discovery: which files the audit reads, and which it must never read."""

from __future__ import annotations

import os
from pathlib import Path

import pathspec

from reprolock.audit.discover import _Matcher, claim, discover, walk
from reprolock.audit.interface import FileFacts, Role, ScanContext, Scanner, SourceFile
from reprolock.config import Config
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
