"""Cross-file ML checks: framework skew (RP501), CUDA variants (RP502, RP503), Python drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.audit.engine import run_audit
from reprolock.audit.frameworks import (
    Cuda,
    PythonVersionScanner,
    cross_check,
    cuda_target,
    environments,
    image_cuda,
    index_cuda,
    local_cuda,
    pin_cuda,
    python_minor,
)
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    ImageRef,
    Include,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    SourceFile,
)
from reprolock.audit.registry import all_scanners
from reprolock.config import BUILTIN_FRAMEWORKS, Config, load_config
from reprolock.model import Finding, Severity
from reprolock.specs import classify
from tests.conftest import FIXTURES, hits

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

# --- helpers ---------------------------------------------------------------------------------


def pin(name: str, version: str, line: int = 1, *, hashed: bool = False) -> Pin:
    return Pin(name=name, version=version, line=line, hashed=hashed)


def env(
    path: str,
    *pins: Pin,
    role: Role = Role.CONCRETE,
    kind: str = "requirements",
    includes: tuple[str, ...] = (),
    images: tuple[tuple[str, int], ...] = (),
    indexes: tuple[str, ...] = (),
    pythons: tuple[tuple[str, int, str], ...] = (),
    declared: tuple[Declared, ...] = (),
) -> FileFacts:
    return FileFacts(
        path=path,
        kind=kind,
        role=role,
        pins=pins,
        includes=tuple(Include(target=t, line=1) for t in includes),
        images=tuple(ImageRef(ref=r, line=n) for r, n in images),
        indexes=indexes,
        pythons=tuple(PythonVersion(value=v, line=n, origin=o) for v, n, o in pythons),
        declared=declared,
    )


def check(
    *files: FileFacts, root: Path = Path("/nonexistent"), frameworks: tuple[str, ...] = ()
) -> list[Finding]:
    config = Config(frameworks=(*BUILTIN_FRAMEWORKS, *frameworks))
    found = cross_check({f.path: f for f in files}, ScanContext(root=root, config=config))
    return sorted(found, key=lambda f: f.sort_key)


def rule_hits(findings: list[Finding], prefix: str = "RP5") -> list[tuple[str, str, int]]:
    return [h for h in hits(findings) if h[0].startswith(prefix)]


def only(findings: list[Finding], rule: str) -> Finding:
    picked = [f for f in findings if f.rule == rule]
    assert len(picked) == 1, hits(findings)
    return picked[0]


CUDA_IMAGE = ("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", 1)


def dockerfile(
    path: str, *pins: Pin, image: tuple[str, int] = CUDA_IMAGE, **kw: object
) -> FileFacts:
    return env(path, *pins, kind="dockerfile", images=(image,), **kw)  # type: ignore[arg-type]


# --- RP501 framework skew --------------------------------------------------------------------


def test_skew_between_two_environments_is_reported_at_the_deviating_pin() -> None:
    found = check(
        env("serving/requirements.txt", pin("scikit-learn", "1.4.2", 3)),
        env("training/requirements.txt", pin("scikit-learn", "1.3.2", 5)),
    )
    # A tie: the environment whose path sorts first sets the reference.
    assert hits(found) == [("RP501", "training/requirements.txt", 5)]
    f = found[0]
    assert f.message == "scikit-learn==1.3.2 here, but 1.4.2 in serving/requirements.txt:3"
    assert (f.subject, f.fix, f.severity) == ("scikit-learn", "scikit-learn==1.4.2", Severity.ERROR)


def test_the_reference_is_the_version_most_environments_use() -> None:
    found = check(
        env("a/requirements.txt", pin("torch", "2.2.0", 2)),
        env("b/requirements.txt", pin("torch", "2.3.1", 4)),
        env("c/poetry.lock", pin("torch", "2.3.1", 9), role=Role.LOCK, kind="poetry.lock"),
    )
    assert hits(found) == [("RP501", "a/requirements.txt", 2)]
    assert found[0].message == "torch==2.2.0 here, but 2.3.1 in b/requirements.txt:4"
    assert found[0].fix == "torch==2.3.1"


def test_three_versions_name_every_other_version() -> None:
    found = check(
        env("a.txt", pin("numpy", "1.26.4")),
        env("b.txt", pin("numpy", "1.26.4")),
        env("c.txt", pin("numpy", "1.25.2", 7)),
        env("d.txt", pin("numpy", "2.0.1", 2)),
    )
    assert hits(found) == [("RP501", "c.txt", 7), ("RP501", "d.txt", 2)]
    assert found[0].message == "numpy==1.25.2 here, but 1.26.4 in a.txt:1 and 2.0.1 in d.txt:2"


def test_same_versions_are_not_skew() -> None:
    assert (
        check(
            env("serving/requirements.txt", pin("scikit-learn", "1.3.2")),
            env("training/requirements.txt", pin("scikit-learn", "1.3.2")),
            env("uv.lock", pin("scikit-learn", "1.3.2.0"), role=Role.LOCK, kind="uv.lock"),
        )
        == []
    )


def test_a_variant_difference_is_not_a_version_skew() -> None:
    found = check(
        env("serving/requirements.txt", pin("torch", "2.3.1+cpu")),
        env("training/requirements.txt", pin("torch", "2.3.1+cu121")),
    )
    assert rule_hits(found, "RP501") == []


def test_the_fix_keeps_the_deviating_pin_variant() -> None:
    found = check(
        env("a.txt", pin("torch", "2.3.1+cpu")),
        env("b.txt", pin("torch", "2.3.1+cpu")),
        env("c.txt", pin("torch", "2.2.2+cu121", 3)),
    )
    assert only(found, "RP501").fix == "torch==2.3.1+cu121"


def test_versions_within_one_file_never_skew() -> None:
    # Environment markers: numpy 1.26 on old Pythons, 2.0 on new ones, in one lock.
    lock = env(
        "poetry.lock",
        pin("numpy", "1.26.4", 10),
        pin("numpy", "2.0.1", 20),
        role=Role.LOCK,
        kind="poetry.lock",
    )
    assert check(lock) == []
    # Another environment sharing one of those versions agrees with it.
    assert check(lock, env("serving/requirements.txt", pin("numpy", "2.0.1"))) == []


def test_an_included_file_carries_its_versions_into_the_includer() -> None:
    docker = env("Dockerfile", pin("numpy", "1.26.4", 6), kind="dockerfile", includes=("req.txt",))
    included = env("req.txt", pin("scikit-learn", "1.3.2", 2))
    other = env("training/requirements.txt", pin("scikit-learn", "1.3.2", 1))
    # The Dockerfile and the file it installs are one environment: no skew between them.
    assert check(docker, included, other) == []


def test_skew_in_an_included_file_is_reported_once_at_its_own_line() -> None:
    docker = env("Dockerfile", kind="dockerfile", includes=("serving/requirements.txt",))
    included = env("serving/requirements.txt", pin("scikit-learn", "1.4.2", 2))
    training = env("training/requirements.txt", pin("scikit-learn", "1.3.2", 1))
    other = env("training/Dockerfile", kind="dockerfile", includes=("training/requirements.txt",))
    ci = env(".github/workflows/ci.yml", pin("scikit-learn", "1.3.2", 30), kind="workflow")
    found = check(docker, included, training, other, ci)
    assert hits(found) == [("RP501", "serving/requirements.txt", 2)]
    assert found[0].message == (
        "scikit-learn==1.4.2 here, but 1.3.2 in .github/workflows/ci.yml:30 "
        "(installed by Dockerfile)"
    )


def test_include_cycles_terminate() -> None:
    a = env("a.txt", pin("torch", "2.3.1"), includes=("b.txt",))
    b = env("b.txt", pin("torch", "2.2.0", 4), includes=("a.txt",))
    assert check(a, b) == []


def test_manifests_and_other_files_are_not_environments() -> None:
    manifest = env("requirements.in", pin("scikit-learn", "1.4.2"), role=Role.MANIFEST)
    other = env("notes.yml", pin("scikit-learn", "1.2.0"), role=Role.OTHER)
    lock = env("requirements.txt", pin("scikit-learn", "1.3.2"), role=Role.LOCK)
    assert check(manifest, other, lock) == []


def test_only_frameworks_are_compared_and_the_list_is_configurable() -> None:
    files = (env("a.txt", pin("my-lib", "1.0", 2)), env("b.txt", pin("my-lib", "2.0", 3)))
    assert check(*files) == []
    assert hits(check(*files, frameworks=("My_Lib",))) == [("RP501", "b.txt", 3)]
    assert (
        check(env("a.txt", pin("requests", "2.31.0")), env("b.txt", pin("requests", "2.32.3")))
        == []
    )


# --- CUDA detection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", Cuda(major=12, minor=1)),
        (
            "docker.io/nvidia/cuda:11.8.0-base-ubuntu22.04@sha256:" + "a" * 64,
            Cuda(major=11, minor=8),
        ),
        ("nvcr.io/nvidia/cuda:12.4.1-devel-ubuntu22.04", Cuda(major=12, minor=4)),
        ("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime", Cuda(major=12, minor=1)),
        ("pytorch/pytorch:1.13.1-cuda11.6-cudnn8-devel", Cuda(major=11, minor=6)),
        ("rapidsai/base:24.04-cuda12.2-py3.11", Cuda(major=12, minor=2)),
        ("ghcr.io/acme/trainer:2.3.1-cu118", Cuda(major=11, minor=8)),
        ("tensorflow/tensorflow:2.15.0-gpu", Cuda(major=12, minor=2)),
        ("tensorflow/tensorflow:2.14.0-gpu-jupyter", Cuda(major=11, minor=8)),
        ("nvcr.io/nvidia/pytorch:24.01-py3", Cuda(major=12, minor=3)),
        ("nvcr.io/nvidia/tensorflow:22.12-tf2-py3", Cuda(major=11, minor=8)),
    ],
)
def test_cuda_images_with_a_known_version(ref: str, expected: Cuda) -> None:
    found = image_cuda(ref)
    assert found is not None
    assert found.cuda == expected


@pytest.mark.parametrize(
    "ref",
    [
        "pytorch/pytorch:latest",
        "nvidia/cuda",
        "tensorflow/tensorflow:latest-gpu",
        "tensorflow/tensorflow:1.15.5-gpu",  # not in the tested-build table: not guessed
        "nvcr.io/nvidia/pytorch:24.02-py3",  # a month not in the table
    ],
)
def test_cuda_images_of_unknown_version(ref: str) -> None:
    found = image_cuda(ref)
    assert found is not None
    assert found.cuda is None


@pytest.mark.parametrize(
    "ref",
    [
        "python:3.11-slim",
        "tensorflow/tensorflow:2.15.0",
        "ubuntu:22.04",
        "nvcr.io/nvidia/tritonserver:24.01-py3-cpu",
        "scratch",
        "ghcr.io/acme/cuber:1.0",
    ],
)
def test_images_that_are_not_cuda(ref: str) -> None:
    assert image_cuda(ref) is None


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.3.1+cu121", Cuda(major=12, minor=1)),
        ("2.0.1+cu118", Cuda(major=11, minor=8)),
        ("1.4.0+cu92", Cuda(major=9, minor=2)),
        ("0.4.26+cuda12.cudnn89", Cuda(major=12)),
        ("0.1.69+cuda111", Cuda(major=11, minor=1)),
        ("2.3.1+cpu", None),
        ("2.3.1+rocm6.0", None),
        ("2.3.1", None),
    ],
)
def test_local_version_cuda(version: str, expected: Cuda | None) -> None:
    assert local_cuda(version) == expected


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("nvidia-cublas-cu12", "12.1.3.1", Cuda(major=12)),
        ("nvidia-cudnn-cu11", "8.7.0.84", Cuda(major=11)),
        ("jax-cuda12-plugin", "0.4.30", Cuda(major=12)),
        ("cupy-cuda12x", "13.1.0", Cuda(major=12)),
        ("cupy-cuda117", "12.0.0", Cuda(major=11, minor=7)),
        ("pytorch-cuda", "12.1", Cuda(major=12, minor=1)),
        ("cudatoolkit", "11.8.0", Cuda(major=11, minor=8)),
        ("nvidia-ml-py", "12.535.161", None),
        ("numpy", "1.26.4", None),
    ],
)
def test_pins_that_name_a_cuda_build(name: str, version: str, expected: Cuda | None) -> None:
    found = pin_cuda(pin(name, version))
    assert (found.cuda if found else None) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://download.pytorch.org/whl/cu121", Cuda(major=12, minor=1)),
        ("https://download.pytorch.org/whl/nightly/cu118/", Cuda(major=11, minor=8)),
        ("https://download.pytorch.org/whl/cpu", None),
        ("https://pypi.org/simple", None),
    ],
)
def test_index_cuda(url: str, expected: Cuda | None) -> None:
    assert index_cuda(url) == expected


@pytest.mark.parametrize(
    "signal",
    [
        env("Dockerfile", kind="dockerfile", images=(("pytorch/pytorch:latest", 1),)),
        env("requirements.txt", pin("torch", "2.3.1+cu121")),
        env("requirements.txt", pin("nvidia-cudnn-cu12", "8.9.2.26")),
        env("requirements.txt", pin("jax-cuda12-pjrt", "0.4.30")),
        env("environment.yml", pin("pytorch-cuda", "12.1"), kind="environment.yml"),
        env("requirements.txt", indexes=("https://download.pytorch.org/whl/cu118",)),
        env(
            "requirements.txt",
            indexes=("https://storage.googleapis.com/jax-releases/jax_cuda_releases.html",),
        ),
    ],
)
def test_each_signal_makes_the_repository_target_cuda(signal: FileFacts) -> None:
    assert cuda_target({signal.path: signal}) is not None
    torch = env("serving/requirements.txt", pin("torch", "2.3.1", 4))
    assert rule_hits(check(signal, torch), "RP502") == [("RP502", "serving/requirements.txt", 4)]


def test_cpu_signals_do_not_target_cuda() -> None:
    files = [
        env("Dockerfile", kind="dockerfile", images=(("python:3.11-slim", 1),)),
        env(
            "requirements.txt",
            pin("torch", "2.3.1+cpu"),
            indexes=("https://download.pytorch.org/whl/cpu",),
        ),
        env("b.txt", pin("tensorflow", "2.15.0"), pin("jaxlib", "0.4.30")),
    ]
    assert cuda_target({f.path: f for f in files}) is None
    assert check(*files) == []


# --- RP502 accelerator variant unpinned ------------------------------------------------------


def test_torch_without_variant_in_a_cuda_image_is_flagged_with_the_image_cuda() -> None:
    found = check(
        dockerfile("Dockerfile", pin("torch", "2.3.1", 3), pin("torchvision", "0.18.1", 3))
    )
    assert hits(found) == [("RP502", "Dockerfile", 3), ("RP502", "Dockerfile", 3)]
    torch = next(f for f in found if f.subject == "torch")
    assert torch.message == (
        "torch==2.3.1 has no +cuXYZ variant and no variant index, but the repository targets "
        "CUDA: nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 (Dockerfile:1)"
    )
    assert (torch.fix, torch.severity) == ("torch==2.3.1+cu121", Severity.WARNING)


@pytest.mark.parametrize(
    "torch",
    [
        env("requirements.txt", pin("torch", "2.3.1+cu121")),
        env("requirements.txt", pin("torch", "2.3.1+cpu")),
        env("requirements.txt", pin("torch", "2.3.1", hashed=True)),
        env(
            "requirements.txt",
            pin("torch", "2.3.1"),
            indexes=("https://download.pytorch.org/whl/cu121",),
        ),
        env(
            "requirements.txt",
            pin("torch", "2.3.1"),
            indexes=("https://download.pytorch.org/whl/cpu",),
        ),
        env(
            "environment.yml",
            pin("torch", "2.3.1", 5),
            pin("pytorch-cuda", "12.1"),
            kind="conda-lock.yml",
        ),
    ],
)
def test_torch_with_a_pinned_variant_is_fine(torch: FileFacts) -> None:
    assert rule_hits(check(dockerfile("gpu/Dockerfile"), torch), "RP502") == []


def test_a_variant_index_on_the_includer_covers_the_included_file() -> None:
    docker = dockerfile(
        "Dockerfile",
        includes=("requirements.txt",),
        indexes=("https://download.pytorch.org/whl/cu121",),
    )
    assert check(docker, env("requirements.txt", pin("torch", "2.3.1", 2))) == []
    # Without the index, the finding lands on the included file's line, once.
    bare = dockerfile("Dockerfile", includes=("requirements.txt",))
    found = check(bare, env("requirements.txt", pin("torch", "2.3.1", 2)))
    assert hits(found) == [("RP502", "requirements.txt", 2)]


def test_no_rp502_when_nothing_targets_cuda() -> None:
    assert check(env("requirements.txt", pin("torch", "2.3.1"), pin("tensorflow", "2.15.0"))) == []


def test_jaxlib_needs_a_cuda_plugin_or_a_cuda_build() -> None:
    gpu = dockerfile("Dockerfile")
    found = check(gpu, env("requirements.txt", pin("jax", "0.4.30"), pin("jaxlib", "0.4.30", 2)))
    assert hits(found) == [("RP502", "requirements.txt", 2)]
    assert found[0].fix == "jax[cuda12]==0.4.30"
    plugin = env("requirements.txt", pin("jaxlib", "0.4.30"), pin("jax-cuda12-plugin", "0.4.30"))
    assert check(gpu, plugin) == []
    assert check(gpu, env("requirements.txt", pin("jaxlib", "0.4.26+cuda12.cudnn89"))) == []


def test_tensorflow_needs_nvidia_wheels_or_a_cuda_image() -> None:
    gpu = dockerfile("gpu/Dockerfile", pin("torch", "2.3.1+cu121"))
    found = check(gpu, env("requirements.txt", pin("tensorflow", "2.15.0", 7)))
    assert hits(found) == [("RP502", "requirements.txt", 7)]
    assert found[0].fix == "tensorflow[and-cuda]==2.15.0"
    and_cuda = env(
        "requirements.txt", pin("tensorflow", "2.15.0"), pin("nvidia-cudnn-cu12", "8.9.4.25")
    )
    assert check(gpu, and_cuda) == []
    image = dockerfile(
        "tf/Dockerfile", pin("tensorflow", "2.15.0"), image=("tensorflow/tensorflow:2.15.0-gpu", 1)
    )
    assert check(gpu, image) == []


def test_conda_packages_are_not_judged_but_pip_entries_of_environment_yml_are() -> None:
    declared = (Declared(spec=classify("torch==2.3.1"), line=9, group="pip"),)
    conda_env = env(
        "environment.yml",
        pin("torch", "2.3.1", 5),  # conda's pytorch, mapped to torch
        pin("torchvision", "0.18.1", 9),
        kind="environment.yml",
        declared=declared,
    )
    assert check(dockerfile("Dockerfile"), conda_env) == []
    pip_env = env(
        "environment.yml",
        pin("torchvision", "0.18.1", 9),
        kind="environment.yml",
        declared=(Declared(spec=classify("torchvision==0.18.1"), line=9, group="pip"),),
    )
    assert hits(check(dockerfile("Dockerfile"), pip_env)) == [("RP502", "environment.yml", 9)]
    lock = env("conda-lock.yml", pin("torch", "2.3.1", 40), role=Role.LOCK, kind="conda-lock.yml")
    assert check(dockerfile("Dockerfile"), lock) == []


# --- RP503 CUDA mismatch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "wheel", "good"),
    [
        ("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "2.3.1+cu118", "2.3.1+cu121"),
        ("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime", "2.3.1+cu118", "2.3.1+cu121"),
        ("nvcr.io/nvidia/pytorch:22.12-py3", "2.3.1+cu121", "2.3.1+cu118"),
        ("tensorflow/tensorflow:2.14.0-gpu", "2.3.1+cu121", "2.3.1+cu118"),
    ],
)
def test_a_wheel_variant_that_disagrees_with_the_image(image: str, wheel: str, good: str) -> None:
    found = check(dockerfile("Dockerfile", pin("torch", wheel, 4), image=(image, 1)))
    assert hits(found) == [("RP503", "Dockerfile", 4)]
    assert found[0].fix == f"torch=={good}"
    assert found[0].severity is Severity.ERROR
    assert check(dockerfile("Dockerfile", pin("torch", good, 4), image=(image, 1))) == []


def test_rp503_message_names_both_sides() -> None:
    found = check(dockerfile("Dockerfile", pin("torch", "2.3.1+cu118", 4)))
    assert found[0].message == (
        "torch==2.3.1+cu118 is a CUDA 11.8 build, but the image "
        "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 (Dockerfile:1) has CUDA 12.1"
    )


def test_nvidia_wheels_of_another_major_are_reported_once_per_file() -> None:
    wheels = [
        pin(f"nvidia-{n}-cu11", "11.11.3.6", i)
        for i, n in enumerate(["cublas", "cudnn", "nccl"], 2)
    ]
    found = check(dockerfile("Dockerfile", *wheels, image=("tensorflow/tensorflow:2.15.0-gpu", 1)))
    assert hits(found) == [("RP503", "Dockerfile", 2)]
    assert found[0].message.startswith(
        "nvidia-cublas-cu11 and 2 more CUDA 11 wheels are CUDA 11 builds"
    )
    assert found[0].fix == "nvidia-cublas-cu12"
    same = [pin("nvidia-cublas-cu12", "12.1.3.1", 2), pin("jax-cuda12-plugin", "0.4.30", 3)]
    assert check(dockerfile("Dockerfile", *same)) == []


def test_a_minor_difference_matters_only_where_the_wheel_names_one() -> None:
    # cu12 wheels run on any CUDA 12; +cu121 is a 12.1 build.
    assert (
        check(
            dockerfile(
                "Dockerfile",
                pin("nvidia-cublas-cu12", "12.4.5.8"),
                image=("nvidia/cuda:12.4.1-base-ubuntu22.04", 1),
            )
        )
        == []
    )
    found = check(
        dockerfile(
            "Dockerfile",
            pin("torch", "2.3.1+cu121", 2),
            image=("nvidia/cuda:12.4.1-base-ubuntu22.04", 1),
        )
    )
    assert hits(found) == [("RP503", "Dockerfile", 2)]


def test_tensorflow_built_for_another_cuda_major() -> None:
    found = check(
        dockerfile(
            "Dockerfile",
            pin("tensorflow", "2.14.0", 3),
            image=("nvidia/cuda:12.2.2-runtime-ubuntu22.04", 1),
        )
    )
    assert hits(found) == [("RP503", "Dockerfile", 3)]
    assert found[0].message.startswith("tensorflow==2.14.0 is built for CUDA 11.8, but the image")
    ok = dockerfile(
        "Dockerfile",
        pin("tensorflow", "2.15.0", 3),
        image=("nvidia/cuda:12.1.1-runtime-ubuntu22.04", 1),
    )
    assert check(ok) == []


def test_an_index_for_another_cuda_is_reported_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\n"
        "RUN pip install --index-url https://download.pytorch.org/whl/cu121 torch==2.3.1\n"
    )
    docker = dockerfile(
        "Dockerfile",
        pin("torch", "2.3.1", 2),
        image=("nvidia/cuda:11.8.0-runtime-ubuntu22.04", 1),
        indexes=("https://download.pytorch.org/whl/cu121",),
    )
    found = check(docker, root=tmp_path)
    assert hits(found) == [("RP503", "Dockerfile", 2)]
    assert found[0].fix == "https://download.pytorch.org/whl/cu118"
    assert found[0].message.startswith(
        "index https://download.pytorch.org/whl/cu121 serves CUDA 12.1 wheels"
    )
    # When the URL cannot be found in the file, the finding goes to the image line.
    assert hits(check(docker, root=tmp_path / "missing")) == [("RP503", "Dockerfile", 1)]


def test_an_included_file_is_judged_against_the_includers_image() -> None:
    docker = dockerfile("Dockerfile", includes=("requirements.txt",))
    req = env("requirements.txt", pin("torch", "2.3.1+cu118", 6))
    assert hits(check(docker, req)) == [("RP503", "requirements.txt", 6)]


def test_a_wheel_matching_any_image_of_the_file_is_fine() -> None:
    multi = env(
        "Dockerfile",
        pin("torch", "2.3.1+cu118", 9),
        kind="dockerfile",
        images=(
            ("nvidia/cuda:12.1.1-devel-ubuntu22.04", 1),
            ("nvidia/cuda:11.8.0-runtime-ubuntu22.04", 5),
        ),
    )
    assert check(multi) == []


def test_images_of_unknown_cuda_are_not_compared() -> None:
    unknown = dockerfile(
        "Dockerfile", pin("torch", "2.3.1+cu118", 2), image=("nvcr.io/nvidia/pytorch:24.02-py3", 1)
    )
    assert check(unknown) == []


def test_a_workflow_job_container_is_an_environment() -> None:
    workflow = env(
        ".github/workflows/gpu.yml",
        pin("torch", "2.3.1+cu118", 14),
        kind="workflow",
        images=(("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime", 9), ("postgres:16", 11)),
    )
    assert hits(check(workflow)) == [("RP503", ".github/workflows/gpu.yml", 14)]


# --- RP504 Python drift ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.11", (3, 11)),
        ("3.11.7", (3, 11)),
        ("3.13-dev", (3, 13)),
        ("3.13t", (3, 13)),
        ("3.12.0rc1", (3, 12)),
        ("cpython-3.12.3", (3, 12)),
        ("3.x", None),
        ("pypy3.10", None),
        ("system", None),
        (">=3.10", None),
    ],
)
def test_python_minor(value: str, expected: tuple[int, int] | None) -> None:
    assert python_minor(value) == expected


def pyfile(
    path: str, *pythons: tuple[str, int, str], images: tuple[tuple[str, int], ...] = ()
) -> FileFacts:
    return env(path, role=Role.OTHER, kind="x", pythons=pythons, images=images)


def test_shipping_versions_that_disagree_are_reported_at_the_minority() -> None:
    found = check(
        pyfile(".python-version", ("3.12", 1, ".python-version")),
        pyfile(
            "Dockerfile",
            ("3.11", 1, "base image"),
            images=(("python:3.11-slim@sha256:" + "b" * 64, 1),),
        ),
        pyfile("environment.yml", ("3.11", 4, "conda")),
    )
    assert hits(found) == [("RP504", ".python-version", 1)]
    f = found[0]
    assert f.message == (
        "Python 3.12 here (.python-version), but 3.11 in Dockerfile:1 (base image), "
        "environment.yml:4 (conda)"
    )
    assert (f.fix, f.subject, f.severity) == ("3.11", "python 3.12", Severity.WARNING)


def test_a_base_image_minority_gets_an_image_fix() -> None:
    found = check(
        pyfile(".python-version", ("3.11.9", 1, ".python-version")),
        pyfile("environment.yml", ("3.11", 4, "conda")),
        pyfile(
            "serve/Dockerfile",
            ("3.10", 3, "base image"),
            images=(("python:3.10-slim-bookworm", 3),),
        ),
    )
    assert hits(found) == [("RP504", "serve/Dockerfile", 3)]
    assert found[0].fix == "FROM python:3.11-slim-bookworm"


def test_patch_versions_agree_with_their_minor() -> None:
    assert (
        check(
            pyfile(".python-version", ("3.11.7", 1, ".python-version")),
            pyfile("Dockerfile", ("3.11", 1, "base image")),
            pyfile("environment.yml", ("3.11.9", 4, "conda")),
        )
        == []
    )


def test_further_pyenv_versions_are_not_shipping_statements() -> None:
    assert (
        check(
            pyfile(
                ".python-version", ("3.11", 1, ".python-version"), ("3.12", 2, ".python-version")
            ),
            pyfile("Dockerfile", ("3.11", 1, "base image")),
        )
        == []
    )


def test_a_shipping_version_requires_python_rejects() -> None:
    found = check(
        pyfile("pyproject.toml", (">=3.12", 7, "requires-python")),
        pyfile("Dockerfile", ("3.11", 1, "base image"), images=(("python:3.11-slim", 1),)),
    )
    assert hits(found) == [("RP504", "Dockerfile", 1)]
    assert found[0].message == (
        "Python 3.11 (base image) is not admitted by requires-python '>=3.12' (pyproject.toml:7)"
    )
    assert found[0].fix is None  # no shipped version satisfies it
    assert (
        check(
            pyfile("pyproject.toml", (">=3.10", 7, "requires-python")),
            pyfile("Dockerfile", ("3.11", 1, "base image")),
        )
        == []
    )


def test_minor_statements_are_admitted_when_some_release_of_the_minor_is() -> None:
    requires = pyfile("pyproject.toml", (">=3.11.4,<3.13", 3, "requires-python"))
    assert check(requires, pyfile(".python-version", ("3.11", 1, ".python-version"))) == []
    found = check(requires, pyfile(".python-version", ("3.11.2", 1, ".python-version")))
    assert hits(found) == [("RP504", ".python-version", 1)]


def test_the_nearest_requires_python_applies() -> None:
    root = pyfile("pyproject.toml", (">=3.10", 5, "requires-python"))
    serving = pyfile("serving/pyproject.toml", (">=3.12", 5, "requires-python"))
    found = check(
        root,
        serving,
        pyfile("training/Dockerfile", ("3.11", 1, "base image")),
        pyfile("serving/Dockerfile", ("3.11", 1, "base image")),
    )
    assert hits(found) == [("RP504", "serving/Dockerfile", 1)]
    # Without an ancestor, only a single requires-python in the repository applies.
    lone = check(serving, pyfile("docker/Dockerfile", ("3.11", 1, "base image")))
    assert hits(lone) == [("RP504", "docker/Dockerfile", 1)]
    assert (
        check(
            serving,
            pyfile("web/pyproject.toml", (">=3.8", 1, "requires-python")),
            pyfile("docker/Dockerfile", ("3.11", 1, "base image")),
        )
        == []
    )


def test_an_admitted_version_wins_a_tie() -> None:
    found = check(
        pyfile(".python-version", ("3.12", 1, ".python-version")),
        pyfile("environment.yml", ("3.11", 4, "conda")),
        pyfile("pyproject.toml", (">=3.10,<3.12", 4, "requires-python")),
    )
    # 3.12 disagrees and is rejected: one finding for the statement, the first reason.
    assert hits(found) == [("RP504", ".python-version", 1)]
    assert "but 3.11 in environment.yml:4 (conda)" in found[0].message


def test_ci_that_tests_no_shipped_version() -> None:
    ship = pyfile("Dockerfile", ("3.11", 1, "base image"))
    found = check(ship, pyfile(".github/workflows/ci.yml", ("3.12", 20, "ci"), ("3.13", 20, "ci")))
    assert hits(found) == [("RP504", ".github/workflows/ci.yml", 20)] * 2
    assert found[0].message == (
        "CI tests Python 3.12, but the project ships 3.11 (Dockerfile:1 (base image)) "
        "and CI tests no shipped version"
    )
    assert found[0].fix == "python-version: '3.11'"
    matrix = pyfile(".github/workflows/ci.yml", ("3.11", 20, "ci"), ("3.12", 20, "ci"))
    assert check(ship, matrix) == []
    # Nothing shipped: CI versions are not judged.
    assert check(pyfile(".github/workflows/ci.yml", ("3.12", 20, "ci"))) == []
    # A floating CI version says nothing (RP403 covers it).
    assert check(ship, pyfile(".github/workflows/ci.yml", ("3.x", 20, "ci"))) == []


# --- .python-version scanner -----------------------------------------------------------------


def test_python_version_file(tmp_path: Path) -> None:
    text = "# pinned for pyenv\n3.11.9\n\n3.12.3 3.10.14\n"
    source = SourceFile(path=".python-version", abspath=tmp_path / ".python-version", text=text)
    facts = PythonVersionScanner().scan(source, ScanContext(root=tmp_path, config=Config()))
    assert [(p.value, p.line, p.origin) for p in facts.pythons] == [
        ("3.11.9", 2, ".python-version"),
        ("3.12.3", 4, ".python-version"),
        ("3.10.14", 4, ".python-version"),
    ]
    assert (facts.role, facts.findings) == (Role.OTHER, ())
    assert PythonVersionScanner().claims("sub/.python-version", ".python-version")
    assert not PythonVersionScanner().claims(".python-versions", ".python-versions")


@pytest.mark.parametrize("text", ["", "\n\n", "system\n", "\x00\x01 ]]\n", "3.11\r\n"])
def test_python_version_file_never_fails(tmp_path: Path, text: str) -> None:
    source = SourceFile(path=".python-version", abspath=tmp_path / ".python-version", text=text)
    facts = PythonVersionScanner().scan(source, ScanContext(root=tmp_path, config=Config()))
    assert check(facts) == []


# --- through the real audit ------------------------------------------------------------------


def test_audit_requirements_skew(audit: Audit) -> None:
    found = audit(
        {
            "training/requirements.txt": "scikit-learn==1.3.2\nnumpy==1.26.4\n",
            "serving/requirements.txt": "fastapi==0.111.0\nscikit-learn==1.4.2\nnumpy==1.26.4\n",
            "research/requirements.txt": "scikit-learn==1.3.2\n",
        }
    )
    assert rule_hits(found) == [("RP501", "serving/requirements.txt", 2)]
    assert only(found, "RP501").message == (
        "scikit-learn==1.4.2 here, but 1.3.2 in research/requirements.txt:1"
    )


def test_audit_markers_in_one_file_and_a_compiled_lock(audit: Audit) -> None:
    found = audit(
        {
            "requirements.txt": (
                "numpy==1.26.4 ; python_version < '3.12'\nnumpy==2.0.1 ; python_version >= '3.12'\n"
            ),
            "pipeline/requirements.in": "numpy>=2\n",
            "pipeline/requirements.txt": (
                "#\n# This file is autogenerated by pip-compile with Python 3.12\n"
                "# by the following command:\n#\n#    pip-compile requirements.in\n#\n"
                "numpy==2.0.1\n    # via -r requirements.in\n"
            ),
        }
    )
    assert rule_hits(found) == []


def test_audit_include_carries_versions(audit: Audit) -> None:
    found = audit(
        {
            "serving/requirements.txt": "-r ../common/base.txt\nfastapi==0.111.0\n",
            "common/base.txt": "# shared\ntorch==2.2.2\n",
            "training/requirements.txt": "torch==2.3.1\n",
            "eval/requirements.txt": "torch==2.3.1\n",
        }
    )
    assert rule_hits(found) == [("RP501", "common/base.txt", 2)]
    assert only(found, "RP501").message.endswith("(installed by serving/requirements.txt)")


def test_audit_configured_framework(audit: Audit) -> None:
    files: dict[str, str | bytes] = {
        "a/requirements.txt": "acme-features==1.2.0\n",
        "b/requirements.txt": "acme-features==1.3.0\n",
    }
    assert rule_hits(audit(files)) == []
    files["pyproject.toml"] = '[tool.repro]\nframeworks = ["acme_features"]\n'
    assert rule_hits(audit(files)) == [("RP501", "b/requirements.txt", 1)]


def test_audit_python_drift_from_pyenv_conda_and_pyproject(audit: Audit) -> None:
    found = audit(
        {
            ".python-version": "3.12.3\n",
            "environment.yml": "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n",
            "research/environment.yml": (
                "name: y\nchannels: [conda-forge]\ndependencies:\n  - python==3.11.9\n"
            ),
            "pyproject.toml": '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.10"\n',
        }
    )
    assert rule_hits(found) == [("RP504", ".python-version", 1)]
    assert only(found, "RP504").message == (
        "Python 3.12.3 here (.python-version), but 3.11 in environment.yml:4 (conda), "
        "research/environment.yml:4 (conda)"
    )


def test_audit_requires_python_from_poetry(audit: Audit) -> None:
    found = audit(
        {
            ".python-version": "3.9\n",
            "pyproject.toml": (
                '[tool.poetry]\nname = "x"\nversion = "1"\n\n'
                '[tool.poetry.dependencies]\npython = "^3.10"\n'
            ),
        }
    )
    assert rule_hits(found) == [("RP504", ".python-version", 1)]
    assert "requires-python '>=3.10,<4' (pyproject.toml:6)" in only(found, "RP504").message


def test_audit_conda_pip_index_pins_the_torch_variant(audit: Audit) -> None:
    found = audit(
        {
            "environment.yml": (
                "name: gpu\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip:\n"
                "    - --index-url https://download.pytorch.org/whl/cu121\n    - torch==2.3.1\n"
            ),
            "serving/requirements.txt": "torch==2.3.1\n",
        }
    )
    assert rule_hits(found) == [("RP502", "serving/requirements.txt", 1)]
    assert only(found, "RP502").message.endswith(
        "targets CUDA: https://download.pytorch.org/whl/cu121 (environment.yml)"
    )
    assert only(found, "RP502").fix == "torch==2.3.1+cu121"


def test_audit_workflow_container_and_ci_python(audit: Audit) -> None:
    found = audit(
        {
            ".python-version": "3.11\n",
            ".github/workflows/gpu.yml": (
                "name: gpu\n"
                "on: push\n"
                "jobs:\n"
                "  test:\n"
                "    runs-on: ubuntu-latest\n"
                "    container: nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"
                "    steps:\n"
                "      - uses: actions/setup-python@0a5c61591373683505ea898e09a3ea4f39ef2b9c\n"
                "        with:\n"
                "          python-version: '3.12'\n"
                "      - run: pip install torch==2.3.1+cu118\n"
            ),
        }
    )
    assert rule_hits(found) == [
        ("RP504", ".github/workflows/gpu.yml", 10),
        ("RP503", ".github/workflows/gpu.yml", 11),
    ]


# --- the monorepo fixture --------------------------------------------------------------------

MONOREPO = FIXTURES / "frameworks" / "monorepo"


def test_monorepo() -> None:
    result = run_audit(MONOREPO, load_config(MONOREPO))
    found = [f for f in result.report.findings if f.rule.startswith("RP5")]
    assert hits(found) == [
        ("RP504", "serving/Dockerfile", 1),
        ("RP501", "serving/requirements.txt", 8),
        ("RP502", "serving/requirements.txt", 12),
        ("RP503", "training/requirements.txt", 7),
    ]
    assert [f.fix for f in found] == [
        "FROM python:3.11-slim",
        "scikit-learn==1.3.2",
        "torch==2.3.1+cu121",
        "torch==2.3.1+cu121",
    ]
    assert found[0].message == (
        "Python 3.10 here (base image), but 3.11 in .python-version:1 (.python-version), "
        "research/environment.yml:6 (conda)"
    )
    assert found[1].message == (
        "scikit-learn==1.4.2 here, but 1.3.2 in training/requirements.txt:5 "
        "(installed by serving/Dockerfile)"
    )
    assert found[3].message == (
        "torch==2.3.1+cu118 is a CUDA 11.8 build, but the image "
        "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 (training/Dockerfile:1) has CUDA 12.1"
    )


def test_monorepo_without_container_recipes() -> None:
    # The CI job installs the training requirements, so the versions are still compared; the
    # image checks need the Dockerfiles.
    scanners = [s for s in all_scanners() if s.name != "dockerfile"]
    result = run_audit(MONOREPO, load_config(MONOREPO), scanners=scanners)
    assert rule_hits(list(result.report.findings)) == [
        ("RP501", "serving/requirements.txt", 8),
        ("RP502", "serving/requirements.txt", 12),
    ]


def test_audit_dockerfile_rule_examples(audit: Audit) -> None:
    found = audit(
        {
            "a/Dockerfile": (
                "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN pip install torch==2.3.1\n"
            ),
            "b/Dockerfile": (
                "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"
                "RUN pip install --index-url https://download.pytorch.org/whl/cu121 torch==2.3.1\n"
            ),
            "c/Dockerfile": (
                "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN pip install torch==2.3.1+cu118\n"
            ),
            "d/Dockerfile": (
                "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN pip install torch==2.3.1+cu121\n"
            ),
        }
    )
    assert rule_hits(found) == [("RP502", "a/Dockerfile", 2), ("RP503", "c/Dockerfile", 2)]


def test_audit_dockerfile_index_for_another_cuda(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "ARG CUDA=11.8.0\n"
                "FROM nvidia/cuda:${CUDA}-cudnn8-runtime-ubuntu22.04\n"
                "RUN pip install \\\n"
                "    --index-url https://download.pytorch.org/whl/cu121 \\\n"
                "    torch==2.3.1\n"
            )
        }
    )
    assert rule_hits(found) == [("RP503", "Dockerfile", 4)]
    assert only(found, "RP503").fix == "https://download.pytorch.org/whl/cu118"


def test_audit_dockerfile_installs_a_requirements_file(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "FROM pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime\n"
                "COPY requirements.txt .\n"
                "RUN pip install -r requirements.txt\n"
            ),
            "requirements.txt": "numpy==1.26.4\ntorchvision==0.18.1+cu118\n",
            "eval/requirements.txt": "numpy==1.26.4\n",
        }
    )
    assert rule_hits(found) == [("RP503", "requirements.txt", 2)]


def test_audit_an_index_covers_only_the_command_that_names_it(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": (
                "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\n"
                "COPY . .\n"
                "RUN pip install -r requirements.txt\n"
                "RUN pip install --extra-index-url https://download.pytorch.org/whl/cu121 \\\n"
                "    torchvision==0.18.1\n"
                "RUN pip install torchaudio==2.3.1\n"
            ),
            "requirements.txt": "torch==2.3.1\n",
            "gpu/Dockerfile": (
                "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\n"
                "COPY . .\n"
                "RUN pip install \\\n"
                "    --index-url https://download.pytorch.org/whl/cu121 \\\n"
                "    -r requirements.txt\n"
            ),
            "gpu/requirements.txt": "torch==2.3.1\n",
        }
    )
    assert rule_hits(found) == [
        ("RP502", "Dockerfile", 6),
        ("RP502", "requirements.txt", 1),
    ]


def test_requirements_style_options_apply_to_the_whole_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--index-url https://download.pytorch.org/whl/cu121\n-r base.txt\n"
    )
    top = env(
        "requirements.txt",
        includes=("base.txt",),
        indexes=("https://download.pytorch.org/whl/cu121",),
    )
    base = env("base.txt", pin("torch", "2.3.1", 3))
    assert check(top, base, dockerfile("Dockerfile"), root=tmp_path) == []


def test_audit_index_in_a_requirements_file(audit: Audit) -> None:
    found = audit(
        {
            "requirements.txt": (
                "--index-url https://download.pytorch.org/whl/cu121\n-r base.txt\ntorch==2.3.1\n"
            ),
            "base.txt": "torchvision==0.18.1\n",
            "cpu/requirements.txt": "torch==2.3.1\n",
        }
    )
    assert rule_hits(found) == [("RP502", "cpu/requirements.txt", 1)]
    assert only(found, "RP502").fix == "torch==2.3.1+cu121"


def test_audit_base_image_python(audit: Audit) -> None:
    files: dict[str, str | bytes] = {
        ".python-version": "3.12\n",
        "Dockerfile": "FROM python:3.11-slim-bookworm\nRUN pip install numpy==1.26.4\n",
        "worker/Dockerfile": "FROM python:3.11.9-slim\n",
    }
    found = audit(files)
    assert rule_hits(found) == [("RP504", ".python-version", 1)]
    assert only(found, "RP504").fix == "3.11"


# --- robustness ------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "torch", "jaxlib", "tensorflow", "numpy", "nvidia-cublas-cu12", "cupy-cuda117",
        "pytorch-cuda", "2.3.1", "2.3.1+cu121", "1!0", "+cuda12.cudnn89", "+cu", "3.11",
        ">=3.10", "^3", "nvidia/cuda:12.1.1", "tensorflow/tensorflow:2.15.0-gpu", ":", "@",
        "nvcr.io/nvidia/pytorch:99.99-py3", "https://download.pytorch.org/whl/cu999/",
        "pytorch/pytorch", "", " ", "x",
    ]
)  # fmt: skip
_TEXT = st.one_of(st.text(max_size=30), st.lists(_WORDS, max_size=4).map("".join))
_ORIGINS = st.sampled_from([".python-version", "base image", "ci", "conda", "requires-python"])


@st.composite
def _facts(draw: st.DrawFn, index: int) -> FileFacts:
    path = draw(st.sampled_from(["a.txt", "b/c.txt", "Dockerfile", "b/Dockerfile", "d/e/f.yml"]))
    return FileFacts(
        path=f"{index}/{path}",
        kind=draw(st.sampled_from(["requirements", "environment.yml", "dockerfile"])),
        role=draw(st.sampled_from(list(Role))),
        pins=tuple(
            Pin(name=draw(_TEXT), version=draw(_TEXT), line=draw(st.integers(0, 9)))
            for _ in range(draw(st.integers(0, 4)))
        ),
        includes=tuple(
            Include(
                target=f"{draw(st.integers(0, 3))}/{draw(st.sampled_from(['a.txt', 'b/c.txt']))}",
                line=1,
            )
            for _ in range(draw(st.integers(0, 2)))
        ),
        images=tuple(ImageRef(ref=draw(_TEXT), line=1) for _ in range(draw(st.integers(0, 2)))),
        pythons=tuple(
            PythonVersion(value=draw(_TEXT), line=1, origin=draw(_ORIGINS))
            for _ in range(draw(st.integers(0, 3)))
        ),
        indexes=tuple(draw(_TEXT) for _ in range(draw(st.integers(0, 2)))),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_cross_check_survives_arbitrary_facts(data: st.DataObject) -> None:
    files = [data.draw(_facts(i)) for i in range(data.draw(st.integers(1, 4)))]
    for f in check(*files, frameworks=("x",)):
        assert f.rule in {"RP501", "RP502", "RP503", "RP504"}
        assert f.location.line >= 1


def test_a_tie_within_one_environment_goes_to_its_first_version(tmp_path: Path) -> None:
    # Two versions of one environment (markers) used equally often: the reference must not
    # depend on string hashing, so every interpreter run reports the same message.
    files = {
        "a/requirements.txt": (
            'torch==2.1.0 ; python_version < "3.10"\ntorch==2.3.0 ; python_version >= "3.10"\n'
        ),
        "b/requirements.txt": "torch==2.2.0\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    messages: set[str] = set()
    for seed in ("1", "5"):  # seeds that ordered the two versions differently
        run = subprocess.run(
            [sys.executable, "-m", "reprolock", "check", str(tmp_path), "--format", "json"],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=False,
        )
        found = json.loads(run.stdout)["findings"]
        messages.update(f["message"] for f in found if f["rule"] == "RP501")
    assert messages == {
        "torch==2.2.0 here, but 2.1.0 in a/requirements.txt:1 and 2.3.0 in a/requirements.txt:2"
    }


def _reference_environments(facts: dict[str, FileFacts]) -> list[tuple[str, ...]]:
    """The definition, one closure per file: every concrete file or lock whose closure pins
    something, unless another such file includes it without being included back."""
    closures: dict[str, tuple[str, ...]] = {}
    for path in sorted(facts):
        if facts[path].role not in (Role.CONCRETE, Role.LOCK):
            continue
        order: dict[str, None] = {}
        pending = [path]
        while pending:
            node = pending.pop(0)
            if node not in order:
                order[node] = None
                pending += [i.target for i in facts[node].includes if i.target in facts]
        if any(facts[m].pins for m in order):
            closures[path] = tuple(order)
    return [
        members
        for path, members in closures.items()
        if not any(
            other != path and path in m and other not in members for other, m in closures.items()
        )
    ]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_top_level_environments_match_their_definition(data: st.DataObject) -> None:
    paths = [f"r{i}.txt" for i in range(data.draw(st.integers(1, 8)))]
    facts = {}
    for path in paths:
        targets = data.draw(st.lists(st.sampled_from([*paths, "gone.txt"]), max_size=3))
        facts[path] = FileFacts(
            path=path,
            kind="requirements",
            role=data.draw(st.sampled_from(list(Role))),
            pins=(Pin(name="six", version="1.0"),) if data.draw(st.booleans()) else (),
            includes=tuple(Include(target=t, line=n + 1) for n, t in enumerate(targets)),
        )
    assert [env.paths for env in environments(facts)] == _reference_environments(facts)


def test_a_long_include_chain_is_one_environment_found_in_linear_time() -> None:
    n = 3000
    facts = {
        f"r{i:04}.txt": FileFacts(
            path=f"r{i:04}.txt",
            kind="requirements",
            role=Role.CONCRETE,
            pins=(Pin(name=f"p{i}", version="1.0"),),
            includes=(Include(target=f"r{i + 1:04}.txt", line=1),) if i + 1 < n else (),
        )
        for i in range(n)
    }
    start = time.monotonic()
    envs = environments(facts)
    assert time.monotonic() - start < 5  # cubic before: minutes
    assert [env.path for env in envs] == ["r0000.txt"]
    assert len(envs[0].pins) == n
