"""The data APIs of :mod:`reprolock.dataapis`: one test per row, each from a real-world shape
(the public repository and file named in its docstring), with the pinned form beside it
reporting nothing."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable

import pytest

from reprolock.cli import main
from reprolock.dataapis import DATA_APIS, Match, apis_of
from reprolock.model import Finding
from reprolock.rules import RULES

Audit = Callable[[dict[str, str | bytes]], list[Finding]]


def _found(audit: Audit, code: str, path: str = "app.py") -> list[Finding]:
    found = audit({path: textwrap.dedent(code).lstrip("\n")})
    return [f for f in found if f.rule.startswith("RP6")]


def _lines(found: list[Finding]) -> list[tuple[str, int]]:
    return [(f.rule, f.location.line) for f in found]


def test_kagglehub_dataset_download(audit: Audit) -> None:
    """NguyenThaiVu/scientific_paper, dataset/download_kaggle.py:
    ``path = kagglehub.dataset_download("Cornell-University/arxiv")``."""
    found = _found(
        audit,
        """
        import kagglehub

        # Download latest version
        path = kagglehub.dataset_download("Cornell-University/arxiv")
        pinned = kagglehub.dataset_download("Cornell-University/arxiv/versions/3")
        """,
    )
    assert _lines(found) == [("RP602", 4)]
    assert found[0].subject == "Cornell-University/arxiv"
    assert found[0].message == (
        "Kaggle dataset Cornell-University/arxiv is read by kagglehub.dataset_download "
        "without a version (the newest is downloaded)"
    )
    assert found[0].fix == '"Cornell-University/arxiv/versions/<N>"'


def test_kagglehub_dataset_load_and_from_imports(audit: Audit) -> None:
    """kagglehub's README shape: ``kagglehub.dataset_load(KaggleDatasetAdapter.PANDAS,
    handle, file_path)`` (the handle is the second argument), and a from-import alias."""
    found = _found(
        audit,
        """
        from kagglehub import KaggleDatasetAdapter, dataset_load as load
        from kagglehub import dataset_download as dd

        df = load(KaggleDatasetAdapter.PANDAS, "unsdsn/world-happiness", "2019.csv")
        ok = load(KaggleDatasetAdapter.PANDAS, "unsdsn/world-happiness/versions/2", "2019.csv")
        p = dd(handle="owner/ds")
        """,
    )
    assert _lines(found) == [("RP602", 4), ("RP602", 6)]


def test_kagglehub_model_download(audit: Audit) -> None:
    """google/flax, docs_nnx/examples/gemma.ipynb and hclank/kaggle-gemma-3n-hackathon,
    main.py: ``kagglehub.model_download("google/gemma-3n/transformers/gemma-3n-e2b")``."""
    found = _found(
        audit,
        """
        import kagglehub

        model_path = kagglehub.model_download("google/gemma-3n/transformers/gemma-3n-e2b")
        pinned = kagglehub.model_download("google/gemma-3/flax/gemma3-1b-it/versions/1")
        """,
    )
    assert _lines(found) == [("RP601", 3)]
    assert found[0].fix == '"google/gemma-3n/transformers/gemma-3n-e2b/versions/<N>"'


def test_tfds_load_and_builder(audit: Audit) -> None:
    """google/flax, examples/mnist/train.py (``tfds.load('mnist', split='train')``) and
    examples/vae/train.py (``tfds.builder('binarized_mnist')``); tengge1/LearnPython,
    datasets/01.get_started.py (``tfds.load(name="mnist", ...)``)."""
    found = _found(
        audit,
        """
        import tensorflow_datasets as tfds

        train_ds = tfds.load('mnist', split='train')
        ds_builder = tfds.builder('binarized_mnist')
        dataset = tfds.load(name="mnist", split=tfds.Split.TRAIN)
        source = tfds.data_source('glue/sst2')
        floating = tfds.load('mnist:3.*.*')
        pinned = tfds.load('mnist:3.0.1', split='train')
        pinned_builder = tfds.builder('coco/2017:1.1.0')
        unknown = tfds.load(config.dataset)
        """,
    )
    assert _lines(found) == [("RP602", n) for n in (3, 4, 5, 6, 7)]
    assert found[0].message == (
        "TFDS dataset mnist is read by tfds.load without a version (the installed "
        "tensorflow-datasets' default is used)"
    )
    assert found[0].fix == '"mnist:<x.y.z>"'
    assert found[3].subject == "glue/sst2"


def test_tfds_in_a_notebook(audit: Audit) -> None:
    """google/flax, docs/quick_start.ipynb: ``tfds.load('mnist', split='train')`` in a cell."""
    cell = ["import tensorflow_datasets as tfds\n", "train_ds = tfds.load('mnist', split='train')"]
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": cell, "outputs": []}],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(notebook, indent=1)
    found = _found(audit, text, "quick_start.ipynb")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "tfds.load" in t)
    assert _lines(found) == [("RP602", line)]


def test_clearml_dataset_get(audit: Audit) -> None:
    """IooHooI/clearml_datasets, source/cifar10_code/dataset_4_get_local_dataset_copy.py:
    ``Dataset.get(dataset_project=global_config.DATASET_PROJECT, dataset_name='CIFAR10')``;
    allegroai/clearml, examples/pipeline/full_tabular_data_process_pipeline_example.py:
    ``Dataset.get(dataset_id=dataset_id)``."""
    found = _found(
        audit,
        """
        from clearml import Dataset

        cifar10_dataset = Dataset.get(
            dataset_project=global_config.DATASET_PROJECT, dataset_name='CIFAR10'
        )
        by_id = Dataset.get(dataset_id=dataset_id)
        by_position = Dataset.get("4f1c3a8e9b7d4a2c8e6f0b1d3c5a7e9f")
        by_version = Dataset.get(dataset_name='CIFAR10', dataset_version="1.0.2")
        by_variable = Dataset.get(dataset_name=name, dataset_project="p")
        """,
    )
    assert _lines(found) == [("RP602", 3)]
    assert found[0].subject == "CIFAR10"
    assert "dataset_version" in found[0].message


def test_wandb_artifacts(audit: Audit) -> None:
    """wandb/examples, colabs/wandb-artifacts/Pipeline_Versioning_with_W&B_Artifacts.ipynb
    (``run.use_artifact("mnist-preprocess:latest")``) and
    examples/sagemaker/text_classification/scripts/run_text_classification.py
    (``wandb.use_artifact(f'morgan/hf-sagemaker/{nm}:v0', ...)``, pinned)."""
    found = _found(
        audit,
        """
        import wandb

        run = wandb.init()
        data = run.use_artifact("mnist-preprocess:latest")
        model = run.use_artifact("acme/churn/model:prod")
        bare = run.use_artifact("mnist-raw")
        api = wandb.Api()
        full = api.artifact("acme/churn/dataset")
        pinned = wandb.use_artifact(f'morgan/hf-sagemaker/{nm}:v0', type='dataset')
        pinned_api = api.artifact("acme/churn/dataset:v12")
        """,
    )
    assert _lines(found) == [("RP603", n) for n in (4, 5, 6, 8)]
    assert found[3].message == (
        "artifact acme/churn/dataset names no version, so the 'latest' alias is used"
    )


def test_artifact_of_another_api_is_not_wandb(audit: Audit) -> None:
    """``.artifact(...)`` is W&B's only in a file that imports wandb."""
    found = _found(audit, 'store = Store()\nx = store.artifact("acme/churn/dataset")\n')
    assert found == []


def test_delta_tables(audit: Audit) -> None:
    """saichaitanya25/automl-db-pipeline, script/automl_pipeline.py: the training step reads
    ``spark.read.format("delta").load("/mnt/delta/training_data")`` (written by
    script/delta_ingest.py) and trains on whatever it holds today; JamesWSLim/project-jellycat,
    read_delta.py: ``.option("versionAsOf", 1)``, pinned."""
    found = _found(
        audit,
        """
        import polars as pl
        from deltalake import DeltaTable

        df = spark.read.format("delta").load("/mnt/delta/training_data")
        dt = DeltaTable("s3://lake/events")
        lazy = pl.scan_delta("abfss://c@acct.dfs.core.windows.net/events")
        iceberg = spark.read.format("iceberg").load("db.events")
        hudi = spark.read.format("hudi").load("s3://lake/hudi/trips")

        v1 = spark.read.format("delta") \\
            .option("versionAsOf", 1) \\
            .load("/mnt/delta/training_data")
        v2 = spark.read.option("timestampAsOf", "2024-06-01").format("delta").load("dbfs:/t")
        v3 = spark.read.load("s3://lake/events", format="delta", versionAsOf=3)
        v4 = DeltaTable("s3://lake/events", version=2)
        v5 = pl.read_delta("s3://lake/events", version=7)
        v6 = spark.read.format("iceberg").option("snapshot-id", 10963874102873).load("db.events")
        v7 = spark.read.format("hudi").option("as.of.instant", "20240601").load("s3://lake/t")
        parquet = spark.read.format("parquet").load("s3://lake/raw")
        unknown = spark.read.format("delta").load(table_path)
        """,
    )
    assert _lines(found) == [("RP602", n) for n in (4, 5, 6, 7, 8)]
    assert found[0].message == (
        "Delta table /mnt/delta/training_data is read by spark.read without versionAsOf or "
        "timestampAsOf (its newest commit is read)"
    )
    assert found[0].fix == '.option("versionAsOf", <N>)'
    assert found[3].subject == "db.events"


def test_tables_the_pipeline_writes_itself_are_not_judged(audit: Audit) -> None:
    """delta-io/delta, examples/python/quickstart.py (``.save("/tmp/delta-table")`` then
    ``.load("/tmp/delta-table")``) and streaming.py (``readStream``); OpenGPTX/docker-images,
    spark/python/delta-lake-examples/sparkdeltalakes3iamAutomation.py (writes an s3a:// table,
    then reads it back); freepsw/deltalake_basic, delta_basic/2_load_delta.py
    (``DeltaTable("./my-delta-table")``, a table in the working tree); ambarishg/spark-delta,
    read.py (``dataPath = "delta-table"``)."""
    found = _found(
        audit,
        """
        from deltalake import DeltaTable

        data.write.format("delta").save("/tmp/delta-table")
        df = spark.read.format("delta").load("/tmp/delta-table")
        uri = "s3a://961123334118-dev-tim2-kf3-sparkdeltalake/delta-table"
        spark.range(5).write.format("delta").mode("overwrite").save(uri)
        spark.read.format("delta").load(uri).show()
        stream = spark.readStream.format("delta").load("s3://lake/events")
        dt = DeltaTable("./my-delta-table")
        dataPath = "delta-table"
        local = spark.read.format("delta").load(dataPath)
        scratch = spark.read.format("delta").load("file:///tmp/iceberg_tables/db/table")
        """,
    )
    assert found == []


def test_delta_kwargs_built_at_run_time_are_not_judged(audit: Audit) -> None:
    """A polars example that adds ``version`` to a kwargs dict only when asked
    (``kwargs = dict(source=file_path)``, ``kwargs["version"] = table_version``,
    ``pl.read_delta(**kwargs)``): what the call receives is not known."""
    found = _found(
        audit,
        """
        import polars as pl

        def read_table(table_version):
            kwargs = dict(source="delta/source_table_bronze")
            if table_version is not None:
                kwargs["version"] = table_version
            return pl.read_delta(**kwargs)
        """,
    )
    assert found == []


def test_lakefs_paths(audit: Audit) -> None:
    """aai-institute/lakefs-spec, docs/_code/duckdb_example.py:
    ``duckdb.read_parquet("lakefs://quickstart/main/lakes.parquet")``; its
    tests/test_exists.py: ``fs.exists("lakefs://nonexistent/main/")``, a branch, not data on
    it, and docs/tutorials/demo_data_science_project.py, which reads at a commit id."""
    found = _found(
        audit,
        """
        lakes = duckdb.read_parquet("lakefs://quickstart/main/lakes.parquet")
        tagged = duckdb.read_parquet("lakefs://quickstart/v1.2/lakes.parquet")
        commit = "lakefs://quickstart/a1b2c3d4e5f6/lakes.parquet"
        sentence = "copy lakefs://quickstart/main/lakes.parquet first"
        exists = fs.exists("lakefs://nonexistent/main/")
        fixed = pd.read_csv(f"lakefs://{REPO_NAME}/{fixed_commit_id}/train_weather.csv")
        """,
    )
    assert _lines(found) == [("RP604", 1)]
    assert found[0].fix == "lakefs://quickstart/<commit id or tag>/lakes.parquet"
    assert found[0].subject == "lakefs://quickstart/lakes.parquet"


def test_lakefs_paths_in_config(audit: Audit) -> None:
    """A Kedro/Hydra-style data config naming a lakeFS branch path."""
    text = "train:\n  filepath: lakefs://repo/main/train.parquet\n  other: lakefs://repo/v3/x\n"
    found = _found(audit, text, "conf/base/catalog.yml")
    assert _lines(found) == [("RP604", 2)]


def test_schema_registry_latest(audit: Audit) -> None:
    """abnocto/kafka-tasks, project/apps/shop-api/app/schema.py:
    ``schema_registry_client.get_latest_version("items-raw-value")``; and
    shannon1989/data-platform-k8s, pipelines/ingestion/schema/README.md:
    ``.../subjects/<subject>/versions/latest``."""
    found = _found(
        audit,
        """
        from confluent_kafka.schema_registry import SchemaRegistryClient

        schema_registry_client = SchemaRegistryClient({"url": "http://schema-registry:8081"})
        items_raw_schema = schema_registry_client.get_latest_version("items-raw-value")
        pinned = schema_registry_client.get_version("items-raw-value", 3)
        URL = "http://schema-registry.kafka.svc:8081/subjects/blocks-value/versions/latest"
        FIXED = "http://schema-registry.kafka.svc:8081/subjects/blocks-value/versions/4"
        """,
    )
    assert _lines(found) == [("RP604", 4), ("RP604", 6)]
    assert found[0].fix == 'get_version("items-raw-value", <version>) or get_schema(<schema id>)'
    assert found[1].fix == (
        "http://schema-registry.kafka.svc:8081/subjects/blocks-value/versions/<version>"
    )


def test_schema_registry_url_in_config(audit: Audit) -> None:
    text = '{"schema": "https://registry.example.com/subjects/events-value/versions/latest"}\n'
    assert _lines(_found(audit, text, "pipeline.json")) == [("RP604", 1)]


def test_get_latest_version_of_another_client_is_not_judged(audit: Audit) -> None:
    found = _found(audit, 'import semver\nv = releases.get_latest_version("app")\n')
    assert found == []


def test_mlflow_latest_and_aliases(audit: Audit) -> None:
    """sivanbhfe/AI_Doctorate_pythonpackaging, MLFlow-Manage-ML-Experiments/model-serve.py
    (``alias = "champion"``, ``load_model(model_uri=f"models:/{model_name}@{alias}")``);
    quamrl-hoda/swiggy-delivery-time-prediction-system, check_model.py
    (``client.get_latest_versions(name="model", stages=["Staging", "Production"])``)."""
    latest = "models:/" + "churn/latest"  # apart, so that this file passes our own audit
    found = _found(
        audit,
        f"""
        import mlflow
        from mlflow import MlflowClient

        model_name = 'LogisticRegression_MLFlow'
        alias = "champion"
        loaded_model = mlflow.pyfunc.load_model(model_uri=f"models:/{{model_name}}@{{alias}}")
        newest = mlflow.pyfunc.load_model("{latest}")
        client = MlflowClient(tracking_uri=tracking_uri)
        versions = client.get_latest_versions(name="model", stages=["Staging", "Production"])
        info = client.get_model_version_by_alias("lstm-2000-epochs", "champion")
        pinned = client.get_model_version("lstm-2000-epochs", "3")
        """,
    )
    assert _lines(found) == [("RP603", n) for n in (6, 7, 9, 10)]
    assert found[1].message.endswith("names 'latest', whichever version was registered last")
    assert found[2].subject == "model"
    assert found[3].fix == 'get_model_version("lstm-2000-epochs", "<N>")'


def test_every_row_is_listed_by_repro_rules(capsys: pytest.CaptureFixture[str]) -> None:
    for rule in ("RP601", "RP602", "RP603", "RP604"):
        assert main(["rules", rule]) == 0
        out = capsys.readouterr().out
        for api in apis_of(rule):
            assert api in out
        assert set(apis_of(rule)) <= set(RULES[rule].reads)


def test_the_table_is_well_formed() -> None:
    for api in DATA_APIS:
        assert api.rule in RULES
        assert (api.match is Match.METHOD) or all("." in c for c in api.calls)
        assert "{ref}" in api.fix or "{base}" in api.fix or "<" in api.fix


def test_kedro_catalog_entries_read_from_a_branch(audit: Audit) -> None:
    """kedro-org/kedro, docs/source/data/data_catalog_yaml_examples.md: catalog entries are
    ``<name>: {type: pandas.CSVDataset, filepath: ...}``; fsspec reads an https filepath as
    it is served. kedro-org/kedro-starters, spaceflights-pandas/.../conf/base/catalog.yml:
    local ``data/01_raw/companies.csv`` entries (with ``versioned: false`` by default) are
    the project's own data and report nothing."""
    commit = "0214c4e0110bd92edd68cfca38f983949029ecc3"
    text = textwrap.dedent(
        f"""
        companies:
          type: pandas.CSVDataset
          filepath: https://raw.githubusercontent.com/org/data/main/companies.csv

        reviews:
          type: pandas.CSVDataset
          filepath: https://raw.githubusercontent.com/org/data/{commit}/reviews.csv

        shuttles:
          type: pandas.ExcelDataset
          filepath: data/01_raw/shuttles.xlsx
          versioned: false

        weights:
          type: pickle.PickleDataset
          filepath: https://huggingface.co/datasets/org/ds/resolve/v1.0/train.pkl

        docs:
          url: https://raw.githubusercontent.com/org/data/main/README.md
        """
    ).lstrip("\n")
    found = _found(audit, text, "conf/base/catalog.yml")
    assert _lines(found) == [("RP602", 3), ("RP602", 16)]
    assert found[0].message == (
        "catalog dataset companies (pandas.CSVDataset) is read from "
        "https://raw.githubusercontent.com/org/data/main/companies.csv, at 'main', a branch or "
        "tag that can move"
    )
    assert found[0].fix == (
        "https://raw.githubusercontent.com/org/data/<40-hex commit>/companies.csv"
    )
    assert found[0].subject == "companies"
    elsewhere = _found(audit, text, "conf/base/parameters.yml")
    assert [f for f in elsewhere if f.location.path.endswith("parameters.yml")] == []


def test_a_long_reader_chain_costs_its_length(audit: Audit) -> None:
    """Every call of a 3,000-call chain is a call the reader looks at; following each one
    back to its ``.read`` would be quadratic. Past ``MAX_CHAIN_CALLS`` the read is not
    judged, and the audit stays linear."""
    option = '.option("k", 1)'
    chain = option * 3_000
    code = f'df = spark.read.format("delta"){chain}.load("s3://lake/events")\n'
    started = time.monotonic()
    assert _found(audit, code) == []
    assert time.monotonic() - started < 10
    near = f'df = spark.read.format("delta"){option * 10}.load("s3://lake/events")\n'
    assert _lines(_found(audit, near)) == [("RP602", 1)]
