"""Frozen slotted dataclasses made without ``__init__``: the same objects ``__init__`` makes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprolock.audit import slotted
from reprolock.audit.interface import FileFacts, Pin, Role
from reprolock.formats.lock import LockFile, LockMeta


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Defaults:
    first: str
    listed: list[int] = dataclasses.field(default_factory=list)
    named: str = "x"
    last: int


def _assert_same(made: object, expected: object) -> None:
    assert type(made) is type(expected)
    assert made == expected
    assert repr(made) == repr(expected)
    try:
        expected_hash = hash(expected)
    except TypeError:  # a field holds a dict
        with pytest.raises(TypeError):
            hash(made)
    else:
        assert hash(made) == expected_hash


def _assert_frozen(made: Any) -> None:
    name = dataclasses.fields(made)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, "changed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(made, name)


_text = st.text(max_size=6)


@given(name=_text, version=_text, line=st.integers(-3, 10**6), hashed=st.booleans())
def test_a_builder_makes_what_init_makes(name: str, version: str, line: int, hashed: bool) -> None:
    made = slotted.builder(Pin)(name, version, line, hashed)
    _assert_same(made, Pin(name=name, version=version, line=line, hashed=hashed))
    _assert_frozen(made)


@given(name=_text, version=_text, line=st.one_of(st.none(), st.integers(-3, 10**6)))
def test_a_constructor_makes_what_init_makes_defaults_included(
    name: str, version: str, line: int | None
) -> None:
    new_pin = slotted.constructor(Pin)
    if line is None:
        made, expected = new_pin(name=name, version=version), Pin(name=name, version=version)
    else:
        made = new_pin(name=name, version=version, line=line)
        expected = Pin(name=name, version=version, line=line)
    _assert_same(made, expected)
    _assert_frozen(made)


def test_a_default_factory_gives_each_object_its_own_value() -> None:
    new = slotted.constructor(_Defaults)
    one, two = new(first="a", last=1), new(first="b", last=2)
    assert one == _Defaults(first="a", last=1)
    assert (one.listed, one.named) == ([], "x")
    assert one.listed is not two.listed
    given_list = [1]
    assert new(first="c", listed=given_list, last=3).listed is given_list
    facts = slotted.constructor(FileFacts)(path="p", kind="requirements", role=Role.LOCK)
    _assert_same(facts, FileFacts(path="p", kind="requirements", role=Role.LOCK))
    lock = slotted.constructor(LockFile)(format="uv.lock")
    _assert_same(lock, LockFile(format="uv.lock"))
    assert lock.meta == LockMeta()


def test_a_constructor_refuses_what_init_would_not_accept() -> None:
    new_pin = slotted.constructor(Pin)
    with pytest.raises(TypeError):
        new_pin("numpy", "1.0")  # type: ignore[call-arg] # keyword-only, as Pin(...)
    with pytest.raises(TypeError):
        new_pin(version="1.0")  # type: ignore[call-arg]


_POST_INIT_RAN: list[str] = []


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _PostInit:
    text: str

    def __post_init__(self) -> None:
        _POST_INIT_RAN.append(self.text)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Computed:
    text: str
    length: int = dataclasses.field(init=False, default=0)


@dataclasses.dataclass(frozen=True, slots=True)
class _Positional:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Unslotted:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Base:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Derived(_Base):
    more: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True, weakref_slot=True)
class _Weak:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Empty:
    pass


_NOT_BUILT = [_Unslotted, _Derived, _Weak, _Empty, int, dataclasses.Field]


@pytest.mark.parametrize("cls", [*_NOT_BUILT, _PostInit, _Computed, _Positional])
def test_a_constructor_is_refused_for_an_init_that_does_more(cls: type) -> None:
    with pytest.raises(TypeError):
        slotted.constructor(cls)


@pytest.mark.parametrize("cls", _NOT_BUILT)
def test_a_builder_is_refused_for_a_class_it_cannot_stand_in_for(cls: type) -> None:
    with pytest.raises(TypeError):
        slotted.builder(cls)


def test_a_builder_sets_fields_init_does_not_take_and_runs_no_post_init() -> None:
    made = slotted.builder(_Computed)("abc", 3)
    assert (made.text, made.length) == ("abc", 3)
    assert slotted.builder(_PostInit)("built").text == "built"
    assert _PostInit(text="made").text == "made"
    assert _POST_INIT_RAN == ["made"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Awkward:
    obj: str
    make: int
    cls: bool


def test_field_names_of_the_written_source_are_taken_as_fields() -> None:
    made = slotted.builder(_Awkward)("o", 1, True)
    _assert_same(made, _Awkward(obj="o", make=1, cls=True))
    _assert_same(slotted.constructor(_Awkward)(obj="o", make=1, cls=True), made)
