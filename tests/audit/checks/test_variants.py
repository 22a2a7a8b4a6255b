"""RP502: a GPU framework whose build the pin leaves to chance, in an environment on CUDA."""

from __future__ import annotations

from collections.abc import Callable

from reprolock.audit.interface import Declared, Role
from reprolock.model import Finding
from reprolock.specs import classify
from tests.audit.checks.helpers import (
    check,
    dockerfile,
    facts,
    job,
    only,
    pin,
    rule_hits,
)

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

CUDA_118 = "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04"


def test_a_default_wheel_of_another_cuda_major_is_reported_with_a_listed_variant() -> None:
    found = check(dockerfile("Dockerfile", pin("torch", "2.3.1", 4), image=CUDA_118))
    f = only(found, "RP502")
    assert (f.location.path, f.location.line, f.subject) == ("Dockerfile", 4, "torch")
    assert f.message == (
        "torch==2.3.1 has no variant: the default Linux wheel of torch 2.3.1 on PyPI is the "
        "CUDA 12.1 build, but the environment has CUDA 11.8 (the image "
        f"{CUDA_118} (Dockerfile:1))"
    )
    assert f.fix == "torch==2.3.1+cu118"


def test_a_fix_never_names_a_wheel_the_table_does_not_list() -> None:
    # CUDA 11.3 image, torch 2.3.1: no cu113 build of 2.3 and no other CUDA 11 build at or
    # below 11.3, so no wheel to name.
    image = "nvidia/cuda:11.3.1-runtime-ubuntu20.04"
    assert (
        only(check(dockerfile("Dockerfile", pin("torch", "2.3.1", 4), image=image)), "RP502").fix
        is None
    )
    # CUDA 12.4 image, torch 1.12.0 (default 10.2): the newest 12.x build at or below 12.4 of
    # 1.12 does not exist either.
    image = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    assert (
        only(check(dockerfile("Dockerfile", pin("torch", "1.12.0", 4), image=image)), "RP502").fix
        is None
    )
    # CUDA 12.4 image, torchvision 0.16.0 (torch 2.1, default cu121): the same major, no finding.
    assert check(dockerfile("Dockerfile", pin("torchvision", "0.16.0", 4), image=image)) == []


def test_the_default_cuda_wheel_is_not_reported_where_it_fits() -> None:
    """pytorch/serve requirements/torch_cu102_linux.txt (torch 1.12.0: its PyPI wheel is the CUDA
    10.2 build); text-generation-inference Dockerfile (torch 2.7 in a CUDA 12.4 image: the
    12.6 wheel brings its own CUDA runtime)."""
    cu102 = facts(
        "requirements/torch_cu102_linux.txt",
        pin("torch", "1.12.0", 3),
        pin("torchvision", "0.13.0", 4),
        pin("torchaudio", "0.12.0", 6),
    )
    tgi = dockerfile(
        "Dockerfile", pin("torch", "2.7", 68), image="nvidia/cuda:12.4.1-devel-ubuntu22.04"
    )
    assert check(cu102, tgi) == []


def test_a_sibling_of_another_cuda_major_in_the_environment() -> None:
    """The example project: torch from PyPI is CUDA 12.1, torchvision is pinned +cu118."""
    docker = dockerfile(
        "training/Dockerfile",
        pin("torchvision", "0.18.1+cu118", 11),
        image="nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04",
        includes=(("training/requirements.txt", 10),),
    )
    req = facts("training/requirements.txt", pin("torch", "2.3.1", 7))
    f = only(check(docker, req), "RP502")
    assert (f.location.path, f.location.line) == ("training/requirements.txt", 7)
    assert f.message == (
        "torch==2.3.1 has no variant: the default Linux wheel of torch 2.3.1 on PyPI is the CUDA "
        "12.1 build, but torchvision==0.18.1+cu118 (training/Dockerfile:11) in the same "
        "environment is a CUDA 11.8 build"
    )
    assert f.fix == "torch==2.3.1+cu121"


def test_a_release_without_variants_is_not_judged() -> None:
    """pytorch/serve requirements/torch_cu101_linux.txt: torchaudio 0.8.1 never had +cu wheels."""
    found = check(
        facts(
            "requirements/torch_cu101_linux.txt",
            pin("torch", "1.8.1+cu101", 4),
            pin("torchaudio", "0.8.1", 7),
        )
    )
    assert rule_hits(found, "RP502") == []


def test_a_release_the_table_does_not_know_is_not_judged() -> None:
    assert check(dockerfile("Dockerfile", pin("torch", "9.0.0", 4), image=CUDA_118)) == []


def test_a_non_cuda_stack_is_not_judged() -> None:
    """text-generation-inference server/requirements_intel.txt, requirements_rocm.txt,
    Dockerfile_gaudi, Dockerfile.neuron: not CUDA at all."""
    files = (
        facts("server/requirements_intel.txt", pin("torch", "2.7.0", 337)),
        facts("server/requirements_rocm.txt", pin("torch", "2.7.0", 337)),
        dockerfile("Dockerfile_gaudi", pin("torch", "2.6.0", 9), image="ubuntu:22.04"),
        dockerfile("Dockerfile.neuron", pin("torch", "2.1.2", 9), image="ubuntu:22.04"),
        dockerfile("docker/Dockerfile.cpu", pin("torch", "2.1.2", 9), image="ubuntu:22.04"),
        facts(
            "requirements/torch_linux.txt",
            pin("torch", "2.4.0+cpu"),
            pin("torchvision", "0.19.0", 2),
        ),
    )
    assert check(*files) == []


def test_nothing_saying_cuda_is_not_judged() -> None:
    """A requirements file nothing installs on a known platform, in a repository with a CUDA
    image elsewhere: the image is not its platform."""
    other = dockerfile("serve/Dockerfile", pin("numpy", "1.26.4", 3), image=CUDA_118)
    assert check(other, facts("requirements.txt", pin("torch", "1.12.0"))) == []


def test_a_non_linux_job_is_not_judged() -> None:
    """detectron2 .github/workflows/workflow.yml: torch on a macos-latest and a windows job."""
    ci = facts(
        ".github/workflows/workflow.yml",
        pin("torch", "1.13.1", 71),
        pin("torch", "1.13.1", 230),
        kind="workflow",
        sections=(
            job("macos_tests", 36, 85, "macos-latest"),
            job("windows_cpu_tests", 192, 239, "windows-latest"),
        ),
    )
    gpu = facts(
        ".github/workflows/gpu.yml",
        pin("torch", "1.13.1", 20),
        kind="workflow",
        sections=(job("gpu", 3, 30, "self-hosted", "windows", "gpu"),),
    )
    assert check(ci, gpu) == []


def test_a_cpu_job_on_a_hosted_runner_is_not_judged() -> None:
    ci = facts(
        ".github/workflows/ci.yml",
        pin("torch", "1.12.0", 20),
        kind="workflow",
        sections=(job("test", 3, 30, "ubuntu-22.04"),),
    )
    assert check(ci) == []


def test_a_gpu_runner_of_unknown_cuda_accepts_any_cuda_default() -> None:
    ci = facts(
        ".github/workflows/gpu.yml",
        pin("torch", "1.12.0", 20),
        pin("jaxlib", "0.4.30", 21),
        kind="workflow",
        sections=(job("gpu", 3, 30, "4-core-ubuntu-gpu-t4"),),
    )
    found = check(ci)
    assert rule_hits(found) == [("RP502", ".github/workflows/gpu.yml", 21)]
    assert found[0].message.startswith(
        "jaxlib==0.4.30 has no variant: every jaxlib wheel on PyPI is a CPU build"
    )
    assert found[0].fix == "https://storage.googleapis.com/jax-releases/jax_cuda_releases.html"


def test_pinned_variants() -> None:
    files = (
        dockerfile("a/Dockerfile", pin("torch", "2.3.1+cu118", 4), image=CUDA_118),
        dockerfile("b/Dockerfile", pin("torch", "2.3.1", 4, hashed=True), image=CUDA_118),
        dockerfile(
            "c/Dockerfile", pin("torch", "2.3.1", 4), pin("pytorch-cuda", "11.8", 5), image=CUDA_118
        ),
        dockerfile(
            "d/Dockerfile",
            pin("jaxlib", "0.4.30", 4),
            pin("jax-cuda12-plugin", "0.4.30", 4),
            image=CUDA_118,
        ),
        dockerfile("e/Dockerfile", pin("tensorflow", "2.15.0", 4), image=CUDA_118),
    )
    assert rule_hits(check(*files), "RP502") == []


def test_tensorflow_without_cuda_libraries() -> None:
    ci = facts(
        ".github/workflows/gpu.yml",
        pin("tensorflow", "2.15.0", 20),
        pin("tensorflow", "2.13.0", 40),
        kind="workflow",
        sections=(job("a", 3, 30, "gpu"), job("b", 31, 50, "gpu")),
    )
    found = check(ci)
    assert rule_hits(found) == [
        ("RP502", ".github/workflows/gpu.yml", 20),
        ("RP502", ".github/workflows/gpu.yml", 40),
    ]
    assert [f.fix for f in found] == ["tensorflow[and-cuda]==2.15.0", None]


def test_conda_packages_are_not_judged_but_pip_entries_of_environment_yml_are() -> None:
    env = facts(
        "environment-gpu.yml",
        pin("jaxlib", "0.4.30", 5),
        pin("jaxlib", "0.4.31", 9),
        role=Role.CONCRETE,
        kind="environment.yml",
        declared=(Declared(spec=classify("jaxlib==0.4.31"), line=9, group="pip"),),
    )
    assert rule_hits(check(env)) == [("RP502", "environment-gpu.yml", 9)]


# --- through the real audit: the index on the command -------------------------------------


def test_a_variant_index_on_the_line_selects_the_variant(audit: Audit) -> None:
    """text-generation-inference Dockerfile_intel: --index-url .../whl/xpu on the same RUN;
    detectron2 docker/Dockerfile: -f .../whl/cu111/torch_stable.html on the same RUN."""
    found = audit(
        {
            "a/Dockerfile": (
                "FROM nvidia/cuda:11.1.1-cudnn8-devel-ubuntu18.04\n"
                "RUN pip install --user torch==1.10 torchvision==0.11.1 "
                "-f https://download.pytorch.org/whl/cu111/torch_stable.html\n"
            ),
            "b/Dockerfile": (
                "FROM nvidia/cuda:11.3.1-cudnn8-runtime-ubuntu20.04\n"
                "RUN pip install torch==1.12.0 torchvision==0.13.0 \\\n"
                "    --index-url https://download.pytorch.org/whl/cu113\n"
                "RUN pip install torchaudio==0.12.0\n"
            ),
        }
    )
    # Only the command without a variant page: torchaudio 0.12's default is CUDA 10.2.
    assert rule_hits(found) == [("RP502", "b/Dockerfile", 4)]
    assert only(found, "RP502").fix == "torchaudio==0.12.0+cu113"


def test_an_index_in_a_requirements_file_covers_the_file_and_its_includes(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04\n"
                "COPY . .\n"
                "RUN pip install -r requirements.txt\n"
                "RUN pip install -r other.txt\n"
            ),
            "requirements.txt": (
                "--index-url https://download.pytorch.org/whl/cu118\n-r base.txt\ntorch==2.3.1\n"
            ),
            "base.txt": "torchvision==0.18.1\n",
            "other.txt": "# comment: https://download.pytorch.org/whl/cu118\ntorchaudio==2.3.1\n",
        }
    )
    assert rule_hits(found) == [("RP502", "other.txt", 2)]
