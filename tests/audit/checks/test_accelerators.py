"""The accelerator table shipped in the package, and reading CUDA versions off images, wheels and
indexes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from reprolock.audit.checks.accelerators import (
    Cuda,
    ImageCuda,
    TableError,
    image_accelerator,
    image_cuda,
    index_cuda,
    index_url,
    index_variant,
    local_accelerator,
    local_cuda,
    parse_table,
    pin_cuda,
    release_line,
    table,
    tensorflow_cuda,
)

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "src" / "reprolock" / "data" / "accelerators.toml"
_VARIANT = re.compile(r"^(?:cu\d{2,3}|cpu|rocm\d+(?:\.\d+){0,2}|xpu)$")


def _data() -> dict[str, Any]:
    return tomllib.loads(DATA.read_text(encoding="utf-8"))


# --- the table ------------------------------------------------------------------------------


def test_every_line_is_well_formed_and_names_its_source() -> None:
    t = table()
    for package, lines in t.lines.items():
        assert lines, package
        for line in lines:
            assert line.default == "none" or _VARIANT.match(line.default), line
            assert all(_VARIANT.match(v) for v in line.variants), line
            for key in line.source.split(","):
                assert key.strip() in t.sources, line
    assert set(t.lines) == {"torch", "torchvision", "torchaudio"}
    assert all(s.startswith(("http", "pytorch/", "vllm-", "openvdb/", "evelthon/", "nixpkgs"))
               or " " in s for s in t.sources.values())  # fmt: skip


def test_every_source_is_used() -> None:
    data = _data()
    used: set[str] = set()
    for value in (data["packages"], data["indexes"], data["images"]):
        for text in re.findall(r"'source': '([^']*)'", repr(value)):
            used.update(k.strip() for k in text.split(","))
    assert set(data["sources"]) == used


@pytest.mark.parametrize(
    ("name", "version", "default", "has"),
    [
        ("torch", "1.12.0", "cu102", "cu113"),
        ("torch", "1.13.1", "cu117", "cu116"),
        ("torch", "2.1.2", "cu121", "cu118"),
        ("torch", "2.3.1", "cu121", "cu118"),
        ("torch", "2.5.1", "cu124", "cu121"),
        ("torch", "2.6.0", "cu124", "xpu"),
        ("torch", "2.7.0", "cu126", "cu128"),
        ("torch", "2.8.0", "cu128", "cu129"),
        ("torchvision", "0.13.0", "cu102", "cu116"),
        ("torchvision", "0.18.1+cu118", "cu121", "cu118"),
        ("torchvision", "0.4.2", "cu101", "cu100"),
        ("torchaudio", "0.12.0", "cu102", "cu113"),
        ("torchaudio", "2.4.0", "cu121", "cu124"),
    ],
)
def test_release_lines(name: str, version: str, default: str, has: str) -> None:
    line = release_line(name, version)
    assert line is not None
    assert line.default == default
    assert has in line.variants


@pytest.mark.parametrize("version", ["0.8.1", "0.9.0", "0.7.2"])
def test_torchaudio_before_0_10_has_no_variants(version: str) -> None:
    line = release_line("torchaudio", version)
    assert line is not None
    assert (line.default, line.variants) == ("none", ())


def test_unknown_lines_and_packages() -> None:
    assert release_line("torch", "3.0.0") is None
    assert release_line("torch", "not a version") is None
    assert release_line("numpy", "1.26.4") is None
    jax = release_line("jaxlib", "0.4.30")
    assert jax is not None
    assert jax.default == "cpu"


def test_fixes_only_name_listed_variants() -> None:
    # The wheels the field corpus's old fixes named never existed; the table does not list them.
    assert "cu101" not in release_line("torch", "2.4.0").variants  # type: ignore[union-attr]
    assert "cu128" not in release_line("torch", "2.6.0").variants  # type: ignore[union-attr]
    assert release_line("torchaudio", "0.8.1").variants == ()  # type: ignore[union-attr]
    line = release_line("torch", "2.3.1")
    assert line is not None
    assert index_url(line, "cu121") == "https://download.pytorch.org/whl/cu121"
    assert index_url(line, "cu128") is None


def test_tensorflow_and_ngc() -> None:
    assert tensorflow_cuda("2.15.1") == Cuda(major=12, minor=2)
    assert tensorflow_cuda("2.99.0") is None
    assert image_cuda("nvcr.io/nvidia/pytorch:24.01-py3") is not None
    assert image_cuda("nvcr.io/nvidia/pytorch:24.01-py3").cuda == Cuda(major=12, minor=3)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema=2), "schema: expected 1"),
        (
            lambda d: d["packages"]["torch"]["lines"][0].update(source="nowhere"),
            "no source 'nowhere'",
        ),
        (
            lambda d: d["packages"]["torchvision"]["lines"].append(["9.9", "9.9"]),
            "no torch line 9.9",
        ),
        (
            lambda d: d["packages"]["tensorflow"]["cuda"].append(["3.0", "x"]),
            "is not a CUDA version",
        ),
        (lambda d: d["images"]["ngc"].update(cuda=[["24.01"]]), "expected [string, string] pairs"),
    ],
)
def test_a_malformed_table_is_refused(change: Any, message: str) -> None:
    data = _data()
    change(data)
    with pytest.raises(TableError, match=re.escape(message)):
        parse_table(data)


def test_the_table_ships_in_the_wheel_and_loads_from_it(tmp_path: Path) -> None:
    """An installed wheel, not the source tree, carries the data file and reads it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--wheel-dir", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("reprolock-*.whl")
    assert "reprolock/data/accelerators.toml" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(wheel)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    probe = (
        "import reprolock, sys\n"
        "from reprolock.audit.checks.accelerators import release_line\n"
        "print(reprolock.__file__)\n"
        "print(release_line('torch', '2.3.1').default)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**env, "PYTHONPATH": str(site)},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    where, default = ran.stdout.splitlines()
    assert Path(where).is_relative_to(site)
    assert default == "cu121"


# --- CUDA named by images, wheels, indexes --------------------------------------------------


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
        ("ghcr.io/acme/trainer:cu118-py311", Cuda(major=11, minor=8)),
        ("tensorflow/tensorflow:2.15.0-gpu", Cuda(major=12, minor=2)),
    ],
)
def test_cuda_images_with_a_known_version(ref: str, expected: Cuda) -> None:
    found = image_cuda(ref)
    assert found is not None
    assert found.cuda == expected


@pytest.mark.parametrize("ref", ["pytorch/pytorch:latest", "nvcr.io/nvidia/pytorch:99.99-py3"])
def test_cuda_images_of_unknown_version(ref: str) -> None:
    found = image_cuda(ref)
    assert found is not None
    assert found.cuda is None


@pytest.mark.parametrize(
    "ref", ["python:3.11-slim", "tensorflow/tensorflow:2.15.0", "nvcr.io/nvidia/pytorch:24.01-cpu"]
)
def test_images_that_are_not_cuda(ref: str) -> None:
    assert image_cuda(ref) is None


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("rocm/pytorch:rocm6.2_ubuntu22.04", "rocm"),
        (
            "vault.habana.ai/gaudi-docker/1.20.0/ubuntu22.04/habanalabs/pytorch-installer-2.6.0",
            "gaudi",
        ),
        ("public.ecr.aws/neuron/pytorch-inference-neuronx:2.1.2", "neuron"),
        ("intel/intel-extension-for-pytorch:2.3.110-xpu", "xpu"),
        ("python:3.11", None),
    ],
)
def test_image_accelerators(ref: str, kind: str | None) -> None:
    assert image_accelerator(ref) == kind


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.3.1+cu121", Cuda(major=12, minor=1)),
        ("1.4.0+cu92", Cuda(major=9, minor=2)),
        ("0.4.26+cuda12.cudnn89", Cuda(major=12)),
        ("0.1.69+cuda111", Cuda(major=11, minor=1)),
        ("2.3.1+cpu", None),
        ("2.3.1", None),
    ],
)
def test_local_cuda(version: str, expected: Cuda | None) -> None:
    assert local_cuda(version) == expected


def test_local_accelerator() -> None:
    versions = ("2.3.1+cu121", "2.3.1+cpu", "2.5.1+rocm6.2", "2.6.0+xpu", "2.3.1", "1.0+local")
    found = [local_accelerator(v) for v in versions]
    assert found == ["cuda", "cpu", "rocm", "xpu", None, None]


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("nvidia-cublas-cu12", "12.1.3.1", Cuda(major=12)),
        ("jax-cuda12-plugin", "0.4.30", Cuda(major=12)),
        ("cupy-cuda117", "10.6.0", Cuda(major=11, minor=7)),
        ("cupy-cuda12x", "13.1.0", Cuda(major=12)),
        ("pytorch-cuda", "12.1", Cuda(major=12, minor=1)),
        ("numpy", "1.26.4", None),
    ],
)
def test_pins_that_name_a_cuda_build(name: str, version: str, expected: Cuda | None) -> None:
    found = pin_cuda(name, version)
    assert (found.cuda if found else None) == expected


@pytest.mark.parametrize(
    ("url", "variant", "cuda"),
    [
        ("https://download.pytorch.org/whl/cu121", "cu121", Cuda(major=12, minor=1)),
        ("https://download.pytorch.org/whl/nightly/cu124/", "cu124", Cuda(major=12, minor=4)),
        (
            "https://download.pytorch.org/whl/cu111/torch_stable.html",
            "cu111",
            Cuda(major=11, minor=1),
        ),
        ("https://download.pytorch.org/whl/cpu", "cpu", None),
        ("https://download.pytorch.org/whl/rocm6.2", "rocm6.2", None),
        ("https://download.pytorch.org/whl/xpu", "xpu", None),
        ("https://download.pytorch.org/whl/torch_stable.html", None, None),
        ("https://pypi.org/simple", None, None),
    ],
)
def test_index_variants(url: str, variant: str | None, cuda: Cuda | None) -> None:
    assert index_variant(url) == variant
    assert index_cuda(url) == cuda


def test_image_verdicts_are_made_once_per_reference() -> None:
    image_cuda.cache_clear()
    image_accelerator.cache_clear()
    ref = "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    first = image_cuda(ref)
    assert first == ImageCuda(cuda=Cuda(major=12, minor=1))
    assert image_cuda(ref) is first
    assert image_accelerator(ref) == image_accelerator(ref) == "cuda"
    assert image_accelerator("rocm/pytorch:latest") == "rocm"
    assert (image_cuda.cache_info().hits, image_accelerator.cache_info().hits) == (2, 1)
