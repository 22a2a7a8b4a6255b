"""Random damage to real-looking trees: ``repro check`` answers 0, 1 or 2, never 4, never a
traceback, whatever a file has become."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.cli import main
from tests.conftest import FIXTURES

TREES = [
    FIXTURES / "example-ml-project",
    FIXTURES / "dockerfile" / "ml-service",
    FIXTURES / "workflows" / "ml-project",
    FIXTURES / "projects" / "kmeans-segmenter",
]


def _files(tree: Path) -> list[str]:
    return sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())


def _truncate(data: bytes, at: int, _junk: bytes) -> bytes:
    return data[: at % (len(data) + 1)]


def _duplicate_lines(data: bytes, at: int, _junk: bytes) -> bytes:
    lines = data.splitlines(keepends=True) or [b""]
    index = at % len(lines)
    return b"".join([*lines[: index + 1], *[lines[index]] * (1 + at % 50), *lines[index + 1 :]])


def _insert_junk(data: bytes, at: int, junk: bytes) -> bytes:
    where = at % (len(data) + 1)
    return data[:where] + junk + data[where:]


def _nest(data: bytes, at: int, junk: bytes) -> bytes:
    opener = (b"[", b"{", b"(", b"- ", b"  ", b"$(", b'"', b"\\\n")[at % 8]
    depth = 1000 + at % 20_000
    where = at % (len(data) + 1)
    return data[:where] + opener * depth + junk + data[where:]


Mutation = Callable[[bytes, int, bytes], bytes]
MUTATIONS: list[Mutation] = [_truncate, _duplicate_lines, _insert_junk, _nest]


@pytest.mark.parametrize("tree", TREES, ids=[t.name for t in TREES])
def test_damaged_tree_is_a_result_or_an_input_error(
    tree: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = _files(tree)

    @settings(
        max_examples=int(os.environ.get("REPRO_MUTATION_EXAMPLES", "40")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        damage=st.lists(
            st.tuples(
                st.sampled_from(names),
                st.sampled_from(MUTATIONS),
                st.integers(min_value=0, max_value=2**31),
                st.binary(max_size=64),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def run(damage: list[tuple[str, Mutation, int, bytes]]) -> None:
        root = tmp_path_factory.mktemp("damaged")
        shutil.copytree(tree, root, dirs_exist_ok=True)
        for name, mutate, at, junk in damage:
            path = root / name
            path.write_bytes(mutate(path.read_bytes(), at, junk))
        capsys.readouterr()
        code = main(["check", "--no-cache", "--format", "json", str(root)])
        err = capsys.readouterr().err
        assert code in {0, 1, 2}, err
        assert "Traceback" not in err
        assert "internal error" not in err
        shutil.rmtree(root)

    run()
