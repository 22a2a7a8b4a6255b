"""How scan results travel from a worker process to the main one: pickle, with frozen slotted
dataclasses sent as their field values.

Facts are hundreds of thousands of small frozen dataclasses. Pickle's own way sends each
through the ``__getstate__``/``__setstate__`` pair ``dataclasses`` gives slotted classes,
which look up the class's fields anew for every object. Here each object travels as a call of
its class's builder (:func:`reprolock.audit.slotted.builder`, written once per class) with its
field values: the stream names the builder once, and loading an object is that one call, which
makes the same object ``__setstate__`` would.

Only the main process loads what its own workers dumped (the pool's pipe): nothing here reads
data from anywhere else.
"""

from __future__ import annotations

import copyreg
import dataclasses
import importlib
import operator
import pickle
import threading
import types
from collections.abc import Callable
from typing import Any

from reprolock.audit import slotted

_SLOTTED_SETSTATE: Any = getattr(dataclasses, "_dataclass_setstate", None)
_SLOTTED_GETSTATE: Any = getattr(dataclasses, "_dataclass_getstate", None)
"""The state methods ``dataclasses`` gives a frozen slotted class: the classes sent here."""

_PROTOCOL = pickle.HIGHEST_PROTOCOL

_Build = Callable[..., Any]
_Reduce = Callable[[Any], Any]

_BUILDERS: dict[type, _Build | None] = {}


def _name(cls: type) -> str:
    """The name of a class's builder under :data:`_builders`: the class's module and qualified
    name, without the dots pickle would take for attribute look-ups."""
    return f"{cls.__module__}:{cls.__qualname__}".replace(".", "/")


def _named(name: str) -> object:
    """The class :func:`_name` names (imported and looked up as pickle would); None when
    nothing has that name."""
    module, colon, qualname = name.replace("/", ".").partition(":")
    if not colon:
        return None  # not a builder's name (copy's __deepcopy__, say): nothing is imported
    try:
        found: object = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError):
        return None
    return found


def _sent_by_builder(cls: type) -> bool:
    """A frozen slotted dataclass that pickles the way ``dataclasses`` made it, reachable by
    its name (not a class made inside a function)."""
    return (
        _SLOTTED_SETSTATE is not None
        and getattr(cls, "__setstate__", None) is _SLOTTED_SETSTATE
        and getattr(cls, "__getstate__", None) is _SLOTTED_GETSTATE
        and getattr(cls, "__reduce_ex__", None) is object.__reduce_ex__
        and getattr(cls, "__reduce__", None) is object.__reduce__
        and _named(_name(cls)) is cls
    )


def _builder(cls: type) -> _Build | None:
    """The builder of ``cls``, named so that pickle finds it; None for a class pickle's own
    way serves (see :func:`_sent_by_builder`; or a class :mod:`slotted` cannot build)."""
    if cls in _BUILDERS:
        return _BUILDERS[cls]
    build: _Build | None = None
    if _sent_by_builder(cls):
        try:
            build = slotted.builder(cls)
        except TypeError:
            build = None
        else:
            build.__module__ = __name__
            build.__qualname__ = f"_builders.{_name(cls)}"
            # pickle looks the builder up by that name in every stream it writes or reads
            setattr(_builders, _name(cls), build)
    _BUILDERS[cls] = build
    return build


class _Builders:
    """Every class's builder as an attribute, the way pickle finds a function by its module
    and qualified name: ``_builders.<module:class>`` here."""

    def __getattr__(self, name: str) -> _Build:
        # Only the first time a process meets the name: _builder sets the attribute.
        cls = _named(name)
        build = _builder(cls) if isinstance(cls, type) else None
        if build is None:
            msg = f"no builder named {name!r}"
            raise AttributeError(msg)
        return build


_builders = _Builders()


def _reduction(cls: type) -> _Reduce:
    """How an instance of ``cls`` is sent: its builder and field values, else as pickle itself
    would send it (the table below stands in for pickle's own, where it looks first)."""
    build = _builder(cls)
    if build is None:
        found: _Reduce | None = copyreg.dispatch_table.get(cls)
        return found if found is not None else operator.methodcaller("__reduce_ex__", _PROTOCOL)
    # The attribute reads written out: a third faster than an operator.attrgetter of them.
    values = "".join(f"obj.{f.name}, " for f in dataclasses.fields(cls))
    env: dict[str, Any] = {"build": build}
    exec(f"def reduce(obj):\n    return build, ({values})", env)  # noqa: S102 - from fields
    reduce: _Reduce = env["reduce"]
    return reduce


class _Reductions(dict[type, _Reduce]):
    """Each class's :func:`_reduction`, made the first time pickle meets the class."""

    def __missing__(self, cls: type) -> _Reduce:
        if issubclass(cls, type):
            # A class of a metaclass (an enum): pickle sends it by name once told there is
            # nothing here for it.
            raise KeyError(cls)
        reduce = self[cls] = _reduction(cls)
        return reduce


class _Pickler(pickle.Pickler):
    # A table rather than reducer_override: pickle would call an override for every object
    # (each class and enum member too); the table is looked up in C.
    dispatch_table = _Reductions()


_LOCAL = threading.local()


def dumps(obj: object) -> bytes:
    """``obj`` pickled, slotted dataclasses by their field values."""
    # One pickler per thread, used again: a new one grows its memo table from nothing for
    # every batch (a tenth of the time of dumping one).
    try:
        pickler, chunks = _LOCAL.pickler
    except AttributeError:
        chunks = []
        pickler = _Pickler(types.SimpleNamespace(write=chunks.append), protocol=_PROTOCOL)
        _LOCAL.pickler = pickler, chunks
    try:
        pickler.dump(obj)
        return b"".join(chunks)
    finally:
        chunks.clear()
        pickler.clear_memo()  # nothing dumped stays alive until the next call


def loads(data: bytes) -> Any:
    """What :func:`dumps` was given (only ever data this process's own workers made)."""
    return pickle.loads(data)  # noqa: S301 - written by this run's own worker processes
