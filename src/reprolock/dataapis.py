"""The data APIs the audit reads, as data: each call, the argument naming what it reads, and
the argument or form that pins it. Adding an API is a row here and a test.

The Python reader (``audit/artifacts/python.py``) and the Hydra ``_target_`` reader
(``audit/artifacts/config.py``) judge calls with this table; ``repro rules RP602`` lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Match(Enum):
    """How a call is recognised."""

    IMPORT = "import"
    """By its qualified name, through the file's imports (``import kagglehub as kh``)."""
    METHOD = "method"
    """By the method name alone (``client.get_latest_version``), the receiver being a client
    object whose type the text does not show; only in a file that imports ``package``."""


class Form(Enum):
    """What in the reference itself can pin it."""

    NONE = "none"
    """Nothing: only a pinning argument does."""
    KAGGLE = "kaggle"
    """A Kaggle handle: ``owner/slug/versions/<N>`` pins, ``owner/slug`` does not."""
    TFDS = "tfds"
    """A TFDS name: ``mnist:3.0.1`` pins, ``mnist`` and ``mnist:3.*.*`` do not."""
    WANDB = "wandb"
    """A W&B artifact: ``name:v12`` pins, ``name``, ``name:latest``, ``name:prod`` do not."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Arg:
    """One argument of a call: its position (None when keyword-only) and keyword names."""

    position: int | None
    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class DataApi:
    """One row: calls that read one kind of data, and what pins them."""

    calls: tuple[str, ...]
    """Qualified names (:attr:`Match.IMPORT`) or method names (:attr:`Match.METHOD`)."""
    rule: str
    """RP601 (model), RP602 (dataset or table), RP603 (registry alias), RP604 (schema)."""
    what: str
    """The noun of the message: "dataset", "Delta table", "schema"."""
    ref: Arg
    """The argument naming what is read; a call whose reference cannot be resolved to text
    is not judged."""
    pins: tuple[Arg, ...] = ()
    """Arguments any one of which pins the read when given (even as a name not resolved)."""
    form: Form = Form.NONE
    match: Match = Match.IMPORT
    package: str = ""
    """For :attr:`Match.METHOD`: a module the file must import."""
    unpinned: str = "without a version"
    """How the message says what is missing."""
    shared_only: bool = False
    """Judge only a table outside the working tree (a URI other than ``file:``, ``/mnt/``,
    ``/dbfs/``, ``/Volumes/``, or a catalog name ``db.table``) that the file does not write
    itself: a pipeline reading back a table it has just written, or one in a scratch
    directory, reads its own output, not a data dependency."""
    fix: str
    """The pinned form; ``{ref}`` is the reference as written, ``{base}`` without its
    version or alias."""


_NAME = Arg(position=0, names=("name",))

DATA_APIS: tuple[DataApi, ...] = (
    DataApi(
        calls=("kagglehub.dataset_download",),
        rule="RP602",
        what="Kaggle dataset",
        ref=Arg(position=0, names=("handle",)),
        form=Form.KAGGLE,
        unpinned="without a version (the newest is downloaded)",
        fix='"{base}/versions/<N>"',
    ),
    DataApi(
        calls=("kagglehub.dataset_load", "kagglehub.load_dataset"),
        rule="RP602",
        what="Kaggle dataset",
        ref=Arg(position=1, names=("handle",)),
        form=Form.KAGGLE,
        unpinned="without a version (the newest is downloaded)",
        fix='"{base}/versions/<N>"',
    ),
    DataApi(
        calls=("kagglehub.model_download",),
        rule="RP601",
        what="Kaggle model",
        ref=Arg(position=0, names=("handle",)),
        form=Form.KAGGLE,
        unpinned="without a version (the newest is downloaded)",
        fix='"{base}/versions/<N>"',
    ),
    DataApi(
        calls=(
            "tensorflow_datasets.load",
            "tensorflow_datasets.builder",
            "tensorflow_datasets.data_source",
        ),
        rule="RP602",
        what="TFDS dataset",
        ref=_NAME,
        form=Form.TFDS,
        unpinned="without a version (the installed tensorflow-datasets' default is used)",
        fix='"{base}:<x.y.z>"',
    ),
    DataApi(
        calls=("clearml.Dataset.get", "clearml.datasets.Dataset.get"),
        rule="RP602",
        what="ClearML dataset",
        ref=Arg(position=2, names=("dataset_name",)),
        pins=(
            Arg(position=0, names=("dataset_id",)),
            Arg(position=9, names=("dataset_version",)),
        ),
        unpinned="by name, without dataset_version or dataset_id (the newest is used)",
        fix='Dataset.get(dataset_id="<id>") or dataset_version="<version>"',
    ),
    DataApi(
        calls=("use_artifact", "use_model"),
        rule="RP603",
        what="W&B artifact",
        ref=Arg(position=0, names=("artifact_or_name", "name")),
        form=Form.WANDB,
        match=Match.METHOD,
        fix='"{base}:v<N>"',
    ),
    DataApi(
        calls=("artifact",),
        rule="RP603",
        what="W&B artifact",
        ref=Arg(position=0, names=("name",)),
        form=Form.WANDB,
        match=Match.METHOD,
        package="wandb",
        fix='"{base}:v<N>"',
    ),
    DataApi(
        calls=("deltalake.DeltaTable",),
        rule="RP602",
        what="Delta table",
        ref=Arg(position=0, names=("table_uri",)),
        pins=(Arg(position=1, names=("version",)),),
        unpinned="without a version (its newest commit is read)",
        fix="version=<N> (or load_as_version(<N or timestamp>))",
        shared_only=True,
    ),
    DataApi(
        calls=("polars.read_delta", "polars.scan_delta"),
        rule="RP602",
        what="Delta table",
        ref=Arg(position=0, names=("source",)),
        pins=(Arg(position=None, names=("version",)),),
        unpinned="without a version (its newest commit is read)",
        fix="version=<N or timestamp>",
        shared_only=True,
    ),
    DataApi(
        calls=("spark.read.format(delta).load",),
        rule="RP602",
        what="Delta table",
        ref=Arg(position=0, names=("path",)),
        pins=(Arg(position=None, names=("versionAsOf", "timestampAsOf")),),
        unpinned="without versionAsOf or timestampAsOf (its newest commit is read)",
        fix='.option("versionAsOf", <N>)',
        shared_only=True,
    ),
    DataApi(
        calls=("spark.read.format(iceberg).load",),
        rule="RP602",
        what="Iceberg table",
        ref=Arg(position=0, names=("path",)),
        pins=(Arg(position=None, names=("snapshot-id", "as-of-timestamp", "tag")),),
        unpinned="without snapshot-id, as-of-timestamp or tag (its current snapshot is read)",
        fix='.option("snapshot-id", <id>)',
        shared_only=True,
    ),
    DataApi(
        calls=("spark.read.format(hudi).load",),
        rule="RP602",
        what="Hudi table",
        ref=Arg(position=0, names=("path",)),
        pins=(Arg(position=None, names=("as.of.instant",)),),
        unpinned="without as.of.instant (its latest commit is read)",
        fix='.option("as.of.instant", "<instant>")',
        shared_only=True,
    ),
    DataApi(
        calls=("get_latest_versions",),
        rule="RP603",
        what="MLflow model",
        ref=_NAME,
        match=Match.METHOD,
        package="mlflow",
        unpinned="at its latest version (get_latest_versions)",
        fix='models:/{ref}/<version number> or get_model_version("{ref}", "<N>")',
    ),
    DataApi(
        calls=("get_model_version_by_alias",),
        rule="RP603",
        what="MLflow model",
        ref=_NAME,
        match=Match.METHOD,
        package="mlflow",
        unpinned="by alias, which can be moved to another version",
        fix='get_model_version("{ref}", "<N>")',
    ),
    DataApi(
        calls=("get_latest_version",),
        rule="RP604",
        what="schema of subject",
        ref=Arg(position=0, names=("subject_name",)),
        match=Match.METHOD,
        package="confluent_kafka",
        unpinned="at its latest registered version",
        fix='get_version("{ref}", <version>) or get_schema(<schema id>)',
    ),
)
"""Every data API the Python and Hydra readers judge, in the order ``repro rules`` lists."""

SPARK_FORMATS = frozenset({"delta", "iceberg", "hudi"})
"""``spark.read.format(X).load(...)``: X names the row ``spark.read.format(X).load``."""


def apis_of(rule: str) -> tuple[str, ...]:
    """The calls of every row of ``rule``, as ``repro rules`` shows them."""
    out: list[str] = []
    for api in DATA_APIS:
        if api.rule == rule:
            for call in api.calls:
                if api.match is Match.IMPORT:
                    out.append(f"{call}()")
                elif api.package:
                    out.append(f".{call}() (a {api.package} client)")
                else:
                    out.append(f".{call}()")
    return tuple(out)


__all__ = ["DATA_APIS", "SPARK_FORMATS", "Arg", "DataApi", "Form", "Match", "apis_of"]
