"""Frozen slotted dataclasses made without their ``__init__``: a function written once per class
that stores each field as a plain attribute.

A frozen dataclass's ``__init__`` sets every field with ``object.__setattr__`` by name (its
own ``__setattr__`` refuses), and pickle's way back (the ``__setstate__`` ``dataclasses``
gives a frozen slotted class) also looks the class's fields up again for every object. The
audit makes hundreds of thousands of these objects (the facts its worker processes send back,
the environment model's packages), at a third of that cost here: the object is made as an
instance of the class's *twin*, a plain class with the same slots and nothing else, whose
attributes are stored the way any attribute is (what the interpreter does fastest); then the
object is given its own class. Python allows that assignment of ``__class__`` between two
classes of the same slots over ``object``: they lay their instances out alike. From then on
the object is an instance of the frozen class like any other, equal to what ``__init__``
makes and as frozen.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def _plain_name(name: str) -> bool:
    """A name the written source can use as a parameter, never one of its own (``__...``)."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of ``cls``, a slotted dataclass directly over ``object`` whose slots are its
    fields: the classes a twin can stand in for."""
    fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    if (
        not fields
        or not all(_plain_name(f.name) for f in fields)
        or cls.__bases__ != (object,)
        or vars(cls).get("__slots__") != tuple(f.name for f in fields)
    ):
        msg = f"{cls.__qualname__} is not a dataclass with slots of its fields over object"
        raise TypeError(msg)
    return fields


def _write(cls: type, signature: str, first: list[str], env: dict[str, Any]) -> Any:
    """``def make(signature)`` that runs the ``first`` lines, then makes a ``cls`` whose fields
    are the parameters of the same names; ``env`` holds what the ``first`` lines read."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined] # as _fields checked
    # No field name starts with "__" (_plain_name), so no parameter shadows the names below.
    twin = type(f"{cls.__name__}Twin", (), {"__slots__": names})
    twin().__class__ = cls  # Python checks here that the two layouts agree
    env["__slotted_twin"] = twin
    env["__slotted_cls"] = cls
    lines = [
        f"def make({signature}):",
        *(f"    {line}" for line in first),
        "    __slotted_obj = __slotted_twin()",
        *(f"    __slotted_obj.{name} = {name}" for name in names),
        "    __slotted_obj.__class__ = __slotted_cls",
        "    return __slotted_obj",
    ]
    exec("\n".join(lines), env)  # noqa: S102 - source written above from a class's own fields
    made = env["make"]
    made.__qualname__ = made.__name__ = f"make_{cls.__name__}"
    return made


def builder(cls: type) -> Callable[..., Any]:
    """A new instance of slotted dataclass ``cls`` from the value of every field, in field
    order (``init=False`` fields too), made the way ``__setstate__`` makes it: no
    ``__init__``, no ``__post_init__``, no defaults."""
    names = [f.name for f in _fields(cls)]
    made: Callable[..., Any] = _write(cls, ", ".join(names), [], {})
    return made


def constructor(cls: Callable[P, T]) -> Callable[P, T]:
    """What ``cls(...)`` makes, defaults and default factories included, for a keyword-only
    slotted dataclass whose ``__init__`` does nothing else (a class with a ``__post_init__``
    or a field ``__init__`` does not set is refused)."""
    if not isinstance(cls, type):
        msg = f"{cls!r} is not a class"
        raise TypeError(msg)
    fields = _fields(cls)
    if hasattr(cls, "__post_init__") or not all(f.init and f.kw_only for f in fields):
        msg = f"{cls.__qualname__}.__init__ does more than set keyword-only fields"
        raise TypeError(msg)
    env: dict[str, Any] = {"__slotted_missing": dataclasses.MISSING}
    params: list[str] = []
    first: list[str] = []
    for index, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            env[f"__slotted_default_{index}"] = f.default
            params.append(f"{f.name}=__slotted_default_{index}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"__slotted_factory_{index}"] = f.default_factory
            params.append(f"{f.name}=__slotted_missing")
            first.append(f"if {f.name} is __slotted_missing:")
            first.append(f"    {f.name} = __slotted_factory_{index}()")
        else:
            params.append(f.name)
    made: Callable[P, T] = _write(cls, "*, " + ", ".join(params), first, env)
    return made
