"""The base-image probe: stdlib-only Python 3.8, the same answer as packaging, in the image too."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import docker
from packaging import markers as pkg_markers
from packaging import tags as pkg_tags

from reprolock.harness import probe
from reprolock.harness.image import probe_command
from reprolock.harness.lockfile import TargetEnvironment
from tests.conftest import FIXTURES
from tests.harness.conftest import BASE_IMAGE

PROBE = Path(probe.__file__)
PROBE_FIXTURE = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"


def test_the_probe_is_python_3_8_and_imports_only_the_standard_library() -> None:
    tree = ast.parse(PROBE.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    # _manylinux is a distributor's optional hook, imported only when present (PEP 600)
    assert imported - set(sys.stdlib_module_names) == {"_manylinux"}


def test_the_probe_agrees_with_packaging_on_this_interpreter() -> None:
    proc = subprocess.run(
        [sys.executable, "-I", str(PROBE)], capture_output=True, text=True, check=True
    )
    assert proc.stderr == ""
    probed = TargetEnvironment.from_probe(json.loads(proc.stdout))
    assert list(probed.platform_tags) == [str(t) for t in pkg_tags.sys_tags()]
    assert probed.markers() == pkg_markers.default_environment()


def test_the_probe_command_ships_the_module_unchanged() -> None:
    flag, bootstrap, source = probe_command()
    assert (flag, source) == ("-c", PROBE.read_text(encoding="utf-8"))
    assert bootstrap.endswith(
        "import sys, venv, ensurepip\n"
        "exec(compile(sys.argv[1], 'probe.py', 'exec'), {'__name__': '__main__'})\n"
    )


def test_the_probe_runs_in_the_real_base_image(docker_client: docker.DockerClient) -> None:
    output = docker_client.containers.run(
        BASE_IMAGE, ["python3", *probe_command()], remove=True, network_mode="none"
    )
    recorded = json.loads(PROBE_FIXTURE.read_text(encoding="utf-8"))
    probed = json.loads(output)
    # the kernel's release and build string are the host's, not the image's
    kernel = {"platform_release", "platform_version"}
    assert {k: v for k, v in probed.items() if k not in kernel} == {
        k: v for k, v in recorded.items() if k not in kernel
    }
