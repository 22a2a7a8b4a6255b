"""Model, dataset and data-schema audit: revisions in code and notebooks, registry aliases,
data versions in config, DVC pipelines (RP601-RP605), and the promise never to run code."""

from __future__ import annotations

import ast
import inspect
import io
import json
import re
import shutil
import textwrap
import time
import tokenize
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reprolock.audit.artifacts import (
    ConfigScanner,
    DvcScanner,
    NotebookScanner,
    PythonScanner,
    artifact_scanners,
)
from reprolock.audit.artifacts import ipython as ipython_module
from reprolock.audit.artifacts import notebook as notebook_module
from reprolock.audit.artifacts import python as python_module
from reprolock.audit.artifacts.ipython import transform_cell
from reprolock.audit.artifacts.references import Hit
from reprolock.audit.interface import FileFacts, Role, ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.registry import all_scanners
from reprolock.cli import main
from reprolock.config import Config
from reprolock.dataapis import DATA_APIS
from reprolock.formats import json as formats_json
from reprolock.formats.json import ValueLines, json_scalars
from reprolock.model import Finding, Severity
from tests.conftest import FIXTURES, audit_tree, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

_COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def _ours(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """Hits of this area's rules (and RP001), leaving out what the shell helper reports."""
    return [h for h in hits(findings) if h[0].startswith("RP6") or h[0] == "RP001"]


def _py(audit: Audit, code: str, path: str = "app.py") -> list[tuple[str, str, int]]:
    return _ours(audit({path: textwrap.dedent(code).lstrip("\n")}))


def _one(findings: list[Finding], rule: str) -> Finding:
    found = [f for f in findings if f.rule == rule]
    assert len(found) == 1, hits(findings)
    return found[0]


# --- the bundled fixture -------------------------------------------------------------------


def test_fixture_repository(tmp_path: Path) -> None:
    root = tmp_path / "ml-repo"
    shutil.copytree(FIXTURES / "artifacts" / "ml-repo", root)
    found = audit_tree(root)
    assert _ours(found) == [
        ("RP604", "configs/data.yaml", 4),
        ("RP604", "configs/data.yaml", 8),
        ("RP604", "configs/data.yaml", 9),
        ("RP603", "configs/data.yaml", 12),
        ("RP604", "configs/features.json", 3),
        ("RP604", "configs/features.json", 4),
        ("RP604", "configs/features.json", 9),
        ("RP603", "configs/registry.toml", 3),
        ("RP604", "configs/registry.toml", 6),
        ("RP603", "configs/registry.toml", 10),
        ("RP602", "data/imdb.dvc", 5),
        ("RP602", "data/vendor-prices.csv.dvc", 4),
        ("RP601", "notebooks/explore.ipynb", 46),
        ("RP602", "notebooks/explore.ipynb", 69),
        ("RP605", "pipeline/dvc.yaml", 9),
        ("RP605", "pipeline/dvc.yaml", 28),
        ("RP603", "serve/app.py", 7),
        ("RP604", "serve/app.py", 9),
        ("RP603", "serve/app.py", 16),
        ("RP601", "serve/app.py", 17),
        ("RP603", "serve/app.py", 23),
        ("RP602", "train.py", 18),
        ("RP601", "train.py", 24),
        ("RP601", "train.py", 39),
    ]
    subjects = {(f.rule, f.location.path, f.location.line): f.subject for f in found}
    assert subjects[("RP601", "train.py", 24)] == "bert-base-uncased"
    assert subjects[("RP605", "pipeline/dvc.yaml", 9)] == "featurize@test"
    assert subjects[("RP601", "notebooks/explore.ipynb", 46)] == (
        "distilbert-base-uncased-finetuned-sst-2-english"
    )
    # The notebook's `%pip install` line goes through the shell audit, at its .ipynb line.
    assert ("RP101", "notebooks/explore.ipynb", 20) in hits(found)


# --- RP601: hub models ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "lines"),
    [
        ('AutoModel.from_pretrained("bert-base-uncased")', [1]),
        ('AutoModel.from_pretrained("org/model")', [1]),
        (f'AutoModel.from_pretrained("org/model", revision="{_COMMIT}")', []),
        (f'AutoModel.from_pretrained("org/model", revision="{_COMMIT.upper()}")', []),
        ('AutoModel.from_pretrained("org/model", revision=None)', [1]),
        ('AutoModel.from_pretrained(pretrained_model_name_or_path="org/model")', [1]),
        ('DiffusionPipeline.from_pretrained("org/sd")', [1]),
        ('PeftModel.from_pretrained(base, "org/lora")', [1]),
        (f'PeftModel.from_pretrained(base, "org/lora", revision="{_COMMIT}")', []),
        ('snapshot_download("org/model")', [1]),
        ('snapshot_download(repo_id="org/model", allow_patterns=["*.json"])', [1]),
        (f'snapshot_download("org/model", revision="{_COMMIT}")', []),
        ('hf_hub_download(repo_id="org/model", filename="model.safetensors")', [1]),
        (f'hf_hub_download("org/model", "w.bin", revision="{_COMMIT}")', []),
        ('SentenceTransformer("all-MiniLM-L6-v2")', [1]),
        (f'SentenceTransformer("all-MiniLM-L6-v2", revision="{_COMMIT}")', []),
        ('CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2")', [1]),
        ("SentenceTransformer()", []),
        ("nn.Embedding.from_pretrained(weights)", []),
    ],
)
def test_hub_model_apis(audit: Audit, code: str, lines: list[int]) -> None:
    assert _py(audit, code + "\n") == [("RP601", "app.py", n) for n in lines]


def test_the_line_is_the_one_naming_the_api(audit: Audit) -> None:
    found = audit(
        {
            "app.py": """
            model = (
                AutoModel
                .from_pretrained(
                    "org/model",
                )
            )
            """
        }
    )
    assert hits(found) == [("RP601", "app.py", 3)]
    assert found[0].location.column == 6
    assert found[0].subject == "org/model"
    assert found[0].fix == 'revision="<40-hex commit>"'
    assert found[0].severity is Severity.WARNING


@pytest.mark.parametrize(
    ("revision", "phrase"),
    [
        ('"main"', "'main', a branch or tag that can move"),
        ('"v1.0"', "'v1.0', a branch or tag that can move"),
        ('"refs/pr/3"', "'refs/pr/3', a branch or tag that can move"),
        ('"abc1234"', "'abc1234', an abbreviated commit"),
    ],
)
def test_movable_revisions_are_named(audit: Audit, revision: str, phrase: str) -> None:
    found = audit({"app.py": f'AutoModel.from_pretrained("org/m", revision={revision})\n'})
    assert hits(found) == [("RP601", "app.py", 1)]
    assert phrase in found[0].message


def test_pipeline_model(audit: Audit) -> None:
    code = f"""
    from transformers import pipeline
    import transformers as tf

    a = pipeline("text-classification", model="org/clf")
    b = pipeline("text-classification", "org/clf")
    c = tf.pipeline(task="ner", model="org/ner")
    d = pipeline("text-classification", model="org/clf", revision="{_COMMIT}")
    e = pipeline("sentiment-analysis")
    f = pipeline("text-classification", model=model_object)
    """
    assert _py(audit, code) == [("RP601", "app.py", n) for n in (4, 5, 6)]


def test_a_pipeline_function_of_our_own_is_not_transformers(audit: Audit) -> None:
    code = """
    def pipeline(task, model):
        return task, model

    pipeline("train", model="org/clf")
    """
    assert _py(audit, code) == []


def test_trust_remote_code_is_mentioned(audit: Audit) -> None:
    found = audit({"app.py": 'AutoModel.from_pretrained("org/m", trust_remote_code=True)\n'})
    assert "trust_remote_code=True" in _one(found, "RP601").message


@pytest.mark.parametrize(
    "model",
    [
        '"./models/bert"',
        '"../shared/bert"',
        '"/opt/models/bert"',
        '"~/models/bert"',
        '"outputs/checkpoint-500"',
        '"checkpoints/best"',
        '"weights/model.safetensors"',
        '"model.bin"',
        '"a/b/c"',
        'os.path.join(MODELS, "bert")',
        'Path("models") / "bert"',
        'f"{MODEL_DIR}/bert"',
        "cfg.model_name",
        "args.model",
        'os.environ["MODEL"]',
    ],
)
def test_local_paths_and_unresolved_ids_are_not_flagged(audit: Audit, model: str) -> None:
    assert _py(audit, f"AutoModel.from_pretrained({model})\n") == []


def test_a_directory_in_the_repository_is_local(audit: Audit) -> None:
    found = audit(
        {
            "svc/models/bert/config.json": '{"architectures": ["BertModel"]}\n',
            "svc/app.py": 'AutoModel.from_pretrained("models/bert")\n',
            "svc/other.py": 'AutoModel.from_pretrained("models/roberta")\n',
        }
    )
    assert _ours(found) == [("RP601", "svc/other.py", 1)]


def test_module_and_function_constants_resolve(audit: Audit) -> None:
    code = f"""
    MODEL = "org/a"
    TYPED: str = "org/b"
    REV = "{_COMMIT}"
    ORG = "org"
    BRANCH = "main"

    AutoModel.from_pretrained(MODEL)
    AutoModel.from_pretrained(TYPED, revision=REV)
    AutoModel.from_pretrained(f"{{ORG}}/c")
    AutoModel.from_pretrained(ORG + "/d", revision=BRANCH)


    def load():
        local = "org/e"
        return AutoModel.from_pretrained(local)


    def shadowed(MODEL):
        return AutoModel.from_pretrained(MODEL)


    def uses_global():
        return AutoModel.from_pretrained(MODEL)


    def nested():
        inner = "org/f"

        def go():
            return AutoModel.from_pretrained(inner)

        return go
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert [(h, f.subject) for h, f in zip(_ours(found), found, strict=True)] == [
        (("RP601", "app.py", 7), "org/a"),
        (("RP601", "app.py", 9), "org/c"),
        (("RP601", "app.py", 10), "org/d"),
        (("RP601", "app.py", 15), "org/e"),
        (("RP601", "app.py", 23), "org/a"),
        (("RP601", "app.py", 30), "org/f"),
    ]


def test_aliased_imports_are_followed_into_functions(audit: Audit) -> None:
    code = """
    import logging

    try:
        from transformers import pipeline as make_pipe
    except ImportError:
        make_pipe = None
    from huggingface_hub import snapshot_download as sd
    from torch import hub as h


    def a():
        return make_pipe("ner", model="org/ner")


    def b():
        return sd("org/m")


    def c():
        return h.load("pytorch/vision", "resnet18")


    def unrelated():
        logging.info("nothing to see")
    """
    assert _py(audit, code) == [("RP601", "app.py", n) for n in (12, 16, 20)]


def test_names_bound_more_than_one_way_do_not_resolve(audit: Audit) -> None:
    code = """
    MODEL = "org/a"
    if FAST:
        MODEL = "org/small"
    SAME = "org/same"
    SAME = "org/same"
    for CANDIDATE in ["org/x", "org/y"]:
        AutoModel.from_pretrained(CANDIDATE)
    AutoModel.from_pretrained(MODEL)
    AutoModel.from_pretrained(SAME)


    class Config:
        NAME = "org/class-attr"

        def load(self):
            return AutoModel.from_pretrained(NAME)
    """
    assert _py(audit, code) == [("RP601", "app.py", 9)]


def test_python_with_template_markup_is_a_note(audit: Audit) -> None:
    """A template rendered into Python later (Jinja, cookiecutter) is no Python file its
    interpreter rejects: an RP002 note, not RP001 (issue 14 section 1)."""
    found = audit({"gen/train.py": "from transformers import AutoModel\nm = {{ model }}(\n"})
    assert [(f.rule, f.location.line, f.message) for f in found] == [
        ("RP002", 2, "a template with {{ }} or {% %} markup, not Python: '(' was never closed"),
    ]


def test_star_args_and_unknown_kwargs_are_not_judged(audit: Audit) -> None:
    code = f"""
    opts = dict(revision="{_COMMIT}")
    AutoModel.from_pretrained("org/a", **opts)
    AutoModel.from_pretrained(*names)
    def load(**kwargs):
        return AutoModel.from_pretrained("org/b", **kwargs)
    extra = {{"dtype": "auto"}}
    extra.update(revision="{_COMMIT}")
    AutoModel.from_pretrained("org/c", **extra)
    built = make_kwargs()
    AutoModel.from_pretrained("org/d", **built)
    """
    assert _py(audit, code) == []


def test_kwargs_written_out_without_a_revision(audit: Audit) -> None:
    """huggingface/peft ``examples/waveft_finetuning/waveft_finetuning.py``:
    ``model_kwargs = {"dtype": ..., "device_map": ...}`` then
    ``AutoModelForCausalLM.from_pretrained(base_model, **model_kwargs)``: a dict literal in
    scope says what the call receives, and it has no revision (issue 14 section 4)."""
    code = """
    def train(dtype="bfloat16", device_map="auto"):
        model_kwargs = {"dtype": dtype, "device_map": device_map}
        return AutoModelForCausalLM.from_pretrained("huggyllama/llama-7b", **model_kwargs)
    moving = dict(revision="main", trust_remote_code=True)
    AutoModel.from_pretrained("org/a", **moving)
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert [(f.rule, f.location.line, f.message) for f in found] == [
        ("RP601", 3,
         "model huggyllama/llama-7b is fetched by AutoModelForCausalLM.from_pretrained without "
         "a revision"),
        ("RP601", 5,
         "model org/a is fetched by AutoModel.from_pretrained at revision 'main', a branch or "
         "tag that can move and runs its code (trust_remote_code=True)"),
    ]  # fmt: skip


def test_a_model_saved_earlier_is_loaded_from_disk(audit: Audit) -> None:
    """huggingface/peft ``examples/semantic_segmentation/semantic_segmentation_peft_lora.ipynb``:
    ``lora_model.save_pretrained(model_id)`` then ``PeftConfig.from_pretrained(model_id)``:
    the id reads like a hub repository, but the notebook wrote it itself (issue 14 section 4)."""
    notebook = _notebook(
        ['model_id = "segformer-scene-parse-150-lora"\n', "lora_model.save_pretrained(model_id)"],
        ["config = PeftConfig.from_pretrained(model_id)\n",
         'tok = AutoTokenizer.from_pretrained("segformer-scene-parse-150-lora/tokenizer")\n',
         'other = AutoModel.from_pretrained("org/not-saved")'],
    )  # fmt: skip
    code = """
    def finetune(trainer):
        trainer.save_model("out-model")
        return AutoModel.from_pretrained("out-model")
    def elsewhere():
        return AutoModel.from_pretrained("out-model")
    AutoModel.from_pretrained("early")
    AutoModel.save_pretrained("early")
    """
    found = audit({"nb.ipynb": notebook, "app.py": textwrap.dedent(code).lstrip("\n")})
    assert [(f.location.path, f.location.line, f.subject) for f in found] == [
        ("app.py", 5, "out-model"),
        ("app.py", 6, "early"),
        ("nb.ipynb", _line_of(notebook, "org/not-saved"), "org/not-saved"),
    ]


@pytest.mark.parametrize(
    ("code", "lines", "phrase"),
    [
        ('torch.hub.load("pytorch/vision", "resnet18")', [2], "without a ref"),
        ('torch.hub.load("pytorch/vision:v0.10.0", "resnet18")', [2], "'v0.10.0'"),
        (f'torch.hub.load("pytorch/vision:{_COMMIT}", "resnet18")', [], ""),
        ('torch.hub.load("./hub", "resnet18", source="local")', [], ""),
        ('torch.hub.load("org/repo", "m", source="local")', [], ""),
        ('torch.hub.load(repo_or_dir="ultralytics/yolov5", model="yolov5s")', [2], "yolov5"),
        ('torch.hub.load("/abs/dir", "m")', [], ""),
        ('torch.hub.list("pytorch/vision")', [], ""),
    ],
)
def test_torch_hub(audit: Audit, code: str, lines: list[int], phrase: str) -> None:
    found = audit({"app.py": f"import torch\n{code}\n"})
    assert _ours(found) == [("RP601", "app.py", n) for n in lines]
    if lines:
        assert phrase in found[0].message
        assert str(found[0].fix).endswith(':<40-hex commit>"')


def test_torch_hub_through_import_aliases(audit: Audit) -> None:
    code = """
    from torch import hub
    import torch.hub as th
    import tensorflow_hub as tfhub

    hub.load("pytorch/vision", "resnet18")
    th.load("pytorch/vision", "resnet50")
    tfhub.load("google/universal")
    """
    assert _py(audit, code) == [("RP601", "app.py", 5), ("RP601", "app.py", 6)]


def test_hf_hub_names_in_timm_and_open_clip(audit: Audit) -> None:
    code = f"""
    import timm
    import open_clip

    timm.create_model("hf-hub:timm/vit_base_patch16_224.augreg_in21k", pretrained=True)
    timm.create_model("hf_hub:timm/resnet50.a1_in1k@main", pretrained=True)
    timm.create_model("hf-hub:timm/resnet50.a1_in1k@{_COMMIT}", pretrained=True)
    timm.create_model("resnet50", pretrained=True)
    open_clip.create_model_and_transforms("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert _ours(found) == [("RP601", "app.py", n) for n in (4, 5, 8)]
    assert found[0].fix == "hf-hub:timm/vit_base_patch16_224.augreg_in21k@<40-hex commit>"
    assert "open_clip" in found[2].message


# --- RP602: datasets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "lines"),
    [
        ('load_dataset("imdb")', [2]),
        ('load_dataset("stanfordnlp/imdb", split="train")', [2]),
        ('load_dataset(path="glue", name="sst2")', [2]),
        ('load_dataset("glue", "sst2", revision="main")', [2]),
        (f'load_dataset("glue", "sst2", revision="{_COMMIT}")', []),
        ('load_dataset("csv", data_files="train.csv")', []),
        ('load_dataset("parquet", data_files={"train": "s3://b/x.parquet"})', []),
        ('load_dataset("json", data_files=files)', []),
        ('load_dataset("./data/my_dataset")', []),
        ('load_dataset("/data/imdb")', []),
        ('load_dataset("data/scripts/loader.py")', []),
        ('load_dataset("scripts/loader.py")', []),
        ("load_dataset(name)", []),
        ('load_dataset_builder("imdb")', [2]),
    ],
)
def test_load_dataset(audit: Audit, call: str, lines: list[int]) -> None:
    code = f"from datasets import load_dataset, load_dataset_builder\n{call}\n"
    assert _ours(audit({"app.py": code})) == [("RP602", "app.py", n) for n in lines]


def test_a_load_dataset_of_our_own_is_not_the_hub(audit: Audit) -> None:
    code = """
    def load_dataset(name):
        return open(name)

    load_dataset("train")
    """
    assert _py(audit, code) == []


def test_hub_downloads_of_datasets_are_rp602(audit: Audit) -> None:
    code = f"""
    snapshot_download("org/corpus", repo_type="dataset")
    hf_hub_download("org/corpus", "train.csv", repo_type="dataset", revision="{_COMMIT}")
    snapshot_download("org/space", repo_type="space")
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert _ours(found) == [("RP602", "app.py", 1), ("RP601", "app.py", 3)]
    assert found[0].subject == "org/corpus"


@pytest.mark.parametrize(
    ("call", "lines"),
    [
        ('dvc.api.open("data/x.csv", repo="https://github.com/org/reg")', [2]),
        ('dvc.api.read("data/x.csv", repo="git@github.com:org/reg.git", rev="main")', [2]),
        ('dvc.api.get_url("data/x.csv", "https://github.com/org/reg")', [2]),
        (f'dvc.api.read("data/x.csv", repo="https://github.com/org/reg", rev="{_COMMIT}")', []),
        (f'dvc.api.open("data/x.csv", "https://github.com/org/reg", "{_COMMIT}")', []),
        ('dvc.api.open("data/x.csv")', []),
        ('dvc.api.read("data/x.csv", repo=None)', []),
        ('dvc.api.read("data/x.csv", repo=".")', []),
        ('dvc.api.DVCFileSystem("https://github.com/org/reg")', [2]),
        ('dvc.api.DVCFileSystem(url="https://github.com/org/reg", rev="v2")', [2]),
        (f'dvc.api.DVCFileSystem("https://github.com/org/reg", rev="{_COMMIT}")', []),
    ],
)
def test_dvc_api(audit: Audit, call: str, lines: list[int]) -> None:
    found = audit({"app.py": f"import dvc.api\n{call}\n"})
    assert _ours(found) == [("RP602", "app.py", n) for n in lines]
    if lines:
        assert found[0].fix == 'rev="<40-hex commit>"'


def test_dvc_api_through_from_imports(audit: Audit) -> None:
    code = """
    from dvc import api
    from dvc.api import read as dvc_read

    api.open("x.csv", repo="https://github.com/org/reg")
    dvc_read("x.csv", repo="https://github.com/org/reg")
    """
    assert _py(audit, code) == [("RP602", "app.py", 4), ("RP602", "app.py", 5)]


# --- RP603: registries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "rest", "flagged"),
    [
        ("models:/", "churn/Production", True),
        ("models:/", "churn/Staging", True),
        ("models:/", "churn/latest", True),
        ("models:/", "churn@champion", True),
        ("models:/", "churn/7", False),
        ("runs:/", "0a1b2c3d4e5f/model", False),
        ("models:/", "m-0a1b2c3d4e5f", False),
    ],
)
def test_mlflow_registry_uris(audit: Audit, scheme: str, rest: str, flagged: bool) -> None:
    uri = scheme + rest  # written apart so that this file passes the repository's own audit
    found = audit({"app.py": f'import mlflow\nmlflow.pyfunc.load_model("{uri}")\n'})
    assert _ours(found) == ([("RP603", "app.py", 2)] if flagged else [])
    if flagged:
        assert found[0].subject == "churn"
        assert found[0].fix == "models:/churn/<version number>"


def test_registry_uris_in_f_strings_and_docstrings(audit: Audit) -> None:
    code = '''
    """Loads models:/churn/Production by default."""

    def load(name, version):
        """Pass models:/x/Staging to get the staging model."""
        a = mlflow.pyfunc.load_model(f"models:/{name}/Production")
        b = mlflow.pyfunc.load_model(f"models:/churn/{version}")
        return a, b
    '''
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert _ours(found) == [("RP603", "app.py", 5)]
    assert found[0].subject == "<name>"


def test_dvc_artifacts_download(audit: Audit) -> None:
    code = """
    import dvc.api

    dvc.api.artifacts_download("churn-model", repo="https://github.com/org/reg")
    dvc.api.artifacts_download("churn-model", stage="prod")
    dvc.api.artifacts_download("churn-model", version="v3.1.0")
    """
    assert _py(audit, code) == [("RP603", "app.py", 3), ("RP603", "app.py", 4)]


def test_wandb_artifacts(audit: Audit) -> None:
    code = """
    import wandb

    run = wandb.init()
    a = run.use_artifact("acme/churn/model:latest")
    b = run.use_artifact("acme/churn/model:v3")
    c = run.use_artifact("churn-model")
    d = wandb.Api().artifact("acme/churn/model:best")
    e = wandb.Api().artifact("acme/churn/model:v12")
    f = run.use_artifact(artifact_object)
    DEFAULT = "acme/churn/labels:latest"
    IMAGE = "ghcr.io/acme/trainer:latest"
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert _ours(found) == [("RP603", "app.py", n) for n in (4, 6, 7, 10)]
    assert "names no version" in found[1].message
    assert found[0].fix == "acme/churn/model:v<N>"


# --- RP604 in code -------------------------------------------------------------------------


def test_latest_data_uris_in_code(audit: Audit) -> None:
    code = """
    A = "s3://bucket/features/latest/part-0.parquet"
    B = "gs://bucket/latest"
    C = "dbfs:/mnt/lake/latest/events"
    D = "/dbfs/mnt/lake/latest/events"
    E = f"abfss://c@acct.dfs.core.windows.net/{table}/latest/"
    F = "https://docs.example.com/en/latest/"
    G = "/mnt/data/latest/"
    H = "s3://bucket/features/2024-06-01/part-0.parquet"
    I = "s3://bucket/latest_features/x"
    """
    found = audit({"app.py": textwrap.dedent(code).lstrip("\n")})
    assert _ours(found) == [("RP604", "app.py", n) for n in (1, 2, 3, 4, 5)]
    assert found[0].fix == "s3://bucket/features/<version>/part-0.parquet"


# --- Python files that do not parse --------------------------------------------------------


def test_unparsable_python_that_names_a_model_is_rp001(audit: Audit) -> None:
    code = 'x = 1\nprint "loading"\nAutoModel.from_pretrained("org/m")\n'
    found = audit({"legacy.py": code, "plain.py": "def broken(:\n"})
    assert hits(found) == [("RP001", "legacy.py", 2)]
    assert found[0].severity is Severity.ERROR
    assert "invalid Python syntax" in found[0].message


def test_templates_are_not_python_yet(audit: Audit) -> None:
    path = "{{cookiecutter.slug}}/train.py"
    assert _ours(audit({path: 'm = {{ cookiecutter.model }}.from_pretrained("x")\n'})) == []


def test_invalid_escapes_raise_no_warning(audit: Audit) -> None:
    # pytest turns warnings into errors here: a SyntaxWarning would fail this test.
    code = 'PATTERN = "\\d+"\nAutoModel.from_pretrained("org/m")\n'
    assert _ours(audit({"app.py": code})) == [("RP601", "app.py", 2)]


# --- notebooks -----------------------------------------------------------------------------


def _notebook(*cells: str | list[str], language: str = "python", indent: int | None = 1) -> str:
    """A notebook as Jupyter writes it (one JSON line per source line with indent=1)."""
    nb_cells = []
    for i, cell in enumerate(cells):
        heading = isinstance(cell, str) and cell.startswith("# ") and "\n" not in cell
        kind = "markdown" if heading else "code"
        entry: dict[str, object] = {"cell_type": kind, "id": f"c{i}", "metadata": {}}
        entry["source"] = cell
        if kind == "code":
            entry.update({"execution_count": None, "outputs": []})
        nb_cells.append(entry)
    nb = {
        "cells": nb_cells,
        "metadata": {"kernelspec": {"language": language, "name": f"{language}3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=indent) + "\n"


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_notebook_lines_are_lines_of_the_ipynb_file(audit: Audit) -> None:
    text = _notebook(
        "# Title",
        ["import transformers\n", 'MODEL = "org/a"\n'],
        ["tok = transformers.AutoTokenizer.from_pretrained(MODEL)\n", "x = 1\n"],
        ["%matplotlib inline\n", "!ls data\n", "files = !ls\n", "y = 2\n", "df?\n",
         'm = transformers.AutoModel.from_pretrained("org/b")'],
    )  # fmt: skip
    found = audit({"nb/explore.ipynb": text})
    assert _ours(found) == [
        ("RP601", "nb/explore.ipynb", _line_of(text, "AutoTokenizer")),
        ("RP601", "nb/explore.ipynb", _line_of(text, "AutoModel.from_pretrained")),
    ]
    assert found[0].subject == "org/a"  # a constant from an earlier cell


def test_notebook_source_as_one_string(audit: Audit) -> None:
    text = _notebook(
        "# Notes",
        'import datasets\nds = datasets.load_dataset("imdb")\n',
        'from huggingface_hub import snapshot_download\n\nsnapshot_download("org/m")\n',
    )
    found = audit({"nb.ipynb": text})
    assert _ours(found) == [
        ("RP602", "nb.ipynb", _line_of(text, "load_dataset")),
        ("RP601", "nb.ipynb", _line_of(text, "snapshot_download(")),
    ]


def test_compact_notebook_reports_line_one(audit: Audit) -> None:
    text = _notebook(['AutoModel.from_pretrained("org/m")'], indent=None)
    assert _ours(audit({"nb.ipynb": text})) == [("RP601", "nb.ipynb", 1)]


def test_notebook_cells_in_other_languages_are_skipped(audit: Audit) -> None:
    text = _notebook(
        ["%%bash\n", 'echo AutoModel.from_pretrained("org/a")'],
        ["%%time\n", 'AutoModel.from_pretrained("org/b")'],
    )
    assert _ours(audit({"nb.ipynb": text})) == [("RP601", "nb.ipynb", _line_of(text, "org/b"))]


def test_a_broken_statement_is_noted_and_the_rest_audited(audit: Audit) -> None:
    """Jupyter accepts a notebook whose cell does not parse (it fails when run): that is a
    note (RP002), and the other statements of that cell are still audited."""
    text = _notebook(
        ["def half(:\n", "    pass\n", 'AutoModel.from_pretrained("org/a")'],
        ['AutoModel.from_pretrained("org/m")'],
    )
    found = audit({"nb.ipynb": text})
    assert [(f.rule, f.location.line) for f in found] == [
        ("RP002", _line_of(text, "def half")),
        ("RP601", _line_of(text, "org/a")),
        ("RP601", _line_of(text, "org/m")),
    ]
    assert found[0].severity is Severity.NOTE
    assert found[0].message == (
        "notebook cell 1: a statement is not valid Python and is skipped: invalid syntax"
    )


def test_ipython_lines_as_the_only_statement_of_a_block(audit: Audit) -> None:
    """ultralytics/yolov5 ``tutorial.ipynb`` (AGPL-3.0, the shape only): a ``%pip install``
    that is the only statement of an ``if``/``elif`` body, IPython's rules read it; the model
    loaded in the same cell is kept (issue 14 section 1)."""
    text = _notebook(
        [
            "import transformers\n",
            "logger = 'Comet'\n",
            "if logger == 'Comet':\n",
            "  %pip install -q comet_ml\n",
            "elif logger == 'ClearML':\n",
            "  !pip install clearml==1.16.2 \\\n",
            "      boto3\n",
            "else:\n",
            "  files = !ls data\n",
            "  version = %pip --version\n",
            'transformers.AutoModel.from_pretrained("org/m")',
        ]
    )
    found = audit({"nb.ipynb": text, "repro.toml": "require-hashes = false\n"})
    assert [(f.rule, f.location.line, f.subject) for f in found] == [
        ("RP101", _line_of(text, "comet_ml"), "comet-ml"),
        ("RP101", _line_of(text, "boto3"), "boto3"),
        ("RP601", _line_of(text, "org/m"), "org/m"),
    ]


def test_ipython_continuation_lines(audit: Audit) -> None:
    """EleutherAI/lm-evaluation-harness ``examples/lm-eval-overview.ipynb``: ``%env`` then
    ``!lm_eval \\`` with continuation lines, in a cell written as one JSON string. Jupyter
    runs it; it is neither RP001 nor RP002."""
    text = _notebook(
        "%env LMEVAL_LOG_LEVEL=DEBUG\n!lm_eval \\\n    --model hf \\\n    --tasks demo_boolq\n"
        'import transformers\ntransformers.AutoModel.from_pretrained("org/m")\n'
        "!pip install torch \\\n    numpy==1.26.4"
    )
    found = audit({"nb.ipynb": text, "repro.toml": "require-hashes = false\n"})
    line = _line_of(text, "LMEVAL")
    assert sorted((f.rule, f.location.line, f.subject) for f in found) == [
        ("RP101", line, "torch"),
        ("RP601", line, "org/m"),
    ]


@pytest.mark.parametrize(
    ("cell", "python", "specials"),
    [
        ("!ls\n", "pass\n", [("shell", "", ("ls",), 0)]),
        ("!!ls -l", "pass", [("shell", "", ("ls -l",), 0)]),
        ("x = !ls \\\n  -l", "x = None\n", [("shell", "", ("ls  \\", "  -l"), 0)]),
        ("x = %who_ls", "x = None", [("magic", "who_ls", ("",), 0)]),
        ("%pip install a", "pass", [("magic", "pip", ("install a",), 0)]),
        ("  %time f()", "pass", [("magic", "time", ("f()",), 0)]),
        ("obj?", "pass", [("help", "", ("obj?",), 0)]),
        ("obj.attr??", "pass", [("help", "", ("obj.attr??",), 0)]),
        ("%pip?", "pass", [("help", "", ("%pip?",), 0)]),
        ("?obj", "pass", [("help", "", ("?obj",), 0)]),
        ("/f a b", "pass", [("autocall", "", ("/f a b",), 0)]),
        ("!ls # what?", "pass", [("shell", "", ("ls # what?",), 0)]),
        ("!pip install numpy?", "pass", [("help", "", ("!pip install numpy?",), 0)]),
        ("x = !echo 'it", "x = None", [("shell", "", ("echo 'it",), 0)]),
        ('s = """\n!not a command\n"""', 's = """\n!not a command\n"""', []),
        ("f(a,\n  !b)", "f(a,\n  !b)", []),
        ("x = 1 # !ls", "x = 1 # !ls", []),
        ("a != b", "a != b", []),
        ("x = 5 % 3", "x = 5 % 3", []),
        ("%%bash\npip install a", "", [("cell", "bash", ("", "pip install a"), 0)]),
        ("%%time\n!ls\ny = 1", "\npass\ny = 1",
         [("cell", "time", ("", "!ls", "y = 1"), 0), ("shell", "", ("ls",), 1)]),
        ("    x = 1\n    !ls", "x = 1\npass", [("shell", "", ("ls",), 1)]),
        ("%%time\n%%bash\nls", "",
         [("cell", "time", ("", "%%bash", "ls"), 0), ("cell", "bash", ("", "ls"), 1)]),
    ],
)  # fmt: skip
def test_ipython_transformation_rules(
    cell: str, python: str, specials: list[tuple[str, str, tuple[str, ...], int]]
) -> None:
    """The rules of IPython 9.19.1's ``TransformerManager.transform_cell``; each case's Python
    is what it makes of the cell, with a ``get_ipython()`` call written as ``pass`` (or
    ``None`` on the right of an assignment) and continuation lines kept as blank lines."""
    result = transform_cell(cell)
    assert "\n".join(result.python) == python
    assert [(s.kind, s.name, s.args, s.line) for s in result.specials] == specials


def test_notebooks_of_other_kernels_are_not_python(audit: Audit) -> None:
    text = _notebook(['AutoModel.from_pretrained("org/m")'], language="R")
    assert _ours(audit({"nb.ipynb": text})) == []


def test_invalid_notebook_json_is_rp001(audit: Audit) -> None:
    found = audit({"nb.ipynb": '{\n "cells": [\n  {,\n'})
    assert hits(found) == [("RP001", "nb.ipynb", 3)]


def test_value_lines_by_path() -> None:
    text = (
        '{"metadata": {"cells": [{"source": "decoy"}]},\n'
        ' "cells": [\n'
        '  {"outputs": [{"source": ["{[\\"x\\"]}", "]}"]}], "source": "a"},\n'
        '  {"source": [\n'
        '    "b\\n",\n'
        '    "c"], "n": 1},\n'
        '  {"source": "old",\n'
        '   "source": "new"}\n'
        " ]}\n"
    )
    lines = ValueLines(text)
    assert lines.line(("cells", 1, "source", 1)) == 6
    assert lines.line(("cells", 0, "source")) == 3
    assert lines.line(("cells", 1, "source", 0)) == 5
    assert lines.line(("cells", 2, "source")) == 8  # json.loads keeps the last of a repeated key
    assert lines.line(("metadata", "cells", 0, "source")) == 1
    assert lines.line(()) == 1
    assert lines.line(("cells", 3)) is None
    assert lines.line(("cells", 1, "n", 0)) is None
    assert lines.line(("nothing",)) is None
    assert ValueLines(json.dumps(json.loads(text))).line(("cells", 2, "source")) == 1


_JSON = st.recursive(
    st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none(), st.floats()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["cells", "source", "outputs", "a"]), inner, max_size=3),
    ),
    max_leaves=12,
)


@given(document=_JSON, indent=st.sampled_from([None, 0, 1, 2]), reverse=st.booleans())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_value_lines_agree_with_the_walk_over_every_lexeme(
    document: object, indent: int | None, reverse: bool
) -> None:
    """Every scalar gets the line the walk over every lexeme gives it, in any order asked."""
    text = json.dumps(document, indent=indent)
    scalars = list(json_scalars(text))
    lines = ValueLines(text)
    for path, _lexeme, line in reversed(scalars) if reverse else scalars:
        assert lines.line(path) == line, (text, path)


def test_value_lines_read_the_containers_in_a_container_while_passing_over_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the root of a notebook records where each cell starts, so finding a cell's
    source does not decode the cells before it a second time."""
    text = _notebook(["%pip install numpy\n"], "import os", ['AutoModel.from_pretrained("x")'])
    lines = ValueLines(text)
    assert lines.line(("nbformat",)) == _line_of(text, '"nbformat"')
    assert set(lines._children) == {(), ("cells",), ("metadata",)}
    scanned: list[int] = []
    real = formats_json._SCAN

    def counted(text: str, index: int) -> tuple[object, int]:
        scanned.append(index)
        return real(text, index)

    monkeypatch.setattr(formats_json, "_SCAN", counted)
    assert lines.line(("cells", 2, "source", 0)) == _line_of(text, "from_pretrained")
    assert list(json.loads(text)["cells"][2]) == [
        "cell_type", "id", "metadata", "source", "execution_count", "outputs"
    ]  # fmt: skip
    # The cell's 6 keys, its 3 scalars and its source's one line: no cell is decoded again.
    assert len(scanned) == 6 + 3 + 1


def _json_text(draw: st.DrawFn, depth: int = 0) -> str:
    """A JSON document as text, its objects free to repeat a key, one member a line or not."""
    kind = draw(st.sampled_from(["scalar", "list", "object"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return json.dumps(draw(st.one_of(st.integers(), st.text(max_size=4), st.none())))
    items = [_json_text(draw, depth + 1) for _ in range(draw(st.integers(0, 3)))]
    if kind == "object":
        keys = draw(st.lists(st.sampled_from(["a", "b"]), min_size=len(items), max_size=len(items)))
        items = [f"{json.dumps(key)}: {item}" for key, item in zip(keys, items, strict=True)]
    separator = draw(st.sampled_from([", ", ",\n ", "\n,"]))
    body = separator.join(items)
    return f"{{{body}}}" if kind == "object" else f"[{body}]"


def _kept_scalar(document: object, path: tuple[str | int, ...]) -> bool | None:
    """True when ``path`` leads to a scalar of ``document``, None to a container, False when
    it leads nowhere."""
    for step in path:
        in_dict = isinstance(document, dict) and isinstance(step, str) and step in document
        in_list = isinstance(document, list) and isinstance(step, int) and step < len(document)
        if not (in_dict or in_list):
            return False
        document = document[step]  # type: ignore[index]
    return None if isinstance(document, dict | list) else True


@given(data=st.data(), reverse=st.booleans())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_value_lines_follow_the_last_of_a_repeated_key(data: st.DataObject, reverse: bool) -> None:
    """With keys given twice, every scalar json.loads keeps gets the line of the last one
    given (the walk over every lexeme meets the kept one last); a scalar it drops has none."""
    text = data.draw(st.composite(_json_text)())
    document = json.loads(text)
    last: dict[tuple[str | int, ...], int] = {}
    for path, _lexeme, line in json_scalars(text):
        last[path] = line
    lines = ValueLines(text)
    for path in reversed(list(last)) if reverse else list(last):
        kept = _kept_scalar(document, path)
        if kept is None:  # a later value of the key is a container, which the walk passes
            assert lines.line(path) is not None, (text, path)
        else:
            assert lines.line(path) == (last[path] if kept else None), (text, path)


def _json_outcome(text: str) -> tuple[str, object]:
    """What ``json.loads`` makes of ``text``: the document written out again (NaN is not
    equal to itself), or the error with its message and position."""
    try:
        return "value", json.dumps(json.loads(text))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _loaded_outcome(text: str) -> tuple[str, object]:
    try:
        return "value", json.dumps(ValueLines.loads(text)[0])
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


@given(data=st.data(), cuts=st.lists(st.integers(0, 10_000), max_size=2))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_value_lines_load_what_json_loads_loads(data: st.DataObject, cuts: list[int]) -> None:
    """ValueLines.loads gives the document json.loads gives, or its error: on JSON and on
    JSON with characters taken out, doubled or put in (commas, brackets, quotes, blanks)."""
    text = data.draw(st.composite(_json_text)())
    for cut in cuts:
        at = cut % (len(text) + 1)
        change = data.draw(st.sampled_from(["drop", "double", *',:[]{}" \nx1']))
        if change == "drop":
            text = text[:at] + text[at + 1 :]
        elif change == "double":
            text = text[:at] + text[at : at + 1] * 2 + text[at + 1 :]
        else:
            text = text[:at] + change + text[at:]
    expected = _json_outcome(text)
    assert _loaded_outcome(text) == expected, text
    if expected[0] == "value":  # JSON is read without json.loads
        with mock.patch.object(json, "loads", side_effect=AssertionError):
            assert json.dumps(ValueLines.loads(text)[0]) == expected[1]


@pytest.mark.parametrize(
    "text",
    ["", " ", "[1,]", '{"a": 1,}', "[1 2]", '{"a" 1}', '{"a": 1 "b": 2}', "{1: 2}", "[", "[1",
     '{"a"', "[] []", "[]x", "\ufeff[]", '["\x01"]', "NaN", " [ ] ", '{"a": [1, {"b": []}]}',
     "[" * 100_000 + "]" * 100_000],
)  # fmt: skip
def test_value_lines_load_refuses_what_json_loads_refuses(text: str) -> None:
    assert _loaded_outcome(text) == _json_outcome(text)


def test_value_lines_load_reads_a_notebook_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's data and its lines come from one decode: json.loads is not called, and
    asking for a cell's line reads only that cell again, as after a lazy first question."""
    text = _notebook(["%pip install numpy\n"], "import os", ['AutoModel.from_pretrained("x")'])

    def refuse(text: str) -> object:
        raise AssertionError("decoded again")

    monkeypatch.setattr(json, "loads", refuse)
    data, lines = ValueLines.loads(text)
    monkeypatch.undo()
    assert data == json.loads(text)
    assert set(lines._children) == {(), ("cells",), ("metadata",)}
    lazy = ValueLines(text)
    assert lazy.line(("nbformat",)) == lines.line(("nbformat",))
    assert lines._children == lazy._children
    assert lines.line(("cells", 2, "source", 0)) == _line_of(text, "from_pretrained")


def test_notebook_lines_through_outputs_and_string_sources(audit: Audit) -> None:
    """Lines found lazily are the lines of the .ipynb file, past outputs of any shape."""
    nb = json.loads(_notebook(["%pip install numpy\n"], 'AutoModel.from_pretrained("org/a")'))
    nb["cells"][0]["outputs"] = [{"data": {"text/plain": ["{\n", '["source"]\n']}}]
    nb["cells"][1]["outputs"] = [{"name": "stdout", "text": ["]\n"] * 5}]
    text = json.dumps(nb, indent=1)
    found = audit({"nb.ipynb": text})
    assert [(f.rule, f.location.line) for f in found if f.rule != "RP103"] == [
        ("RP101", _line_of(text, "%pip")),
        ("RP601", _line_of(text, "org/a")),
    ]


def test_a_notebook_that_reports_nothing_is_not_walked_for_lines(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: ValueLines, path: object) -> int:
        raise AssertionError("walked")

    monkeypatch.setattr(ValueLines, "line", refuse)
    text = _notebook(["import numpy\n", "!ls data\n", 'AutoModel.from_pretrained("./local")'])
    assert audit({"nb.ipynb": text}) == []
    with pytest.raises(AssertionError, match="walked"):
        audit({"nb.ipynb": _notebook(['AutoModel.from_pretrained("org/m")'])})


@given(pieces=st.lists(st.text(alphabet="ab!%?,;/ \t\n\r\x0c\u2028", max_size=8), max_size=4))
@settings(max_examples=500)
def test_cells_passed_over_hold_no_ipython_syntax(pieces: list[str]) -> None:
    """A cell a notebook without model or dataset names does not read is one IPython's
    rules find no syntax in."""
    raw = "".join(pieces)
    passed_over = not notebook_module._may_hold_syntax(raw)
    # The same test written as one pattern (slower: it is tried at every character).
    assert passed_over is (re.search(r"[!%?]|(?:\A|[\r\n])\s*[,;/]", raw) is None)
    if passed_over:
        text = raw.replace("\r\n", "\n").replace("\r", "\n")
        assert transform_cell(text).specials == ()


def test_notebook_pip_installs_go_to_the_shell_audit(audit: Audit) -> None:
    text = _notebook(["%pip install numpy==1.26.4\n", "!pip install pandas\n", "import numpy"])
    found = audit({"nb.ipynb": text})
    # What is judged is the shell audit's business; that it sees each line where it is is ours.
    assert [(f.location.line, f.subject) for f in found] == [
        (_line_of(text, "numpy=="), "numpy"),
        (_line_of(text, "pandas"), "pandas"),
    ]
    assert ("RP101", "nb.ipynb", _line_of(text, "pandas")) in hits(found)


def test_notebook_facts(tmp_path: Path) -> None:
    text = _notebook(["%pip install numpy==1.26.4\n", "import numpy"])
    facts = _scan(NotebookScanner(), tmp_path, "nb.ipynb", text)
    assert facts.role is Role.CONCRETE
    assert [(p.name, p.version) for p in facts.pins] == [("numpy", "1.26.4")]
    plain = _scan(NotebookScanner(), tmp_path, "nb.ipynb", _notebook(["import numpy"]))
    assert plain.role is Role.OTHER


# --- RP601 in config ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("examples/opt/model-config.yaml",
         "minWorkers: 1\nhandler:\n    tp_degree: 2\n    model_name: facebook/opt-6.7b\n",
         [(4, "facebook/opt-6.7b", "model facebook/opt-6.7b (handler.model_name) is fetched "
           "without a revision")]),
        ("serve/model-config.yaml", "handler:\n  model: org/m\n",
         [(2, "org/m", "model org/m (handler.model) is fetched without a revision")]),
        ("train/config.yaml", "model: org/m\n", []),
        ("bench/results/lora--llama.json", '{"train_config": {"model_id": "org/m"}}\n', []),
        ("serve/model-config.yaml",
         "handler:\n  model_name: org/m\n"
         f"  model_path: model/models--org--m/snapshots/{_COMMIT}\n", []),
        ("train/config.yaml", f"model_id: org/m\nrevision: {_COMMIT}\n", []),
        ("train/config.yaml", "base_model: org/m\nbase_model_revision: main\n",
         [(1, "org/m", "model org/m (base_model) is fetched at revision 'main', a branch or "
           "tag that can move")]),
        ("train/params.json",
         '{\n  "model_id": "black-forest-labs/FLUX.2-klein-base-4B",\n  "seed": 0\n}\n',
         [(2, "black-forest-labs/FLUX.2-klein-base-4B", "model "
           "black-forest-labs/FLUX.2-klein-base-4B (model_id) is fetched without a revision")]),
        ("train/config.toml", 'pretrained_model_name_or_path = "org/m"\n',
         [(1, "org/m", "model org/m (pretrained_model_name_or_path) is fetched without a "
           "revision")]),
        ("train/config.yaml", "model_name: bert-base-uncased\n", []),
        ("train/config.yaml", "model_name: openai/gpt-4o\n", []),
        ("train/config.yaml", "model_name: checkpoints/run-1\n", []),
        ("train/config.yaml", "model_name_or_path: models/local\n", []),
        ("train/config.yaml", "tokenizer_name: org/m/extra\n", []),
    ],
)  # fmt: skip
def test_model_ids_in_config(
    audit: Audit, path: str, text: str, expected: list[tuple[int, str, str]]
) -> None:
    """pytorch/serve ``examples/large_models/inferentia2/opt/model-config.yaml``
    (``handler.model_name: facebook/opt-6.7b``, loaded by the handler with ``from_pretrained``)
    and huggingface/peft ``method_comparison/image-gen/default_training_params.json``
    (``model_id``): a hub model named in serving or training config (issue 14 section 4)."""
    found = [f for f in audit({path: text}) if f.rule == "RP601"]
    assert [(f.location.line, f.subject, f.message) for f in found] == expected


# --- RP603/RP604 in config -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "lines"),
    [
        ("schema_version: latest\n", [1]),
        ("schema_version: '*'\n", [1]),
        ("schema-version: current\n", [1]),
        ("schemaVersion: newest\n", [1]),
        ("schema_version:\n", [1]),
        ("schema_version: ''\n", [1]),
        ("dataset_version: LATEST\n", [1]),
        ("data_version: latest\n", [1]),
        ("schema_version: 3\n", []),
        ("schema_version: '2024-06-01'\n", []),
        ("dataset:\n  name: events\n  version: latest\n", [3]),
        ("data:\n  train:\n    path: x\n  version: '*'\n", [4]),
        ("schema:\n  revision: head\n", [1 + 1]),
        ("datasets:\n  - name: a\n    version: 3\n  - name: b\n    version: latest\n", [5]),
        ("app:\n  version: latest\n", []),
        ("version: latest\n", []),
        ("image: python:latest\n", []),
        ("paths:\n  train: s3://b/features/latest/train.parquet\n", [2]),
        ("paths:\n  - gs://b/latest/\n  - gs://b/2024/\n", [2]),
        ("cache_dir: /mnt/data/latest/\n", [1]),
        ("train: ${paths.root}/latest/train.csv\n", [1]),
        ("cmd: python train.py --data s3://b/latest/x.csv\n", [1]),
        ("docs: https://docs.example.com/en/latest/\n", []),
        ("release: v2/latest-notes.md\n", []),
        ("model_uri: models:/churn/Production\n", [1]),
        ("model_uri: models:/churn@champion\n", [1]),
        ("model_uri: models:/churn/4\n", []),
        ("wandb_artifact: acme/churn/model:latest\n", [1]),
        ("wandb_artifact: acme/churn/model:v4\n", []),
        ("base: &b\n  schema_version: latest\nother: *b\n", [2]),
        ("---\nkind: A\n---\nschema_version: latest\n", [4]),
    ],
)
def test_yaml_config(audit: Audit, yaml_text: str, lines: list[int]) -> None:
    found = audit({"conf/params.yaml": yaml_text})
    assert [h[2] for h in _ours(found)] == lines
    assert {h[0] for h in _ours(found)} <= {"RP603", "RP604"}


def test_rp604_messages_and_fixes(audit: Audit) -> None:
    found = audit({"params.yaml": "dataset:\n  version: latest\nschema_version:\n"})
    assert [(f.subject, f.message) for f in found] == [
        ("dataset.version", "dataset.version is 'latest', not a fixed version"),
        ("schema_version", "schema_version is empty, not a fixed version"),
    ]
    assert [f.fix for f in found] == ["version: <exact version>", "schema_version: <exact version>"]


def test_json_config(audit: Audit) -> None:
    text = textwrap.dedent(
        """\
        {
          "name": "churn",
          "schemaVersion": "latest",
          "dataset": {"name": "events", "version": "*",
                      "path": "s3://b/latest/events/"},
          "pinned": {"schema_version": 7},
          "models": [
            {"uri": "models:/churn/Staging"},
            {"uri": "models:/churn/3"}
          ],
          "empty": {"data_version": null}
        }
        """
    )
    found = audit({"config/settings.json": text})
    assert _ours(found) == [
        ("RP604", "config/settings.json", _line_of(text, "schemaVersion")),
        ("RP604", "config/settings.json", _line_of(text, '"version"')),
        ("RP604", "config/settings.json", _line_of(text, "s3://")),
        ("RP603", "config/settings.json", _line_of(text, "Staging")),
        ("RP604", "config/settings.json", _line_of(text, "data_version")),
    ]


def test_toml_config(audit: Audit) -> None:
    text = """
    title = "training"
    schema_version = "latest"

    [dataset]
    name = "events"
    version = "*"

    [[sources]]
    path = "gs://bucket/latest/a.parquet"

    [[sources]]
    path = "gs://bucket/2024/b.parquet"

    [registry]
    uri = "models:/churn/Production"
    data_version = 5
    """
    assert _ours(audit({"train.toml": text})) == [
        ("RP604", "train.toml", 2),
        ("RP604", "train.toml", 6),
        ("RP604", "train.toml", 9),
        ("RP603", "train.toml", 15),
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            "chart/templates/deploy.yaml",
            "{{- if .Values.x }}\nschema_version: latest\n{{- end }}\n",
        ),
        ("settings.json", '{\n  // comment\n  "schema_version": "latest"\n}\n'),
        ("bad.toml", 'schema_version = "latest\n'),
        ("package.json", '{"schema_version": "latest"}\n'),
        ("tsconfig.build.json", '{"schema_version": "latest"}\n'),
        (".pre-commit-config.yaml", "schema_version: latest\n"),
        (".github/labeler.yml", "schema_version: latest\n"),
        ("a/.vscode/settings.json", '{"schema_version": "latest"}\n'),
    ],
)
def test_configs_not_ours_or_not_parsable_are_silent(audit: Audit, path: str, text: str) -> None:
    assert hits(audit({path: text})) == []


def test_large_json_is_data(audit: Audit) -> None:
    rows = [{"schema_version": "latest", "i": i} for i in range(60_000)]
    text = json.dumps(rows)
    assert len(text) > 2_000_000
    assert hits(audit({"data/rows.json": text})) == []


def test_yaml_alias_bomb_is_walked_once(audit: Audit) -> None:
    lines = ["a0: &a0 ['s3://b/latest/x']"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    started = time.perf_counter()
    found = audit({"bomb.yaml": "\n".join(lines) + "\n"})
    assert time.perf_counter() - started < 5
    assert _ours(found) == [("RP604", "bomb.yaml", 1)]


# --- RP605 and .dvc files ------------------------------------------------------------------

_DVC_YAML = """
stages:
  prepare:
    cmd: python prepare.py
  train:
    cmd: python train.py
"""


def _lock(*names: str) -> str:
    body = "".join(f"  {n}:\n    cmd: run {n}\n" for n in names)
    return f"schema: '2.0'\nstages:\n{body}"


def test_dvc_pipeline_without_lock(audit: Audit) -> None:
    found = audit({"pipe/dvc.yaml": "# pipeline\n" + _DVC_YAML.lstrip()})
    assert hits(found) == [("RP605", "pipe/dvc.yaml", 2)]
    assert found[0].message == "dvc.yaml defines stages but has no dvc.lock beside it"
    assert found[0].severity is Severity.ERROR


def test_dvc_lock_in_another_directory_does_not_count(audit: Audit) -> None:
    found = audit({"pipe/dvc.yaml": _DVC_YAML, "dvc.lock": _lock("prepare", "train")})
    assert hits(found) == [("RP605", "pipe/dvc.yaml", 1)]


def test_dvc_pipeline_locked(audit: Audit) -> None:
    assert hits(audit({"dvc.yaml": _DVC_YAML, "dvc.lock": _lock("prepare", "train")})) == []


def test_dvc_stage_missing_from_lock(audit: Audit) -> None:
    found = audit({"dvc.yaml": _DVC_YAML, "dvc.lock": _lock("prepare")})
    assert hits(found) == [("RP605", "dvc.yaml", 4)]
    assert found[0].subject == "train"
    assert found[0].fix == "dvc repro train"


def test_dvc_lock_version_1_format(audit: Audit) -> None:
    lock = "prepare:\n  cmd: python prepare.py\n"
    assert hits(audit({"dvc.yaml": _DVC_YAML, "dvc.lock": lock})) == [("RP605", "dvc.yaml", 4)]


def test_dvc_empty_stages_need_no_lock(audit: Audit) -> None:
    assert hits(audit({"dvc.yaml": "stages: {}\nplots:\n  - metrics.json\n"})) == []


@pytest.mark.parametrize(
    ("stage", "locked", "missing"),
    [
        ("foreach: [us, uk]", ["s@us", "s@uk"], []),
        ("foreach: [us, uk]", ["s@us"], ["s@uk"]),
        ("foreach:\n      us: 1\n      uk: 2", ["s@us"], ["s@uk"]),
        ("foreach:\n      - {a: 1}\n      - {a: 2}", ["s@0"], ["s@1"]),
        ("foreach: [1, true, 2.5]", ["s@1", "s@true", "s@2.5"], []),
        ("matrix:\n      m: [a, b]\n      seed: [1]", ["s@a-1"], ["s@b-1"]),
        ("matrix:\n      m: [a, b]\n      cfg: [{x: 1}]", ["s@a-cfg0", "s@b-cfg0"], []),
        ("foreach: ${regions}", ["s@eu"], []),
        ("foreach: ${regions}", ["other"], ["s@..."]),
    ],
)
def test_dvc_generated_stages(
    audit: Audit, stage: str, locked: list[str], missing: list[str]
) -> None:
    pipeline = f"stages:\n  s:\n    {stage}\n    do:\n      cmd: echo ${{item}}\n"
    if stage.startswith("matrix"):
        pipeline = f"stages:\n  s:\n    {stage}\n    cmd: echo ${{item}}\n"
    found = audit({"dvc.yaml": pipeline, "dvc.lock": _lock(*locked) if locked else "{}\n"})
    assert hits(found) == [("RP605", "dvc.yaml", 2)] * len(missing)
    assert [f.subject for f in found] == missing


def test_broken_dvc_files_are_rp001(audit: Audit) -> None:
    found = audit(
        {
            "a/dvc.yaml": "stages:\n  train:\n    cmd: [unclosed\n",
            "b/dvc.yaml": _DVC_YAML,
            "b/dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n\tcmd: x\n",
            "c/data.dvc": "outs:\n- md5: 1\n\tpath: x\n",
        }
    )
    assert hits(found) == [
        ("RP001", "a/dvc.yaml", 4),
        ("RP001", "b/dvc.lock", 4),
        ("RP001", "c/data.dvc", 3),
    ]


def test_dvc_stages_must_be_a_mapping(audit: Audit) -> None:
    found = audit({"dvc.yaml": "vars:\n  - params.yaml\nstages:\n  - train\n"})
    assert hits(found) == [("RP001", "dvc.yaml", 3)]


def test_dvc_import_files(audit: Audit) -> None:
    unlocked = """
    deps:
    - path: datasets/imdb
      repo:
        url: https://github.com/org/registry
    outs:
    - path: imdb
    """
    short_lock = """
    deps:
    - path: datasets/imdb
      repo:
        url: https://github.com/org/registry
        rev: v1
        rev_lock: main
    outs:
    - path: imdb
    """
    locked = f"""
    deps:
    - path: datasets/imdb
      repo:
        url: https://github.com/org/registry
        rev: v1
        rev_lock: {_COMMIT}
    outs:
    - path: imdb
    """
    url_with_etag = """
    deps:
    - path: s3://bucket/prices.csv
      etag: 5d41402abc4b2a76b9719d911017c592
    outs:
    - path: prices.csv
    """
    found = audit(
        {
            "data/a.dvc": unlocked,
            "data/b.dvc": short_lock,
            "data/c.dvc": locked,
            "data/d.dvc": url_with_etag,
            "data/e.csv.dvc": "outs:\n- md5: 1a2b\n  path: e.csv\n",
        }
    )
    assert hits(found) == [("RP602", "data/a.dvc", 3), ("RP602", "data/b.dvc", 3)]
    assert found[0].subject == "https://github.com/org/registry"
    assert "without rev_lock" in found[0].message
    assert "'main', not a commit" in found[1].message
    assert found[0].fix == "dvc update --rev <40-hex commit> a.dvc"


def test_inline_ignores_in_code_notebooks_and_config(audit: Audit) -> None:
    notebook = _notebook(
        [
            "# repro: ignore[RP601] the demo model moves on purpose\n",
            'AutoModel.from_pretrained("org/a")',
        ]
    )
    found = audit(
        {
            "app.py": 'AutoModel.from_pretrained("org/a")  # repro: ignore[RP601] demo only\n',
            "nb.ipynb": notebook,
            "params.yaml": "schema_version: latest  # repro: ignore[RP604] tracked upstream\n",
            "other.py": 'AutoModel.from_pretrained("org/b")  # repro: ignore[RP602]\n',
        }
    )
    assert hits(found) == [("RP601", "other.py", 1)]


# --- claims --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scanner"),
    [
        ("src/train.py", "python"),
        ("nb/explore.ipynb", "notebook"),
        ("dvc.yaml", "dvc"),
        ("pipe/dvc.lock", "dvc"),
        ("data/raw.csv.dvc", "dvc"),
        ("params.yaml", "config"),
        ("conf/model.yml", "config"),
        ("conf/model.json", "config"),
        ("conf/model.toml", "config"),
        ("package.json", None),
        (".github/dependabot.yml", None),
        ("docs/.dvc", None),
        ("repro.toml", None),
        (".repro/baseline.json", None),
        ("audit-baseline.json", None),
        ("notes.txt", None),
    ],
)
def test_claims(path: str, scanner: str | None) -> None:
    name = path.rsplit("/", 1)[-1]
    claimed = [s.name for s in artifact_scanners() if s.claims(path, name)]
    assert claimed[:1] == ([scanner] if scanner else [])


def test_other_scanners_keep_their_files() -> None:
    # The artifact scanners come last: a workflow or environment.yml is never read as config.
    names = [s.name for s in all_scanners()]
    assert names[-4:] == ["dvc", "python", "notebook", "config"]
    first = next(s for s in all_scanners() if s.claims("environment.yml", "environment.yml"))
    assert first.name == "conda"


# --- repository code is never run ----------------------------------------------------------


def test_the_audit_never_executes_repository_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "EXECUTED"
    root = tmp_path / "repo"
    payload = (
        f"import os\nopen({str(marker)!r}, 'w').write('x')\n"
        f"os.system('touch {marker}')\n"
        'AutoModel.from_pretrained("org/evil")\n'
    )
    notebook = _notebook([*payload.splitlines(keepends=True)])
    write_tree(
        root,
        {
            "setup.py": payload,
            "conftest.py": payload,
            "evil.py": payload,
            "pkg/__init__.py": payload,
            "sitecustomize.py": payload,
            "nb.ipynb": notebook,
        },
    )
    assert main(["check", str(root), "--format", "json", "--fail-on", "warning"]) == 1
    assert not marker.exists()
    report = json.loads(capsys.readouterr().out)
    seen = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    for path in ("setup.py", "conftest.py", "evil.py", "pkg/__init__.py", "sitecustomize.py"):
        assert ("RP601", path, 4) in seen
    assert ("RP601", "nb.ipynb", _line_of(notebook, "org/evil")) in seen


# --- random input --------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "from_pretrained(", "AutoModel.", '"org/m"', "revision=", "load_dataset(", "import ",
        "from datasets import load_dataset\n", "torch.hub.load(", "dvc.api.open(", "repo=",
        "models:/", "x/Production", "s3://b/", "latest/", ":latest", "stages:\n", "  train:\n",
        "foreach: ", "matrix:\n", "do:\n", "schema: '2.0'\n", "deps:\n", "- path: x\n",
        "  repo:\n", "    url: u\n", "schema_version: ", "latest", "version", "{", "}", "[",
        "]", ",", ":", '"', "'", "\n", "  ", "\t", "*", "&a ", "*a", "---\n", "%%bash\n", "!",
        "%pip install x\n", '"cells": ', '"source": ', "def f(", "):", "=", "f'{", "}'",
        "${x}", "null", "[[t]]\n", "a = ", "\\",
    ]
)  # fmt: skip
_TEXT = st.one_of(st.text(max_size=300), st.lists(_FRAGMENTS, max_size=50).map("".join))
_NOTEBOOK = st.lists(
    st.one_of(st.text(max_size=80), st.lists(_FRAGMENTS, max_size=12).map("".join)), max_size=6
).map(lambda cells: _notebook(*[c.splitlines(keepends=True) for c in cells]))

_SCANNERS: list[tuple[Scanner, str]] = [
    (PythonScanner(), "mod.py"),
    (NotebookScanner(), "nb.ipynb"),
    (ConfigScanner(), "params.yaml"),
    (ConfigScanner(), "config.json"),
    (ConfigScanner(), "config.toml"),
    (DvcScanner(), "dvc.yaml"),
    (DvcScanner(), "dvc.lock"),
    (DvcScanner(), "data.dvc"),
]


def _ctx(root: Path, name: str) -> ScanContext:
    return ScanContext(root=root, config=Config(), files=frozenset({name, "dvc.lock"}))


def _scan(scanner: Scanner, root: Path, name: str, text: str) -> FileFacts:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return scanner.scan(SourceFile(path=name, abspath=path, text=text), _ctx(root, name))


def _survives(scanner: Scanner, root: Path, name: str, text: str) -> None:
    ctx = _ctx(root, name)
    try:
        facts = _scan(scanner, root, name, text)
    except ScanError:
        return
    line_count = len(text.splitlines()) + 1
    for f in facts.findings:
        assert f.location.path == name
        assert 1 <= f.location.line <= line_count
    list(scanner.cross_check({name: facts}, ctx))


@pytest.mark.parametrize(("scanner", "name"), _SCANNERS, ids=[n for _s, n in _SCANNERS])
def test_random_text_raises_only_scan_error(
    scanner: Scanner, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_TEXT)
    def run(text: str) -> None:
        _survives(scanner, root, name, text)

    run()


def test_random_notebooks_raise_only_scan_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_NOTEBOOK)
    def run(text: str) -> None:
        _survives(NotebookScanner(), root, "nb.ipynb", text)

    run()


@settings(max_examples=60, deadline=None)
@given(
    before=st.lists(st.sampled_from(["x = 1", "", "# note", "!ls", "%time y = 2"]), max_size=5),
    split=st.booleans(),
)
def test_notebook_line_mapping_property(before: list[str], split: bool) -> None:
    lines = [*before, 'AutoModel.from_pretrained("org/m")']
    source: str | list[str] = "\n".join(lines)
    if split:
        source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    text = _notebook("# Heading", ["import os\n", "y = 0"], source)
    facts = NotebookScanner().scan(
        SourceFile(path="nb.ipynb", abspath=Path("/nonexistent/nb.ipynb"), text=text),
        ScanContext(root=Path("/nonexistent"), config=Config()),
    )
    found = [(f.rule, f.location.line) for f in facts.findings]
    expected = _line_of(text, "org/m") if split else _line_of(text, "from_pretrained")
    assert found == [("RP601", expected)]


# --- the prefilter ---------------------------------------------------------------------------


def _names_the_calls_match() -> set[str]:
    """Every API name ``Analysis._call`` compares a call's name with (through its tables or as
    a literal), and every call of the data API table."""
    source = textwrap.dedent(inspect.getsource(python_module.Analysis._call))
    names: set[str] = {name for api in DATA_APIS for name in api.calls}
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id in {"last", "qualified"}
        ):
            continue
        for right in node.comparators:
            if isinstance(right, ast.Name):
                names.update(getattr(python_module, right.id))
            else:
                names.update(str(c.value) for c in ast.walk(right) if isinstance(c, ast.Constant))
    return names


def test_the_prefilter_lets_every_matched_api_through() -> None:
    """A file is parsed only when its text holds one of the prefilter's tokens: the plainest
    call of every API a rule matches must hold one, or a rule added to a table is silently
    never applied. ``create_model`` is judged only for ``hf-hub:`` names, which are the token."""
    names = _names_the_calls_match()
    assert {"from_pretrained", "snapshot_download", "torch.hub.load", "DVCFileSystem"} <= names
    assert "kagglehub.dataset_download" in names
    for name in sorted(names):
        written = re.sub(r"\((\w+)\)", r'("\1")', name)  # spark.read.format(delta).load
        model = "hf-hub:org/model" if name in python_module._CREATE_MODEL else "org/model"
        text = f'api.{written}("{model}")\n'  # a method is called on something
        assert python_module.mentions_artifacts(text), text
    assert not python_module.mentions_artifacts('create_model("org/model")\n')


def _any_trigger(text: str) -> bool:
    return any(token in text for token in python_module._PY_TRIGGERS)


# Pieces of triggers and of anchors, so that generated text often holds an anchor without
# the whole trigger ("hub" without "hub.load") and the other way round.
_TRIGGER_PIECES = st.sampled_from(
    [
        *python_module._PY_TRIGGERS,
        *python_module._TRIGGER_ANCHORS,
        *(t[: len(t) // 2] for t in python_module._PY_TRIGGERS),
        *(t[len(t) // 2 :] for t in python_module._PY_TRIGGERS),
        "torch.", "hub", ".load", "models", ":/", "'", '"', "latest", "/", ":",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.one_of(_TRIGGER_PIECES, st.text(max_size=4)), max_size=8))
def test_the_anchored_prefilter_agrees_with_one_search_per_trigger(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert python_module.mentions_artifacts(text) is _any_trigger(text)


def test_every_trigger_is_found_alone_and_in_code_by_its_anchor() -> None:
    for token in python_module._PY_TRIGGERS:
        assert any(anchor in token for anchor, _ in python_module._TRIGGER_GROUPS), token
        for text in (token, f"x = 1\ny = f({token!r})\n"):
            assert python_module.mentions_artifacts(text), text
    assert not python_module.mentions_artifacts("hub = model + latest  # delta of the artifact")
    # A text without any costs one search per anchor, less than half one per trigger.
    assert 2 * len(python_module._TRIGGER_GROUPS) < len(set(python_module._PY_TRIGGERS))


def test_the_prefilter_groups_refuse_an_uncovered_trigger_or_an_idle_anchor() -> None:
    with pytest.raises(AssertionError, match="without an anchor: \\['use_model'\\]"):
        python_module._trigger_groups(["hub"], ["hub.load", "use_model"])
    with pytest.raises(AssertionError, match="anchor 'lakefs' is in no trigger"):
        python_module._trigger_groups(["hub", "lakefs"], ["hub.load"])
    assert python_module._trigger_groups(["hub", "dvc"], ["hub.load", "torch.hub", "dvc"]) == (
        ("hub", ("hub.load", "torch.hub")),
        ("dvc", ()),
    )


_MARKERS = (ast.expr_context, ast.operator, ast.cmpop, ast.boolop, ast.unaryop)


@pytest.mark.parametrize("target", ["x", "x, y", "(x, *y)", "[x, [y, z]]", "x.a", "x[i]", "*x"])
def test_target_names_of_a_plain_name_are_what_the_full_walk_finds(target: str) -> None:
    node = ast.parse(f"{target} = v").body[0].targets[0]  # type: ignore[attr-defined]
    full: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            full.append(n.id)
        elif isinstance(n, ast.Starred) and isinstance(n.value, ast.Name):
            full.append(n.value.id)
    assert list(python_module._target_names(node)) == full


_WALK_SYNTAX = (
    "async def f(a, /, b=1, *c, d: int = 2, **e):\n"
    "    x = [i async for i in g() if not i and -i < 2]\n"
    "    del x\n    y += 1\n    print(f'{y!r:>{w}}', lambda q: q @ 2)\n"
    "match v:\n    case {**rest}: pass\n    case [*s]: pass\n"
    "    case P(x=1, y=[a, *_]) | Q() as q if q: pass\n"
    "import a.b as c\nfrom .d import e as f\nglobal g\n"
    "try:\n    pass\nexcept* E as h:\n    raise h from None\n"
    "with o() as (i, j), k: yield from (z := w[1:2, ...])\n"
    "class C(B, metaclass=M):\n    x: int = 1\n"
    "    @d\n    def m(self) -> C: return super().m()\n"
    "def h(*, a, b=1, **k):\n    x = {**k, 'a': a}\n    def i():\n        nonlocal x\n"
    "match v:\n    case C(k=1, j=[2]): pass\n    case None: pass\n    case {'a': 1, **r}: pass\n"
    "f = lambda a, *, b=(x for x in y): {k: v for k, v in a}\n"
    "@dec('a')\nclass D(base('b'), m=meta('c')):\n    @deco('d')\n    def n(s=g('e')) -> r('f'):\n"
    "        return h('g')\n"
)


def test_the_walk_passes_over_markers_only_and_keeps_the_order_of_the_rest() -> None:
    """The walk's children are ``ast.iter_child_nodes``'s, in its order, less the Load/Store
    and operator markers, which have nothing under them and are nothing the walk records (the
    fields of names and flags it does not look at hold no node); over real code (the artifact
    scanners) and the syntax of the node types the walk treats apart."""
    sources = [p.read_text() for p in sorted(Path(python_module.__file__).parent.glob("*.py"))]
    sources.append(_WALK_SYNTAX)
    skipped = 0
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            children = list(ast.iter_child_nodes(node))
            kept = [c for c in children if not isinstance(c, _MARKERS)]
            assert python_module._children_in(node) == kept, ast.dump(node)
            skipped += len(children) - len(kept)
            if isinstance(node, _MARKERS):
                assert children == []
                assert type(node) not in python_module._SPECIAL_NODES
                assert type(node) not in python_module._BINDING_TYPES
    assert skipped > 5_000  # a third of the nodes of real code


@pytest.mark.parametrize(
    ("text", "uses"),
    [
        ('"""Step 3 of the pipeline."""', False),
        ("# see sd.\n", False),
        ("pipelines(x)", False),
        ("my_sd(x)", False),
        ('pipeline("text-generation", model=m)', True),
        ("sd (repo)", True),
        ("sd \\\n    (repo)", True),
        ("sd.load(repo)", True),
        ("(sd\n    .load(repo))", True),
    ],
)
def test_a_function_is_walked_for_an_imported_name_only_where_it_is_used(
    text: str, uses: bool
) -> None:
    assert python_module._Calls(("pipeline", "sd")).found_in(text) is uses


def _calls_as_one_pattern(names: tuple[str, ...], text: str) -> bool:
    """The test of :class:`_Calls` as one pattern (slower: tried at every character)."""
    alternatives = "|".join(map(re.escape, names))
    pattern = rf"\b(?:{alternatives})[\s\\]*(?:\(|\.[\s\\]*[^\W\d])"
    return re.search(pattern, text) is not None


_NAME_CHARS = "sdxé_1℘·"  # a letter, a digit, "_", a name start and a name part that \w is not


@given(
    names=st.lists(st.text(alphabet=_NAME_CHARS, min_size=1, max_size=3), min_size=1, max_size=3),
    text=st.lists(
        st.one_of(st.text(alphabet=_NAME_CHARS, max_size=3), st.sampled_from('(.\\ \n"#')),
        max_size=12,
    ),
)
@settings(max_examples=1000)
def test_calls_of_imported_names_are_what_one_pattern_finds(
    names: list[str], text: list[str]
) -> None:
    joined = "".join(text)
    found = python_module._Calls(tuple(names)).found_in(joined)
    assert found is _calls_as_one_pattern(tuple(names), joined), (names, joined)


def test_a_call_through_an_import_alias_inside_a_function(audit: Audit) -> None:
    code = """
        from huggingface_hub import snapshot_download as sd

        def fetch():
            '''Fetch the weights of the pipeline.'''
            return (sd
                    ("org/model"))
    """
    assert _py(audit, code) == [("RP601", "app.py", 5)]


@given(text=st.text(alphabet="a \r\n\x0c\x1c\u2028", max_size=12))
def test_source_lines_are_the_lines_the_compiler_counts(text: str) -> None:
    assert python_module._source_lines(text) == re.split(r"\r\n|\r|\n", text)


def test_source_lines_without_a_carriage_return_are_split_without_the_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refused:
        def split(self, text: str) -> list[str]:
            raise AssertionError("pattern used")

    monkeypatch.setattr(python_module, "_LINE_BREAK", Refused())
    assert python_module._source_lines("a\n\x0cb\x1c\n") == ["a", "\x0cb\x1c", ""]
    with pytest.raises(AssertionError, match="pattern used"):
        python_module._source_lines("a\r\nb")


def _worth_walking_in_full(segment: str, names: tuple[str, ...]) -> bool:
    """The test of :func:`_worth_walking` on a definition's text, every trigger, word and
    name looked for in it."""
    return (
        python_module.mentions_artifacts(segment)
        or "global" in segment
        or "nonlocal" in segment
        or _calls_as_one_pattern(names, segment)
    )


_BODIES = st.sampled_from(
    [
        "pass", "return 1", "global g", "nonlocal_ = 2", 'x = "org/m"', "sd(x)", "sd .load",
        "my_sd(x)", "AutoModel.from_pretrained(x)", "load_dataset(x)", "'delta'", "y = hub",
        '"""the pipeline."""', "pipeline(task)", "models = 1", "def inner():\n        sd(1)",
    ]
)  # fmt: skip


@given(
    imports=st.lists(
        st.sampled_from(
            ["from huggingface_hub import snapshot_download as sd", "import torch", "import os"]
        ),
        max_size=2,
    ),
    bodies=st.lists(st.lists(_BODIES, min_size=1, max_size=3), min_size=1, max_size=4),
    newline=st.sampled_from(["\n", "\r\n"]),
)
@settings(max_examples=300)
def test_definitions_walked_are_those_the_full_test_finds(
    imports: list[str], bodies: list[list[str]], newline: str
) -> None:
    """Looking in each definition only for the triggers, words and imported names its module
    holds walks the definitions that looking for all of them walks."""
    parts = [*imports]
    for index, body in enumerate(bodies):
        parts.append(f"def f{index}():\n" + "".join(f"    {line}\n" for line in body))
    text = "\n".join(parts).replace("\n", newline)
    tree = ast.parse(text)
    lines = python_module._source_lines(text)
    names = python_module._local_import_names(tree)
    relevance = python_module._Relevance(lines, names)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            segment = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            expected = _worth_walking_in_full(segment, names)
            assert python_module._worth_walking(node, lines, relevance) is expected, segment


def test_a_definition_is_searched_only_for_what_its_module_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = 'import torch\n\ndef f():\n    return 1\n\ndef g():\n    return torch.load("x")\n'
    lines = python_module._source_lines(text)
    relevance = python_module._Relevance(lines, ("pipeline", "torch"))
    assert relevance.words == ()
    assert relevance.calls is not None
    monkeypatch.setattr(python_module, "mentions_artifacts", None)  # not asked per definition
    f, g = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
    assert [python_module._worth_walking(n, lines, relevance) for n in (f, g)] == [False, True]
    nothing = python_module._Relevance(lines[:4], ("pipeline", "sd"))
    assert (nothing.words, nothing.calls) == ((), None)

    class Unread(list[str]):
        def __getitem__(self, index: object) -> NoReturn:
            raise AssertionError("a definition's text was built")

    assert python_module._worth_walking(f, Unread(lines), nothing) is False


def _first_token(line: str) -> tokenize.TokenInfo | None:
    """The first token a fresh tokenizer reads from ``line`` (indentation left out)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line + "\n").readline):
            if token.type not in {tokenize.INDENT, tokenize.DEDENT}:
                return token
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


@given(line=st.text(alphabet=" \t\x0c\x0b!%?,;/=x1'\"#(\\", max_size=6))
@settings(max_examples=1000)
def test_an_escape_that_starts_a_line_is_the_tokenizers_first_token(line: str) -> None:
    """Read without the tokenizer, an escape at the start of a line is the token the tokenizer
    reads there (but for its type, read by no one), and every such token is read so."""
    fast = ipython_module._escape_token(line)
    token = _first_token(line)
    escape = token is not None and token.string in ipython_module._ESCAPES
    if fast is None:
        assert not escape, (line, token)
    else:
        assert token is not None
        assert fast[1:] == token[1:], (line, token)


def test_a_line_that_starts_with_an_escape_is_not_tokenized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(readline: object) -> NoReturn:
        raise AssertionError("tokenized")

    monkeypatch.setattr(tokenize, "generate_tokens", refuse)
    cell = transform_cell("  %pip install numpy\n!ls")
    assert cell.python == ("  pass", "pass")
    assert [(s.kind, s.name, s.args) for s in cell.specials] == [
        ("magic", "pip", ("install numpy",)),
        ("shell", "", ("ls",)),
    ]
    with pytest.raises(AssertionError, match="tokenized"):
        transform_cell("x = 1 % 2")


def _children_in_pairs(
    node: ast.AST, scope: python_module._Scope
) -> list[tuple[ast.AST, python_module._Scope]]:
    out: list[tuple[ast.AST, python_module._Scope]] = []
    for name in python_module._child_fields(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend([(item, scope) for item in value if isinstance(item, ast.AST)])
        elif isinstance(value, ast.AST):
            out.append((value, scope))
    return out


def _walk_in_pairs(tree: ast.Module, lines: Sequence[str] | None = None) -> python_module._Walked:
    """The walk as it was written first: each node on the stack with its scope, its children
    filtered to nodes."""
    walked = python_module._Walked(module=python_module._Scope(parent=None, kind="module"))
    relevance = (
        python_module._Relevance(lines, python_module._local_import_names(tree))
        if lines is not None
        else None
    )
    stack: list[tuple[ast.AST, python_module._Scope]] = [(tree, walked.module)]
    while stack:
        node, scope = stack.pop()
        kind = type(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                walked.strings.append((node, scope))
            continue
        if kind not in python_module._SPECIAL_NODES:
            if kind in python_module._BINDING_TYPES:
                python_module._bind(node, scope, walked)
            stack.extend(_children_in_pairs(node, scope))
            continue
        if isinstance(node, ast.Call):
            walked.calls.append((node, scope))
            stack.extend(_children_in_pairs(node, scope))
            continue
        if (
            lines is not None
            and relevance is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and not python_module._worth_walking(node, lines, relevance)
        ):
            scope.bind(node.name, None)
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = python_module._Scope(parent=scope, kind="function")
            if not isinstance(node, ast.Lambda):
                scope.bind(node.name, None)
                stack.extend((d, scope) for d in node.decorator_list)
                if node.returns is not None:
                    stack.append((node.returns, scope))
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    inner.bind(arg.arg, None)
                    if arg.annotation is not None:
                        stack.append((arg.annotation, scope))
            stack.extend((d, scope) for d in (*args.defaults, *args.kw_defaults) if d is not None)
            body = node.body if isinstance(node.body, list) else [node.body]
            stack.extend((child, inner) for child in body)
            continue
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name, None)
            inner = python_module._Scope(parent=scope, kind="class")
            stack.extend((child, scope) for child in (*node.decorator_list, *node.bases))
            stack.extend((kw.value, scope) for kw in node.keywords)
            stack.extend((child, inner) for child in node.body)
            continue
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            inner = python_module._Scope(parent=scope, kind="function")
            for generator in node.generators:
                for name in python_module._target_names(generator.target):
                    inner.bind(name, None)
            stack.extend(_children_in_pairs(node, inner))
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            continue  # docstrings and bare strings document; they fetch nothing
        if isinstance(node, ast.JoinedStr):
            walked.strings.append((node, scope))
            stack.extend(
                (part.value, scope) for part in node.values if isinstance(part, ast.FormattedValue)
            )
            continue
        stack.extend(_children_in_pairs(node, scope))  # an expression statement
    return walked


def _scope_shape(scope: python_module._Scope | None) -> object:
    if scope is None:
        return None
    bindings = {name: [id(v) for v in values] for name, values in scope.bindings.items()}
    shape = (scope.kind, bindings, sorted(scope.globals), sorted(scope.nonlocals))
    return (*shape, _scope_shape(scope.parent))


def _walk_shape(walked: python_module._Walked) -> object:
    return (
        [(id(call), _scope_shape(scope)) for call, scope in walked.calls],
        [(id(node), _scope_shape(scope)) for node, scope in walked.strings],
        walked.aliases,
        _scope_shape(walked.module),
    )


_WALKED_SOURCES = [
    p.read_text() for p in sorted(Path(python_module.__file__).parent.parent.glob("**/*.py"))
]


@pytest.mark.parametrize("lines", [True, False])
def test_the_walk_meets_what_the_walk_in_pairs_meets(lines: bool) -> None:
    """The walk keeps the scope as it goes (a mark under an inner scope's nodes) and puts the
    items of list fields on its stack unfiltered: it meets the calls and strings, in the same
    order and scopes, and binds the same names, as the walk that kept each node's scope with
    it and filtered the items; over the audit's own code and the syntax the walk treats
    apart."""
    sources = [*_WALKED_SOURCES, _WALK_SYNTAX]
    for source in sources:
        tree = ast.parse(source)
        source_lines = python_module._source_lines(source) if lines else None
        fast = python_module._walk_module(tree, source_lines)
        assert _walk_shape(fast) == _walk_shape(_walk_in_pairs(tree, source_lines))


def test_every_name_the_call_judge_spells_is_a_judged_name() -> None:
    """A call is passed over unread when its last name is none of _JUDGED_NAMES: every name
    Analysis._call compares the called name with (``last``, ``qualified``: a string, a set of
    them or a table) is one, and so is every name _data_call looks up."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(python_module.Analysis._call)))
    compared: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)):
            continue
        if node.left.id not in {"last", "qualified"}:
            continue
        for other in node.comparators:
            if isinstance(other, ast.Constant):
                compared.add(str(other.value))
            elif isinstance(other, ast.Set):
                compared.update(str(e.value) for e in other.elts if isinstance(e, ast.Constant))
            else:
                assert isinstance(other, ast.Name), ast.dump(other)
                compared.update(getattr(python_module, other.id))
    assert {"from_pretrained", "torch.hub.load", "snapshot_download", "datasets.load_dataset"} <= (
        compared
    )
    looked_up = [*python_module._IMPORTED_APIS, *python_module._METHOD_APIS, "load"]
    for name in (*compared, *looked_up):
        assert name.rsplit(".", 1)[-1] in python_module._JUDGED_NAMES, name


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


_CALLED = st.sampled_from(
    sorted(
        {
            *python_module._JUDGED_NAMES,
            *python_module._IMPORTED_APIS,
            *python_module._PIPELINES,
            *python_module._LOAD_DATASET,
            *python_module._DVC_READERS,
            "torch.hub.load", "dvc.api.artifacts_download", "AutoModel.from_pretrained",
            "spark.read.format('delta').load", "wandb.Api().artifact", "print", "sd", "x[0]",
            "(lambda: 1)()", "pd.read_csv", "hub.load",
        }
    )
)  # fmt: skip
_ARGUMENTS = st.sampled_from(
    ['"org/m"', '"./local"', '"org/d", revision="main"', "**kw", "*a", '"s3://b/latest"', ""]
)


_IMPORTS = (
    "from huggingface_hub import snapshot_download as sd",
    "import torch.hub as hub",
    "from datasets import load_dataset",
    "import pandas as pd",
    "from transformers import pipeline",
    "import dvc.api",
    "import wandb",
)


@given(calls=st.lists(st.tuples(_CALLED, _ARGUMENTS), min_size=1, max_size=8))
@example(calls=[("sd", '"org/m"'), ("hub.load", '"org/repo"'), ("print", '"org/m"')])
@example(calls=[("load_dataset", '"org/d"'), ("AutoModel.from_pretrained", '"org/m"')])
@example(calls=[("wandb.Api().artifact", '"e/p/a:latest"'), ("pipeline", '"t", model="org/m"')])
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_calls_passed_over_by_name_are_calls_the_judge_passes_over(
    calls: list[tuple[str, str]],
) -> None:
    lines = [*_IMPORTS, 'kw = {"revision": "main"}']
    lines += [f"x = {name}({args})" for name, args in calls]
    text = "\n".join(lines) + "\n"
    tree = ast.parse(text)

    def hits() -> list[Hit]:
        analysis = python_module.Analysis(
            tree, lines=text.split("\n"), parent_dir="", files=frozenset()
        )
        return analysis.run()

    passing = hits()
    with mock.patch.object(python_module, "_JUDGED_NAMES", _Everything()):
        assert passing == hits(), text


def test_a_call_of_a_name_never_judged_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    real = python_module.Analysis._call

    def recorded(self: python_module.Analysis, call: ast.Call, scope: object) -> None:
        judged.append(ast.unparse(call.func))
        real(self, call, scope)  # type: ignore[arg-type]

    monkeypatch.setattr(python_module.Analysis, "_call", recorded)
    text = 'from huggingface_hub import snapshot_download as sd\nprint(len(x))\nsd("org/m")\n'
    tree = ast.parse(text)
    analysis = python_module.Analysis(tree, lines=None, parent_dir="", files=frozenset())
    assert [hit.rule for hit in analysis.run()] == ["RP601"]
    assert judged == ["sd"]
