"""The environment model: what is installed together, what for, on which platform, and which
environments must agree."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.audit.checks.accelerators import Cuda
from reprolock.audit.checks.environments import (
    _MEMO_DEPTH,
    Accelerator,
    Package,
    Platform,
    Purpose,
    Recipe,
    Statement,
    _directory_tokens,
    _package,
    _package_kind,
    _package_kinds,
    _part,
    _parts,
    _platform_of_kinds,
    _section_part,
    _tokens_of_parts,
    _words,
    agreement_groups,
    platform_of_image,
    platform_of_runner,
    platform_of_tokens,
    purpose_of_path,
    read_facts,
    variant_tokens,
)
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Include,
    Pin,
    PythonVersion,
    Role,
    Section,
)
from reprolock.config import EnvironmentGroup, Profile
from reprolock.formats.spec import classify
from tests.audit.checks.helpers import (
    CUDA_121,
    config,
    dockerfile,
    facts,
    job,
    model,
    pin,
    stage,
)

# --- purposes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "purpose", "word"),
    [
        ("serving/requirements.txt", Purpose.SERVING, "serving"),
        ("server/uv.lock", Purpose.SERVING, "server"),
        ("docker/deploy.Dockerfile", Purpose.SERVING, "deploy"),
        ("training/Dockerfile", Purpose.TRAINING, "training"),
        ("jobs/train.Dockerfile", Purpose.TRAINING, "train"),
        ("pipeline/requirements.txt", Purpose.PIPELINE, "pipeline"),
        ("batch/Dockerfile", Purpose.BATCH, "batch"),
        # a test, docs, example, benchmark or dev word anywhere wins over a model word
        ("serving/tests/requirements.txt", Purpose.TEST, "tests"),
        ("integration-tests/uv.lock", Purpose.TEST, "integration-tests"),
        ("requirements-test.txt", Purpose.TEST, "test"),
        ("docs/requirements.txt", Purpose.DOCS, "docs"),
        ("examples/large_models/vllm/requirements.txt", Purpose.EXAMPLE, "examples"),
        ("benchmarks/install_dependencies.sh", Purpose.BENCHMARK, "benchmarks"),
        ("load_tests/poetry.lock", Purpose.BENCHMARK, "load_tests"),
        ("requirements/developer.txt", Purpose.DEV, "developer"),
        ("docker/Dockerfile.dev", Purpose.DEV, "dev"),
        (".github/workflows/ci.yml", Purpose.CI, ".github"),
        ("ci/launcher/requirements.txt", Purpose.CI, "ci"),
        ("requirements.txt", Purpose.OTHER, ""),
        ("Dockerfile", Purpose.OTHER, ""),
    ],
)
def test_purpose_from_the_path(path: str, purpose: Purpose, word: str) -> None:
    assert purpose_of_path(path) == (purpose, word)


@pytest.mark.parametrize(
    ("path", "purpose", "word"),
    [
        # two model words in one component: the first written decides, whatever the
        # interpreter's hash seed (sets of purposes were once iterated here)
        ("serve-train/Dockerfile", Purpose.SERVING, "serve"),
        ("train-serve/Dockerfile", Purpose.TRAINING, "train"),
        ("jobs/batch_pipeline.Dockerfile", Purpose.BATCH, "batch"),
        # the deepest component still wins over a shallower one
        ("training/serve/Dockerfile", Purpose.SERVING, "serve"),
    ],
)
def test_purpose_of_a_component_with_two_model_words(
    path: str, purpose: Purpose, word: str
) -> None:
    assert purpose_of_path(path) == (purpose, word)


@pytest.mark.parametrize(
    "path",
    ["a/b/c.txt", "a//b", "/abs/x", "//net/x", "///x", "./a/./b/", "a/../b", "", ".", "A/B"],
)
def test_path_parts_are_those_of_pure_posix_path(path: str) -> None:
    assert _parts(path) == PurePosixPath(path).parts


def test_purpose_from_what_an_environment_installs() -> None:
    docker = facts(
        "Dockerfile",
        kind="dockerfile",
        includes=(("server/uv.lock", 5),),
        images=((CUDA_121, 1),),
        sections=(stage("base", 1, 9),),
    )
    lock = facts("server/uv.lock", pin("torch", "2.3.1", 4), role=Role.LOCK, kind="uv.lock")
    env = model(docker, lock).environments[0]
    assert (env.name, env.purpose) == ("Dockerfile [stage base]", Purpose.SERVING)
    assert env.purpose_why == "installs server/uv.lock (path word 'server')"
    assert env.members == ("Dockerfile", "server/uv.lock")


def test_a_ci_job_is_ci_unless_its_name_says_it_trains() -> None:
    ci = facts(
        ".github/workflows/nightly.yml",
        pin("torch", "2.3.1", 12),
        pin("torch", "2.3.1", 32),
        kind="workflow",
        sections=(job("lint", 5, 20, "ubuntu-22.04"), job("train-model", 21, 40, "gpu-a100")),
    )
    purposes = [(e.name, e.purpose) for e in model(ci).environments]
    assert purposes == [
        (".github/workflows/nightly.yml [job lint]", Purpose.CI),
        (".github/workflows/nightly.yml [job train-model]", Purpose.TRAINING),
    ]


def test_config_gives_a_purpose() -> None:
    cfg = config(EnvironmentGroup(name="jobs", members=("jobs/**",), purpose="batch"))
    env = model(facts("jobs/score/requirements.txt", pin("numpy", "1.26.4")), cfg=cfg)
    assert env.environments[0].purpose is Purpose.BATCH
    assert env.environments[0].purpose_why == "[tool.repro.environments.jobs] purpose"


# --- variant tokens, alternatives ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("requirements/torch_cu118_linux.txt", {"cu118", "linux"}),
        ("requirements/torch_rocm62.txt", {"rocm62"}),
        ("requirements/torch_darwin.txt", {"darwin"}),
        ("server/requirements_intel.txt", {"intel"}),
        ("Dockerfile_amd", {"amd"}),
        ("Dockerfile.neuron", {"neuron"}),
        ("docker/Dockerfile.cpu", {"cpu"}),
        ("ci/requirements-py310.txt", {"py310"}),
        ("backends/gaudi/server/requirements.txt", {"gaudi"}),
        ("backends/llamacpp/requirements.txt", {"llamacpp"}),
        ("serving/requirements.txt", set()),
        ("requirements.txt", set()),
    ],
)
def test_variant_tokens(path: str, tokens: set[str]) -> None:
    assert variant_tokens(path) == frozenset(tokens)


# --- platforms ------------------------------------------------------------------------------


def test_platform_of_tokens() -> None:
    cu = platform_of_tokens({"cu118", "linux"}, "x")
    assert cu == Platform(
        os="linux", accelerator=Accelerator.CUDA, cuda=Cuda(major=11, minor=8), evidence="x"
    )
    assert platform_of_tokens({"rocm62"}, "x") == Platform(
        accelerator=Accelerator.ROCM, evidence="x"
    )
    assert platform_of_tokens({"windows"}, "x") == Platform(os="windows", evidence="x")
    assert platform_of_tokens({"llamacpp"}, "x") is None


@pytest.mark.parametrize(
    ("pins", "accelerator"),
    [
        ((("torch", "2.3.1+cpu"), ("numpy", "1.26.4")), Accelerator.CPU),
        ((("torch", "2.3.1+cu121"),), Accelerator.CUDA),
        ((("nvidia-cublas-cu12", "12.1.3.1"),), Accelerator.CUDA),
        ((("torch", "2.3.1+rocm6.0"),), Accelerator.ROCM),
        ((("optimum-habana", "1.11.1"),), Accelerator.GAUDI),
        ((("torch-neuronx", "2.1.2.2.1.0"),), Accelerator.NEURON),
        # alternatives (a file split by markers) say nothing
        ((("torch", "2.3.1+cpu"), ("torch", "2.3.1+cu121")), None),
        ((("numpy", "1.26.4"),), None),
    ],
)
def test_platform_of_pinned_wheels(
    pins: tuple[tuple[str, str], ...], accelerator: Accelerator | None
) -> None:
    packages = [Package(name=name, version=version, path="r.txt", line=1) for name, version in pins]
    found = _platform_of_kinds(_package_kinds(packages))
    assert (found.accelerator if found is not None else None) is accelerator
    if found is not None:
        assert found.evidence == "its pinned wheels"


def test_packages_made_field_by_field_are_those_of_the_constructor() -> None:
    for line, conda in ((0, False), (1, True), (7, False)):
        made = _package(pin("numpy", "1.26.4", line, hashed=conda), "env/x.txt", conda)
        assert made == Package(
            name="numpy",
            version="1.26.4",
            path="env/x.txt",
            line=max(line, 1),
            hashed=conda,
            conda=conda,
        )
        assert hash(made) == hash(
            Package(
                name="numpy",
                version="1.26.4",
                path="env/x.txt",
                line=max(line, 1),
                hashed=conda,
                conda=conda,
            )
        )
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "x"  # type: ignore[misc]


def test_conda_pins_are_conda_packages_except_the_pip_section() -> None:
    declared = (Declared(spec=classify("requests==2.32.3"), line=5, group="pip"),)
    recipe = read_facts(
        {
            "environment.yml": facts(
                "environment.yml",
                pin("numpy", "1.26.4", 3),
                pin("requests", "2.32.3", 5),
                kind="environment.yml",
                declared=declared,
            )
        }
    )["environment.yml"]
    assert [(p.name, p.conda) for p in recipe.packages] == [("numpy", True), ("requests", False)]


def test_platform_of_images() -> None:
    found = platform_of_image(CUDA_121, "Dockerfile:1")
    assert found is not None
    assert (found.label, found.os) == ("CUDA 12.1", "linux")
    assert found.evidence == f"the image {CUDA_121} (Dockerfile:1)"
    rocm = platform_of_image("rocm/pytorch:rocm6.2_ubuntu22.04_py3.10_pytorch_release_2.3.0", "x")
    assert rocm is not None
    assert rocm.accelerator is Accelerator.ROCM
    assert platform_of_image("python:3.11-slim", "x") is None


@pytest.mark.parametrize(
    ("labels", "os", "accelerator"),
    [
        (("ubuntu-latest",), "linux", Accelerator.CPU),
        (("macos-latest",), "macos", Accelerator.CPU),
        (("windows-2022",), "windows", Accelerator.CPU),
        (("ubuntu-latest", "macos-14", "windows-latest"), "", Accelerator.CPU),
        (("4-core-ubuntu-gpu-t4",), "linux", Accelerator.CUDA),
        (("self-hosted", "linux", "gpu"), "linux", Accelerator.CUDA),
        (("linux.g5.4xlarge.nvidia.gpu",), "linux", Accelerator.CUDA),
    ],
)
def test_platform_of_runners(labels: tuple[str, ...], os: str, accelerator: Accelerator) -> None:
    found = platform_of_runner(labels, "ci.yml:3")
    assert found is not None
    assert (found.os, found.accelerator) == (os, accelerator)


def test_a_self_hosted_runner_says_nothing() -> None:
    assert platform_of_runner(("self-hosted",), "x") is None
    assert platform_of_runner((), "x") is None


def test_an_environment_platform_comes_from_its_image_then_its_path_then_its_pins() -> None:
    gpu = dockerfile("Dockerfile", pin("numpy", "1.26.4", 3))
    rocm = facts("requirements_rocm.txt", pin("torch", "2.3.1"))
    cpu = facts("requirements.txt", pin("torch", "2.3.1+cpu"), pin("torchvision", "0.18.1+cpu", 2))
    platforms = {e.path: e.platform.label for e in model(gpu, rocm, cpu).environments}
    assert platforms == {
        "Dockerfile": "CUDA 12.1",
        "requirements_rocm.txt": "ROCm",
        "requirements.txt": "CPU",
    }


def test_a_stage_named_for_its_platform() -> None:
    docker = facts(
        "Dockerfile_intel",
        pin("torch", "2.7.0", 3),
        pin("torch", "2.8.0", 13),
        kind="dockerfile",
        images=(("ubuntu:22.04", 1), ("ubuntu:22.04", 11)),
        sections=(stage("cpu", 1, 10), stage("xpu", 11, 20)),
    )
    labels = [(e.name, e.platform.accelerator) for e in model(docker).environments]
    assert labels == [
        ("Dockerfile_intel [stage cpu]", Accelerator.CPU),
        ("Dockerfile_intel [stage xpu]", Accelerator.XPU),
    ]


def test_an_included_file_is_judged_on_its_own_platform_name_first() -> None:
    docker = dockerfile("Dockerfile", includes=(("requirements_rocm.txt", 4),))
    rocm = facts("requirements_rocm.txt", pin("torch", "2.3.1", 2))
    m = model(docker, rocm)
    env = m.environments[0]
    package = env.packages[0]
    assert m.platform_for(env, package).accelerator is Accelerator.ROCM
    assert env.platform.label == "CUDA 12.1"


# --- environments: top level, stages, jobs ---------------------------------------------------


def test_only_files_nothing_else_installs_are_top_level() -> None:
    docker = dockerfile("serving/Dockerfile", includes=(("serving/requirements.txt", 3),))
    req = facts("serving/requirements.txt", pin("numpy", "1.26.4"), includes=("common/base.txt",))
    base = facts("common/base.txt", pin("scipy", "1.13.1"))
    m = model(docker, req, base)
    assert [e.name for e in m.environments] == ["serving/Dockerfile [stage 0]"]
    assert m.environments[0].members == (
        "serving/Dockerfile",
        "serving/requirements.txt",
        "common/base.txt",
    )
    # A file something installs is a voice of its own only where its path may put it in a
    # group (RP501); common/base.txt is not walked on its own.
    assert sorted(e.path for e in m.every) == ["serving/Dockerfile", "serving/requirements.txt"]


def test_an_include_cycle_keeps_both() -> None:
    a = facts("a.txt", pin("torch", "2.3.1"), includes=("b.txt",))
    b = facts("b.txt", pin("torch", "2.2.0"), includes=("a.txt",))
    assert [e.path for e in model(a, b).environments] == ["a.txt", "b.txt"]


def test_a_stage_inherits_what_its_parent_stage_installed() -> None:
    docker = facts(
        "Dockerfile",
        pin("torch", "2.7", 4),
        pin("numpy", "2.2.2", 12),
        kind="dockerfile",
        images=((CUDA_121, 1), ("python:3.11-slim", 20)),
        sections=(
            stage("install", 1, 9),
            stage("kernels", 10, 19, parent="install"),
            stage("final", 20, 30),
        ),
    )
    envs = {e.name: e for e in model(docker).environments}
    assert [p.name for p in envs["Dockerfile [stage kernels]"].packages] == ["numpy", "torch"]
    assert envs["Dockerfile [stage kernels]"].platform.label == "CUDA 12.1"
    assert "Dockerfile [stage final]" not in envs  # installs nothing


def test_manifests_and_other_files_are_not_environments() -> None:
    manifest = facts("requirements.in", pin("scikit-learn", "1.4.2"), role=Role.MANIFEST)
    other = facts("notes.yml", pin("scikit-learn", "1.2.0"), role=Role.OTHER)
    assert model(manifest, other).environments == []


# --- groups that must agree ------------------------------------------------------------------


def _names(groups: list) -> list[list[str]]:  # type: ignore[type-arg]
    return [[e.name for e in g.members] for g in groups]


def test_the_default_group_takes_model_environments_split_by_variant() -> None:
    files = (
        facts("serving/requirements.txt", pin("torch", "2.3.1")),
        facts("training/requirements.txt", pin("torch", "2.3.1")),
        facts("training/requirements-cpu.txt", pin("torch", "2.3.1+cpu")),
        facts("serving/requirements-cpu.txt", pin("torch", "2.3.1+cpu")),
        facts("tests/requirements.txt", pin("torch", "2.2.0")),
        facts("requirements.txt", pin("torch", "2.2.0")),
    )
    groups = agreement_groups(model(*files))
    assert _names(groups) == [
        ["serving/requirements.txt", "training/requirements.txt"],
        ["serving/requirements-cpu.txt", "training/requirements-cpu.txt"],
    ]
    assert {g.name for g in groups} == {"default"}


def test_a_file_installed_by_ci_stays_in_the_group() -> None:
    lock = facts("server/uv.lock", pin("numpy", "2.2.2"), role=Role.LOCK, kind="uv.lock")
    ci = facts(
        ".github/workflows/ci.yml",
        kind="workflow",
        includes=(("server/uv.lock", 8),),
        sections=(job("test", 3, 10, "ubuntu-latest"),),
    )
    trainer = facts("training/requirements.txt", pin("numpy", "1.26.4"))
    assert _names(agreement_groups(model(lock, ci, trainer))) == [
        ["server/uv.lock", "training/requirements.txt"]
    ]


def test_named_groups_replace_the_default_one() -> None:
    files = (
        facts("churn/training/requirements.txt", pin("torch", "2.3.1")),
        facts("churn/serving/requirements.txt", pin("torch", "2.3.1")),
        facts("fraud/serving/requirements.txt", pin("torch", "2.2.0")),
        facts("tools/export.txt", pin("torch", "2.3.1")),
    )
    cfg = config(EnvironmentGroup(name="churn", members=("churn/**", "tools/export.txt")))
    groups = agreement_groups(model(*files, cfg=cfg))
    assert [(g.name, g.why) for g in groups] == [
        ("churn", "[tool.repro.environments.churn] says they must agree")
    ]
    assert _names(groups) == [
        ["churn/serving/requirements.txt", "churn/training/requirements.txt", "tools/export.txt"]
    ]


def test_the_default_table_adds_and_removes_paths() -> None:
    files = (
        facts("serving/requirements.txt", pin("torch", "2.3.1")),
        facts("training/requirements.txt", pin("torch", "2.3.1")),
        facts("legacy/serving/requirements.txt", pin("torch", "1.13.1")),
        facts("tools/export.txt", pin("torch", "2.3.1")),
    )
    cfg = config(
        EnvironmentGroup(name="default", members=("tools/export.txt",), exclude=("legacy/**",))
    )
    assert _names(agreement_groups(model(*files, cfg=cfg))) == [
        ["serving/requirements.txt", "tools/export.txt", "training/requirements.txt"]
    ]


def test_a_library_ci_matrix_is_in_no_group() -> None:
    ci = facts(
        ".github/workflows/train.yml",
        pin("torch", "2.2.0", 12),
        kind="workflow",
        sections=(job("train", 3, 20, "ubuntu-latest"),),
    )
    serving = facts("serving/requirements.txt", pin("torch", "2.3.1"))
    # an application: the training job is compared with serving
    assert _names(agreement_groups(model(ci, serving))) == [
        [".github/workflows/train.yml [job train]", "serving/requirements.txt"]
    ]
    library = config(profile=Profile.LIBRARY)
    assert agreement_groups(model(ci, serving, cfg=library)) == []


def test_a_repository_that_publishes_a_package_and_deploys_nothing_is_a_library() -> None:
    package = facts("pyproject.toml", role=Role.MANIFEST, kind="pyproject")
    ci = facts(".github/workflows/ci.yml", pin("torch", "2.2.0", 12), kind="workflow")
    docs = facts("docs/requirements.txt", pin("torch", "2.3.1"))
    assert model(package, ci, docs).is_library()
    serving = facts("serving/requirements.txt", pin("torch", "2.3.1"))
    assert not model(package, ci, serving).is_library()
    assert not model(ci, docs).is_library()  # publishes nothing
    # a stated profile wins over the guess
    assert not model(package, ci, docs, cfg=config(profile=Profile.APPLICATION)).is_library()


# --- top level on large include graphs -------------------------------------------------------


def _reference_top_level(files: dict[str, FileFacts]) -> list[str]:
    """The definition, one closure per file: every installing file, unless another installing
    file includes it (transitively) without being included back."""
    closures: dict[str, set[str]] = {}
    for path in sorted(files):
        order: set[str] = set()
        pending = [path]
        while pending:
            node = pending.pop(0)
            if node not in order:
                order.add(node)
                pending += [i.target for i in files[node].includes if i.target in files]
        closures[path] = order
    installs = {p for p, f in files.items() if f.role in (Role.CONCRETE, Role.LOCK)}
    return [
        path
        for path in sorted(installs)
        if not any(
            other != path and path in closures[other] and other not in closures[path]
            for other in installs
        )
    ]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_top_level_environments_match_their_definition(data: st.DataObject) -> None:
    paths = [f"r{i}.txt" for i in range(data.draw(st.integers(1, 8)))]
    files: dict[str, FileFacts] = {}
    for path in paths:
        targets = data.draw(st.lists(st.sampled_from([*paths, "gone.txt"]), max_size=3))
        files[path] = FileFacts(
            path=path,
            kind="requirements",
            role=data.draw(st.sampled_from(list(Role))),
            pins=(Pin(name="six", version="1.0"),) if data.draw(st.booleans()) else (),
            includes=tuple(Include(target=t, line=n + 1) for n, t in enumerate(targets)),
        )
    m = model(*files.values())
    expected = _reference_top_level(files)
    found = sorted({e.path for e in m.environments})
    # an environment that installs nothing at all is not one
    assert found == [p for p in expected if p in {e.path for e in m.every}]


def test_a_long_include_chain_is_one_environment_found_in_linear_time() -> None:
    n = 3000
    files = [
        FileFacts(
            path=f"r{i:04}.txt",
            kind="requirements",
            role=Role.CONCRETE,
            pins=(Pin(name=f"p{i}", version="1.0"),),
            includes=(Include(target=f"r{i + 1:04}.txt", line=1),) if i + 1 < n else (),
        )
        for i in range(n)
    ]
    start = time.monotonic()
    envs = model(*files).environments
    assert time.monotonic() - start < 5  # quadratic: minutes
    assert [env.path for env in envs] == ["r0000.txt"]
    assert len(envs[0].packages) == n


@given(
    st.lists(st.text(alphabet="abcAB-_.tT/", min_size=1, max_size=12), min_size=1, max_size=4).map(
        "/".join
    )
)
def test_words_split_once_per_component_are_those_of_the_whole_path(path: str) -> None:
    split = [
        [part, *(w for w in re.split(r"[-_.]+", part) if w and w != part)]
        for part in _parts(path.lower())
    ]
    assert [list(words) for words in _words(path)] == split
    assert [list(words) for words in _words(path)] == split  # asked again: the same


# --- fast paths agree with the general ones ---------------------------------------------------


def test_recipes_made_field_by_field_are_those_of_the_constructor() -> None:
    stages = (Section(kind="stage", name="base", start=1, end=9),)
    ff = facts(
        "Dockerfile",
        pin("torch", "2.3.1", 4),
        role=Role.CONCRETE,
        kind="dockerfile",
        includes=(("requirements.txt", 5),),
        images=((CUDA_121, 1),),
        indexes=("https://download.pytorch.org/whl/cu121",),
        pythons=(("3.11", 1, "base image"),),
        sections=stages,
    )
    made = read_facts({"Dockerfile": ff})["Dockerfile"]
    expected = Recipe(
        path="Dockerfile",
        kind="dockerfile",
        installs=True,
        lock=False,
        packages=(_package(ff.pins[0], "Dockerfile", False),),
        includes=(("requirements.txt", 5),),
        images=((CUDA_121, 1),),
        pythons=(Statement(value="3.11", line=1, origin="base image"),),
        indexes=("https://download.pytorch.org/whl/cu121",),
        sections=stages,
    )
    assert made == expected
    assert hash(made) == hash(expected)
    for role, installs, lock in (
        (Role.LOCK, True, True),
        (Role.CONCRETE, True, False),
        (Role.MANIFEST, False, False),
    ):
        made = read_facts({"x": facts("x", role=role)})["x"]
        assert (made.installs, made.lock) == (installs, lock)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.path = "y"  # type: ignore[misc]


def test_recipes_and_packages_are_made_without_their_init(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(self: object, **fields: object) -> None:
        pytest.fail(f"{type(self).__name__}.__init__ called")

    ff = facts("r.txt", pin("numpy", "1.26.4", 3), role=Role.LOCK, kind="requirements")
    expected = read_facts({"r.txt": ff})
    monkeypatch.setattr(Package, "__init__", refused)
    monkeypatch.setattr(Recipe, "__init__", refused)
    made = read_facts({"r.txt": ff})
    assert made == expected
    assert made["r.txt"].packages[0].name == "numpy"


_LINES = st.integers(min_value=0, max_value=12)


@settings(max_examples=200, deadline=None)
@given(
    pins=st.lists(_LINES, max_size=6),
    includes=st.lists(_LINES, max_size=3),
    images=st.lists(_LINES, max_size=3),
    pythons=st.lists(_LINES, max_size=3),
)
def test_a_whole_file_part_is_the_general_rule_without_a_section(
    pins: list[int], includes: list[int], images: list[int], pythons: list[int]
) -> None:
    ff = FileFacts(
        path="Dockerfile",
        kind="dockerfile",
        role=Role.CONCRETE,
        pins=tuple(Pin(name=f"p{n}", version="1.0", line=line) for n, line in enumerate(pins)),
        includes=tuple(Include(target=f"r{n}.txt", line=line) for n, line in enumerate(includes)),
        images=(),
        pythons=tuple(PythonVersion(value="3.11", line=line, origin="ci") for line in pythons),
    )
    recipe = dataclasses.replace(
        read_facts({ff.path: ff})[ff.path],
        images=tuple((f"python:3.{n}", line) for n, line in enumerate(images)),
    )
    fast = _part(recipe, None)
    assert fast == _section_part(recipe, None)
    # the fast path was taken: the file's own tuples, not filtered copies
    assert fast.packages is recipe.packages
    assert fast.includes is recipe.includes
    assert fast.images is recipe.images
    assert fast.pythons is recipe.pythons


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["torch", "numpy", "nvidia-cublas-cu12", "optimum-habana", "cupy"]),
            st.sampled_from(["2.3.1", "2.3.1+cu121", "2.3.1+cpu", "2.3.1+rocm6.0", "12.1"]),
        ),
        max_size=6,
    )
)
def test_package_kinds_are_each_pins_kind(pins: list[tuple[str, str]]) -> None:
    packages = [Package(name=n, version=v, path="r.txt", line=1) for n, v in pins]
    expected = {_package_kind(n, v) for n, v in pins} - {None}
    assert _package_kinds(packages) == expected


def test_only_a_setup_py_at_the_root_publishes() -> None:
    ci = facts(".github/workflows/ci.yml", pin("torch", "2.2.0", 12), kind="workflow")
    docs = facts("docs/requirements.txt", pin("torch", "2.3.1"))
    setup = facts("setup.py", role=Role.OTHER, kind="python")
    nested = facts("pkg/setup.py", role=Role.OTHER, kind="python")
    assert model(setup, ci, docs).is_library()
    assert not model(nested, ci, docs).is_library()


_COMPONENTS = st.sampled_from(
    ["backends", "Backend", "cu118", "cpu-only", "rocm6", "x", "serving", "py310", "", ".", "a.b"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_COMPONENTS, max_size=6).map("/".join))
def test_variant_tokens_read_by_directory_are_those_read_whole(path: str) -> None:
    expected = _tokens_of_parts(_parts(path.lower()))
    assert variant_tokens(path) == expected
    variant_tokens.cache_clear()
    assert variant_tokens(path) == expected  # the directories' tokens remembered


def test_variant_tokens_of_a_directory_under_backends_but_not_a_file() -> None:
    assert variant_tokens("backends/llamacpp2/requirements.txt") == {"llamacpp2"}
    assert variant_tokens("backends/requirements-cpu.txt") == {"cpu"}

    # the by-directory path is taken, except for a path too deep to recurse through
    _directory_tokens.cache_clear()
    variant_tokens.cache_clear()
    assert variant_tokens("a/backends/tpu-v5/req.txt") == {"tpu", "tpu-v5"}
    assert _directory_tokens.cache_info().currsize == 4  # a/backends/tpu-v5 and its parents
    _directory_tokens.cache_clear()
    deep = "/".join(["d"] * _MEMO_DEPTH + ["backends", "tpu-v5", "req.txt"])
    assert variant_tokens(deep) == {"tpu", "tpu-v5"}
    assert _directory_tokens.cache_info().currsize == 0
