"""RP501 framework skew: only environments that must agree are compared."""

from __future__ import annotations

from reprolock.audit.interface import Role
from reprolock.config import EnvironmentGroup, Profile
from reprolock.model import Severity
from tests.audit.checks.helpers import (
    check,
    config,
    dockerfile,
    facts,
    job,
    only,
    pin,
    rule_hits,
)

WHY = "the model's training, serving, pipeline and batch environments must agree"


def test_skew_between_training_and_serving_names_both_and_why() -> None:
    found = check(
        facts("serving/requirements.txt", pin("scikit-learn", "1.4.2", 3)),
        facts("training/requirements.txt", pin("scikit-learn", "1.3.2", 5)),
    )
    # A tie: training's version is the reference, the model was trained with it.
    assert rule_hits(found) == [("RP501", "serving/requirements.txt", 3)]
    f = found[0]
    assert f.message == (
        "scikit-learn==1.4.2 here (serving), but 1.3.2 at training/requirements.txt:5 "
        f"(training): {WHY}"
    )
    assert (f.subject, f.fix, f.severity) == ("scikit-learn", "scikit-learn==1.3.2", Severity.ERROR)


def test_the_reference_is_the_version_most_environments_use() -> None:
    found = check(
        facts("training/requirements.txt", pin("torch", "2.2.0", 2)),
        facts("serving/requirements.txt", pin("torch", "2.3.1", 4)),
        facts("batch/poetry.lock", pin("torch", "2.3.1", 9), role=Role.LOCK, kind="poetry.lock"),
    )
    assert rule_hits(found) == [("RP501", "training/requirements.txt", 2)]
    assert found[0].message.startswith(
        "torch==2.2.0 here (training), but 2.3.1 at batch/poetry.lock:9 (batch): "
    )
    assert found[0].fix == "torch==2.3.1"


def test_three_versions_name_the_others() -> None:
    found = check(
        facts("a/serving/req.txt", pin("numpy", "1.26.4")),
        facts("b/serving/req.txt", pin("numpy", "1.26.4")),
        facts("c/serving/req.txt", pin("numpy", "1.25.2", 7)),
        facts("d/serving/req.txt", pin("numpy", "2.0.1", 2)),
    )
    assert rule_hits(found) == [
        ("RP501", "c/serving/req.txt", 7),
        ("RP501", "d/serving/req.txt", 2),
    ]
    assert found[0].message == (
        "numpy==1.25.2 here (serving), but 1.26.4 at a/serving/req.txt:1 (serving) and 2.0.1 at "
        f"d/serving/req.txt:2 (serving): {WHY}"
    )


def test_a_variant_difference_is_not_a_version_skew() -> None:
    found = check(
        facts("serving/requirements.txt", pin("torch", "2.3.1+cpu")),
        facts("training/requirements.txt", pin("torch", "2.3.1+cu121")),
    )
    assert rule_hits(found, "RP501") == []


def test_the_fix_keeps_the_pin_variant_only_where_that_wheel_exists() -> None:
    found = check(
        facts("serving/a.txt", pin("torch", "2.3.1+cpu")),
        facts("serving/b.txt", pin("torch", "2.3.1+cpu")),
        facts("serving/c.txt", pin("torch", "2.2.2+cu121", 3)),
    )
    assert only(found, "RP501").fix == "torch==2.3.1+cu121"
    found = check(
        facts("serving/a.txt", pin("torch", "2.4.0")),
        facts("serving/b.txt", pin("torch", "2.4.0")),
        facts("serving/c.txt", pin("torch", "1.8.1+cu101", 3)),
    )
    assert only(found, "RP501").fix is None  # torch 2.4.0+cu101 never existed


def test_only_frameworks_are_compared_and_the_list_is_configurable() -> None:
    files = (
        facts("serving/a.txt", pin("my-lib", "1.0", 2)),
        facts("training/b.txt", pin("my-lib", "2.0", 3)),
    )
    assert check(*files) == []
    assert rule_hits(check(*files, cfg=config(frameworks=("My_Lib",)))) == [
        ("RP501", "serving/a.txt", 2)
    ]


def test_an_included_file_carries_its_versions_into_the_includer() -> None:
    docker = dockerfile("serving/Dockerfile", pin("numpy", "1.26.4", 6), includes=(("req.txt", 3),))
    included = facts("req.txt", pin("scikit-learn", "1.3.2", 2))
    other = facts("training/requirements.txt", pin("scikit-learn", "1.3.2", 1))
    assert rule_hits(check(docker, included, other)) == []


def test_skew_in_an_included_file_is_reported_once_at_its_own_line() -> None:
    serving = dockerfile("serving/Dockerfile", includes=(("common/serve.txt", 3),))
    included = facts("common/serve.txt", pin("scikit-learn", "1.4.2", 2))
    training = dockerfile("training/Dockerfile", pin("scikit-learn", "1.3.2", 5))
    found = check(serving, included, training)
    assert rule_hits(found) == [("RP501", "common/serve.txt", 2)]
    assert found[0].message == (
        "scikit-learn==1.4.2 here (serving/Dockerfile [stage 0], serving), but 1.3.2 at "
        f"training/Dockerfile:5 (training/Dockerfile [stage 0], training): {WHY}"
    )


# --- the false-positive classes of the field corpus ------------------------------------------


def test_alternatives_are_never_compared() -> None:
    """pytorch/serve requirements/torch_cu118_linux.txt, torch_cu121_linux.txt,
    torch_rocm62.txt, torch_darwin.txt: one file per CUDA version and platform, one picked at
    install time. Named for serving here so that only the variant tokens keep them apart."""
    files = (
        facts("serving/torch_cu118_linux.txt", pin("torch", "2.4.0+cu118")),
        facts("serving/torch_cu101_linux.txt", pin("torch", "1.8.1+cu101")),
        facts("serving/torch_rocm62.txt", pin("torch", "2.5.1+rocm6.2")),
        facts("serving/torch_darwin.txt", pin("torch", "2.4.0")),
        facts("serving/torch_cu102_windows.txt", pin("torch", "1.10.0+cu102")),
        facts("serving/Dockerfile_gaudi", pin("transformers", "4.52.4"), kind="dockerfile"),
        facts("serving/Dockerfile", pin("transformers", "4.49.0"), kind="dockerfile"),
        facts("backends/gaudi/server/requirements.txt", pin("transformers", "4.52.4")),
    )
    assert rule_hits(check(*files)) == []


def test_alternatives_with_the_same_tokens_are_compared() -> None:
    found = check(
        facts("serving/requirements-cpu.txt", pin("torch", "2.3.1+cpu")),
        facts("training/requirements-cpu.txt", pin("torch", "2.2.0+cpu", 4)),
    )
    assert rule_hits(found) == [("RP501", "serving/requirements-cpu.txt", 1)]


def test_lock_forks_are_one_environment_that_agrees_when_any_fork_does() -> None:
    """text-generation-inference server/uv.lock: numpy 2.0.2 for python < 3.10, 2.2.2 for the
    rest; two forks of one resolution are not skew, and agree with a file that has either."""
    lock = facts(
        "server/uv.lock",
        pin("numpy", "2.0.2", 1129),
        pin("numpy", "2.2.2", 1144),
        role=Role.LOCK,
        kind="uv.lock",
    )
    assert check(lock) == []
    assert check(lock, facts("training/requirements.txt", pin("numpy", "2.2.2"))) == []
    found = check(lock, facts("training/requirements.txt", pin("numpy", "1.26.4")))
    assert rule_hits(found) == [("RP501", "server/uv.lock", 1129)]
    assert found[0].message.startswith("numpy==2.0.2 / 2.2.2 here (serving), but 1.26.4 at ")


def test_test_docs_example_benchmark_and_ci_environments_are_never_compared() -> None:
    """pytorch/serve examples/, benchmarks/install_dependencies.sh; detectron2 docs/;
    text-generation-inference integration-tests/ and load_tests/."""
    files = (
        facts("serving/requirements.txt", pin("transformers", "4.41.0")),
        facts("training/requirements.txt", pin("transformers", "4.41.0")),
        facts(
            "examples/large_models/ipex_llm_int8/requirements.txt", pin("transformers", "4.38.2")
        ),
        facts("benchmarks/install_dependencies.sh", pin("transformers", "3.5.1"), kind="shell"),
        facts("docs/requirements.txt", pin("transformers", "4.30.0")),
        facts("integration-tests/uv.lock", pin("transformers", "4.40.0"), role=Role.LOCK),
        facts("load_tests/poetry.lock", pin("transformers", "4.39.0"), role=Role.LOCK),
        facts(".github/workflows/ci.yml", pin("transformers", "4.0.0"), kind="workflow"),
    )
    assert rule_hits(check(*files)) == []


def test_a_library_ci_matrix_is_not_compared() -> None:
    """detectron2: a library's CI matrix tests several torch versions on purpose."""
    ci = facts(
        ".github/workflows/train.yml",
        pin("torch", "1.13.1", 71),
        pin("torch", "2.2.2", 71),
        kind="workflow",
        sections=(job("train", 36, 85, "ubuntu-latest", matrix=("torch",)),),
    )
    serving = facts("serving/requirements.txt", pin("torch", "2.4.1"))
    # an application: a CI job named for training is compared with serving
    assert rule_hits(check(ci, serving)) == [("RP501", "serving/requirements.txt", 1)]
    assert check(ci, serving, cfg=config(profile=Profile.LIBRARY)) == []
    package = facts("pyproject.toml", role=Role.MANIFEST, kind="pyproject")
    docs = facts("docs/requirements.txt", pin("torch", "1.8.1+cpu"))
    # published and deploying nothing: a library without saying so
    assert check(ci, docs, package) == []


def test_a_named_group_compares_what_it_names() -> None:
    files = (
        facts("churn/fit/requirements.txt", pin("xgboost", "2.0.3", 2)),
        facts("churn/api/requirements.txt", pin("xgboost", "2.1.0", 3)),
        facts("serving/requirements.txt", pin("xgboost", "1.7.6")),
    )
    cfg = config(EnvironmentGroup(name="churn", members=("churn/**",)))
    found = check(*files, cfg=cfg)
    assert rule_hits(found) == [("RP501", "churn/fit/requirements.txt", 2)]
    assert found[0].message.endswith(": [tool.repro.environments.churn] says they must agree")
