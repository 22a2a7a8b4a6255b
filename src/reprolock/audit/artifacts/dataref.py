"""Judging the data APIs of :mod:`reprolock.dataapis`: whether a reference names fixed
content by its own form, and which Spark reader a ``.load()`` chain is."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from reprolock.audit.artifacts.references import WANDB_REF, WANDB_VERSION
from reprolock.dataapis import DATA_APIS, SPARK_FORMATS, DataApi, Form

_KAGGLE = re.compile(
    r"^(?P<base>[\w.-]+/[\w.-]+(?:/[\w.-]+/[\w.-]+)?)(?:/versions/(?P<version>\d+))?$"
)
"""``owner/dataset`` or ``owner/model/framework/variation``, with ``/versions/<N>`` or not."""
_TFDS = re.compile(
    r"^(?P<base>[a-z][a-z0-9_]*(?:/[\w.+-]+)?)(?::(?P<version>[\d*]+\.[\d*]+\.[\d*]+))?$"
)
"""``mnist``, ``coco/2017``, ``mnist:3.0.1``, ``mnist:3.*.*``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Unpinned:
    """A reference that does not pin what it reads."""

    base: str
    """The reference without its version or alias: the finding's subject."""
    alias: str | None = None
    """The alias it names (W&B), if any."""


def judge_reference(api: DataApi, value: str) -> Unpinned | None:
    """Why ``value`` (what a call of ``api`` reads) is not pinned; None when it is, or when it
    is not a reference of the row's kind at all (then it is not judged)."""
    if api.form is Form.KAGGLE:
        match = _KAGGLE.match(value)
        if match is None or match.group("version") is not None or "/versions/" in value:
            return None
        return Unpinned(base=match.group("base"))
    if api.form is Form.TFDS:
        match = _TFDS.match(value)
        if match is None:
            return None
        version = match.group("version")
        if version is not None and "*" not in version:
            return None
        return Unpinned(base=match.group("base"))
    if api.form is Form.WANDB:
        match = WANDB_REF.match(value)
        if match is None:
            return None
        alias = match.group("alias")
        if alias is not None and WANDB_VERSION.match(alias):
            return None
        if alias is None and "artifact" in api.calls and match.group("path").count("/") < 2:
            return None  # api.artifact("x") of some other API; W&B's wants entity/project/name
        return Unpinned(base=match.group("path"), alias=alias)
    return Unpinned(base=value)


_SHARED_PATH = re.compile(
    r"^(?:(?!file:)[A-Za-z][\w+.-]*:/|/mnt/|/dbfs/|/Volumes/)"
    r"|^(?!.*\.(?:delta|parquet|csv|json|orc|avro|txt)$)[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){1,2}$"
)
_WRITES = frozenset(
    {"save", "start", "saveAsTable", "insertInto", "toTable", "location", "write_deltalake",
     "write_delta", "create_table"}
)  # fmt: skip
"""Calls whose first argument is a table the file writes."""


def shared_table(path: str) -> bool:
    """A table outside the working tree: a URI (not ``file:``), ``/mnt/``, ``/dbfs/``,
    ``/Volumes/``, or a catalog name (``db.table``, ``catalog.db.table``)."""
    return _SHARED_PATH.match(path) is not None


def written_table(call: ast.Call) -> ast.expr | None:
    """The table a call writes (``df.write.format("delta").save(p)``, ``write_deltalake(p,
    df)``), or None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _WRITES:
        return None
    for kw in call.keywords:
        if kw.arg in {"path", "table_or_uri", "target", "tableName"}:
            return kw.value
    return call.args[0] if call.args else None


_SPARK_APIS = {
    fmt: next(api for api in DATA_APIS if api.calls == (f"spark.read.format({fmt}).load",))
    for fmt in SPARK_FORMATS
}
MAX_CHAIN_CALLS = 64
"""Calls of a `.load()` chain followed back to its `.read`; a longer chain is not judged."""


def _text(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def spark_read(call: ast.Call) -> tuple[DataApi, frozenset[str]] | None:
    """For ``<session>.read[.option(k, v)...].format("delta")[...].load(path)`` (or
    ``.load(path, format="delta", versionAsOf=3)``), the row of its format and the option
    names given in the chain, lower-cased (Spark's options are case-insensitive); None for
    any other ``.load()``. A format or option key that is not written out is unknown, and
    the call is not judged."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    options: set[str] = set()
    fmt: str | None = None
    for kw in call.keywords:
        if kw.arg is None:
            return None
        if kw.arg == "format":
            fmt = _text(kw.value)
            if fmt is None:
                return None
        else:
            options.add(kw.arg.lower())
    node: ast.expr = func.value
    reads = False
    for _ in range(MAX_CHAIN_CALLS):
        if isinstance(node, ast.Attribute):
            if node.attr == "read":  # readStream follows the table: no snapshot to pin
                reads = True
            node = node.value
            continue
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            break
        method = node.func.attr
        if method == "format":
            written = _text(node.args[0]) if node.args else None
            if written is None:
                return None
            fmt = written
        elif method == "option":
            key = _text(node.args[0]) if node.args else None
            if key is None:
                return None
            options.add(key.lower())
        elif method == "options":
            if node.args or any(kw.arg is None for kw in node.keywords):
                return None
            options.update(str(kw.arg).lower() for kw in node.keywords)
        node = node.func.value
    if not reads or fmt is None or fmt.lower() not in _SPARK_APIS:
        return None
    return _SPARK_APIS[fmt.lower()], frozenset(options)


__all__ = ["Unpinned", "judge_reference", "shared_table", "spark_read", "written_table"]
