"""How scan results travel from a worker process to the main one: pickle, with frozen slotted
dataclasses sent as their field values.

Facts are hundreds of thousands of small frozen dataclasses. Pickle sends each through the
``__getstate__``/``__setstate__`` pair ``dataclasses`` gives slotted classes, which look up
the class's fields anew for every object: most of the time of sending facts back (measured
on the bench trees: half the dumping, a third of the loading). Here the field names are looked
up once per class; each object travels as its class and the tuple of its field values, and is
rebuilt the way ``__setstate__`` rebuilds it, so the result is the same object.

Only the main process loads what its own workers dumped (the pool's pipe): nothing here reads
data from anywhere else.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
from collections.abc import Callable
from typing import Any

_SLOTTED_SETSTATE: Any = getattr(dataclasses, "_dataclass_setstate", None)
"""The ``__setstate__`` ``dataclasses`` gives a slotted class: the classes sent here."""

_Values = Callable[[object], tuple[Any, ...]]

_NAMES: dict[type, tuple[str, ...]] = {}
_VALUES: dict[type, _Values | None] = {}

_new = object.__new__
_set = object.__setattr__  # a frozen class's own __setattr__ refuses, as __setstate__ knows


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _values_of(cls: type) -> _Values | None:
    """What reads an object's field values, in field order; None for a class pickle's own
    way serves as well."""
    if cls in _VALUES:
        return _VALUES[cls]
    reader: _Values | None = None
    if _SLOTTED_SETSTATE is not None and getattr(cls, "__setstate__", None) is _SLOTTED_SETSTATE:
        names = _names(cls)
        if len(names) == 1:
            only = operator.attrgetter(names[0])
            reader = lambda obj: (only(obj),)  # noqa: E731 - attrgetter of one name gives no tuple
        elif names:
            reader = operator.attrgetter(*names)
    _VALUES[cls] = reader
    return reader


def rebuild(cls: type, values: tuple[Any, ...]) -> object:
    """An instance of slotted dataclass ``cls`` with these field values (as ``__setstate__``
    makes it: no ``__init__``, no ``__post_init__``)."""
    obj: object = _new(cls)
    names = _NAMES.get(cls)  # one call per object of a large tree: no helper call here
    for name, value in zip(_names(cls) if names is None else names, values, strict=True):
        _set(obj, name, value)
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: object) -> Any:
        cls = type(obj)
        values = _values_of(cls)
        if values is None:
            return NotImplemented
        return rebuild, (cls, values(obj))


def dumps(obj: object) -> bytes:
    """``obj`` pickled, slotted dataclasses by their field values."""
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return out.getvalue()


def loads(data: bytes) -> Any:
    """What :func:`dumps` was given (only ever data this process's own workers made)."""
    return pickle.loads(data)  # noqa: S301 - written by this run's own worker processes
