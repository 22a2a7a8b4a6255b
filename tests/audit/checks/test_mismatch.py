"""RP503: a CUDA build the environment's image does not match, followed through what it installs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reprolock.audit.interface import Role
from reprolock.model import Finding
from tests.audit.checks.helpers import check, dockerfile, facts, only, pin, rule_hits, stage

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

RUNTIME = "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
DEVEL = "nvidia/cuda:12.4.1-devel-ubuntu22.04"


@pytest.mark.parametrize(
    ("image", "wheel", "fix"),
    [
        (RUNTIME, "2.3.1+cu118", "torch==2.3.1+cu121"),
        ("nvidia/cuda:11.8.0-runtime-ubuntu22.04", "2.3.1+cu121", "torch==2.3.1+cu118"),
        (DEVEL, "2.3.1+cu121", None),  # a devel image: the minor counts; 2.3 has no cu124
        (DEVEL, "2.5.1+cu121", "torch==2.5.1+cu124"),
    ],
)
def test_a_wheel_variant_that_disagrees_with_the_image(
    image: str, wheel: str, fix: str | None
) -> None:
    found = check(dockerfile("Dockerfile", pin("torch", wheel, 3), image=image))
    f = only(found, "RP503")
    assert (f.location.line, f.subject, f.fix) == (3, "torch", fix)


def test_the_message_names_both_sides() -> None:
    f = only(check(dockerfile("Dockerfile", pin("torch", "2.3.1+cu118", 3))), "RP503")
    assert f.message == (
        f"torch==2.3.1+cu118 is a CUDA 11.8 build, but the image {RUNTIME} (Dockerfile:1) "
        "has CUDA 12.1"
    )


def test_a_minor_difference_matters_only_in_a_devel_image() -> None:
    """text-generation-inference: torch 2.7.0+cu128 from the lock in a CUDA 12.4 base image runs
    (CUDA minor version compatibility, the wheel carries its runtime); compiled against a 12.4
    devel image it would not match the toolkit."""
    base = dockerfile(
        "a/Dockerfile", pin("torch", "2.7.0+cu128", 3), image="nvidia/cuda:12.4.0-base-ubuntu22.04"
    )
    devel = dockerfile("b/Dockerfile", pin("torch", "2.7.0+cu128", 3), image=DEVEL)
    assert rule_hits(check(base, devel)) == [("RP503", "b/Dockerfile", 3)]


def test_nvidia_wheels_of_another_major_are_reported_once_per_file() -> None:
    found = check(
        dockerfile(
            "Dockerfile",
            pin("nvidia-cublas-cu11", "11.11.3.6", 3),
            pin("nvidia-cudnn-cu11", "8.9.2.26", 4),
            pin("tensorflow", "2.14.0", 5),
        )
    )
    f = only(found, "RP503")
    assert (f.location.line, f.subject, f.fix) == (3, "nvidia-cublas-cu11", "nvidia-cublas-cu12")
    assert f.message.startswith("nvidia-cublas-cu11 and 1 more CUDA 11 wheels are CUDA 11 builds")


def test_tensorflow_built_for_another_cuda_major() -> None:
    found = check(dockerfile("Dockerfile", pin("tensorflow", "2.13.0", 3)))
    assert only(found, "RP503").message.startswith("tensorflow==2.13.0 is built for CUDA 11.8, but")
    assert check(dockerfile("Dockerfile", pin("tensorflow", "2.15.0", 3))) == []


def test_a_stage_is_judged_against_its_parent_stages_image() -> None:
    docker = facts(
        "Dockerfile",
        pin("torch", "2.3.1+cu118", 12),
        kind="dockerfile",
        images=((RUNTIME, 1),),
        sections=(stage("base", 1, 9), stage("app", 10, 20, parent="base")),
    )
    assert rule_hits(check(docker)) == [("RP503", "Dockerfile", 12)]


def test_images_of_unknown_cuda_are_not_compared() -> None:
    docker = dockerfile(
        "Dockerfile", pin("torch", "2.3.1+cu118", 3), image="pytorch/pytorch:latest"
    )
    assert check(docker) == []


def test_an_included_requirements_file_is_judged_against_the_includers_image() -> None:
    docker = dockerfile("Dockerfile", includes=(("requirements.txt", 3),))
    req = facts("requirements.txt", pin("torchvision", "0.18.1+cu118", 2))
    assert rule_hits(check(docker, req)) == [("RP503", "requirements.txt", 2)]


# --- through the real audit: installs followed to their lock -----------------------------


def test_uv_sync_in_a_dockerfile_uses_the_locks_variants(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                f"FROM {RUNTIME}\n"
                "WORKDIR /app\n"
                "COPY server server\n"
                "RUN cd server && uv sync --frozen --no-install-project\n"
            ),
            "server/pyproject.toml": (
                '[project]\nname = "server"\nversion = "1"\nrequires-python = ">=3.10"\n'
                'dependencies = ["torch==2.3.1"]\n'
            ),
            "server/uv.lock": (
                'version = 1\nrequires-python = ">=3.10"\n\n'
                '[[package]]\nname = "torch"\nversion = "2.3.1+cu118"\n'
                'source = { registry = "https://download.pytorch.org/whl/cu118" }\n'
            ),
        }
    )
    assert rule_hits(found) == [("RP503", "server/uv.lock", 5)]
    assert only(found, "RP503").fix == "torch==2.3.1+cu121"


@pytest.mark.parametrize(
    ("command", "lock", "text"),
    [
        (
            "poetry install --no-root",
            "poetry.lock",
            '[[package]]\nname = "torch"\nversion = "2.3.1+cu118"\ndescription = ""\n'
            'optional = false\npython-versions = ">=3.8"\nfiles = []\n\n'
            '[metadata]\nlock-version = "2.0"\npython-versions = "^3.10"\ncontent-hash = "x"\n',
        ),
        (
            "pip install -r requirements.txt",
            "requirements.txt",
            "torch==2.3.1+cu118\n",
        ),
    ],
)
def test_other_installers_in_a_dockerfile_use_their_lock(
    audit: Audit, command: str, lock: str, text: str
) -> None:
    found = audit(
        {
            "Dockerfile": f"FROM {RUNTIME}\nWORKDIR /app\nCOPY . .\nRUN {command}\n",
            "pyproject.toml": '[tool.poetry]\nname = "x"\nversion = "1"\n',
            lock: text,
        }
    )
    assert [f.location.path for f in found if f.rule == "RP503"] == [lock]


def test_an_index_for_another_cuda_is_reported_at_its_line(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "ARG CUDA=11.8.0\n"
                "FROM nvidia/cuda:${CUDA}-cudnn8-runtime-ubuntu22.04\n"
                "# pip install --index-url https://download.pytorch.org/whl/cu117 (a comment)\n"
                "RUN pip install \\\n"
                "    --index-url https://download.pytorch.org/whl/cu121 \\\n"
                "    torch==2.3.1\n"
            )
        }
    )
    assert rule_hits(found, "RP503") == [("RP503", "Dockerfile", 5)]
    assert only(found, "RP503").fix == "https://download.pytorch.org/whl/cu118"


def test_an_index_fix_names_only_an_index_that_exists(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "FROM nvidia/cuda:12.3.2-devel-ubuntu22.04\n"
                "RUN pip install --index-url https://download.pytorch.org/whl/cu121 torch==2.3.1\n"
            )
        }
    )
    assert rule_hits(found, "RP503") == [("RP503", "Dockerfile", 2)]
    assert only(found, "RP503").fix is None  # there is no .../whl/cu123


def test_a_lock_installed_elsewhere_is_not_judged_against_an_unrelated_image(audit: Audit) -> None:
    found = audit(
        {
            "serving/Dockerfile": f"FROM {RUNTIME}\nRUN pip install numpy==1.26.4\n",
            "training/uv.lock": (
                'version = 1\n\n[[package]]\nname = "torch"\nversion = "2.3.1+cu118"\n'
                'source = { registry = "https://download.pytorch.org/whl/cu118" }\n'
            ),
        }
    )
    assert rule_hits(found) == []


def test_a_workflow_job_container_is_an_environment(audit: Audit) -> None:
    found = audit(
        {
            ".github/workflows/gpu.yml": (
                "name: gpu\n"
                "on: push\n"
                "jobs:\n"
                "  test:\n"
                "    runs-on: [self-hosted, gpu]\n"
                f"    container: {RUNTIME}\n"
                "    steps:\n"
                "      - run: pip install torch==2.3.1+cu118\n"
                "  cpu:\n"
                "    runs-on: ubuntu-latest\n"
                "    steps:\n"
                "      - run: pip install torch==2.3.1+cu118\n"
            ),
        }
    )
    assert rule_hits(found) == [("RP503", ".github/workflows/gpu.yml", 8)]


def test_a_lock_role_is_kept_for_lock_pins() -> None:
    lock = facts("uv.lock", pin("torch", "2.3.1+cu118", 7), role=Role.LOCK, kind="uv.lock")
    docker = dockerfile("Dockerfile", includes=(("uv.lock", 3),))
    assert rule_hits(check(docker, lock)) == [("RP503", "uv.lock", 7)]
