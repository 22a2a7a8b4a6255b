"""Scan results sent from worker processes: rebuilt equal to what pickle's own way rebuilds."""

from __future__ import annotations

import dataclasses
import gc
import pickle
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprolock.audit import transport
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.interface import Declared, FileFacts, Include, Pin, Role
from reprolock.config import load_config
from reprolock.formats.lock import DependencyEdge, LockEntry, LockFile, Source
from reprolock.formats.spec import Spec, SpecKind, classify
from reprolock.model import Finding, Location, Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _children(obj: object) -> list[object]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    return []


def _slotted_objects(obj: object) -> list[object]:
    """The slotted dataclass instances ``obj`` holds, each once."""
    seen: dict[int, object] = {}
    todo = [obj]
    while todo:
        item = todo.pop()
        if id(item) not in seen:
            seen[id(item)] = item
            todo.extend(_children(item))
    return [
        o
        for o in seen.values()
        if dataclasses.is_dataclass(o) and not isinstance(o, type) and hasattr(o, "__slots__")
    ]


def _assert_alike(sent: object, came: object) -> None:
    """``came`` is ``sent`` rebuilt: the same types all the way down, equal values, every
    frozen dataclass still frozen."""
    assert type(came) is type(sent)
    assert came == sent
    params = vars(type(came)).get("__dataclass_params__")
    if params is not None and params.frozen:
        name = next(iter(vars(type(came))["__dataclass_fields__"]))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(came, name, None)
    if isinstance(sent, dict):
        assert isinstance(came, dict)
        assert list(came) == list(sent)
        for key in sent:
            _assert_alike(sent[key], came[key])
        return
    for before, after in zip(_children(sent), _children(came), strict=True):
        _assert_alike(before, after)


@pytest.fixture(scope="module")
def fixture_facts() -> list[tuple[str, FileFacts]]:
    facts = run_audit(FIXTURES, load_config(FIXTURES), AuditOptions(jobs=1)).facts
    assert len(facts) > 300  # every fixture family, not a handful of files
    return sorted(facts.items())


def test_facts_of_every_fixture_come_back_as_pickle_brings_them(
    fixture_facts: list[tuple[str, FileFacts]],
) -> None:
    sent = transport.loads(transport.dumps(fixture_facts))
    _assert_alike(fixture_facts, sent)
    assert sent == pickle.loads(pickle.dumps(fixture_facts))  # noqa: S301 - made just above
    assert repr(sent) == repr(fixture_facts)
    classes = {type(o) for o in _slotted_objects(fixture_facts)}
    assert {FileFacts, Pin, Declared, Spec, LockFile, LockEntry, DependencyEdge} <= classes


class _Counting(pickle.Unpickler):
    """Loads as pickle.loads does, counting the objects each builder makes."""

    def __init__(self, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.built: list[type] = []

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        if module != transport.__name__ or not name.startswith("_builders."):
            return found
        build: Callable[..., Any] = found

        def counted(*values: object) -> object:
            made = build(*values)
            self.built.append(type(made))
            return made

        return counted


def test_every_slotted_dataclass_of_the_facts_takes_its_builder(
    fixture_facts: list[tuple[str, FileFacts]],
) -> None:
    data = transport.dumps(fixture_facts)
    loading = _Counting(data)
    assert loading.load() == fixture_facts
    assert b"_dataclass_setstate" not in data
    # pickle sends an object met twice once: built once per distinct object
    expected = _slotted_objects(fixture_facts)
    assert len(loading.built) == len(expected)
    assert set(loading.built) == {type(o) for o in expected}
    # each builder is now an attribute where pickle looks it up, not made again by name
    assert getattr(transport._builders, transport._name(Pin)) is transport._builder(Pin)
    assert transport._name(Pin) in vars(transport._builders)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Derived:
    text: str
    length: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", len(self.text))


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Unslotted:
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class _One:
    value: object


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Base:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Sub(_Base):
    more: int


@dataclasses.dataclass(kw_only=True, slots=True)
class _Mutable:
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _OwnReduce:
    text: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (_OwnReduce.remade, (self.text,))

    @staticmethod
    def remade(text: str) -> _OwnReduce:
        return _OwnReduce(text=text + "!")


def test_fields_not_given_to_init_travel_and_init_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    obj = _Derived(text="abc")
    monkeypatch.setattr(_Derived, "__post_init__", lambda self: pytest.fail("ran again"))
    sent = transport.loads(transport.dumps(obj))
    assert (sent.text, sent.length) == ("abc", 3)


def test_other_objects_travel_as_pickle_sends_them() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
    class Local:
        text: str

    obj = [
        _Unslotted(text="a"),
        _One(value=Role.LOCK),
        _One(value=_One(value=None)),
        {1: "x"},
        _Sub(text="s", more=2),
        _Mutable(text="m"),
        SpecKind.EXACT,
        Source,
        complex(1, 2),
    ]
    data = transport.dumps(obj)
    came = transport.loads(data)
    _assert_alike(obj, came)
    assert data.count(b"_builders.") == 1  # the two _One only: memoised after the first
    assert transport.loads(transport.dumps(_Unslotted(text="b"))) == _Unslotted(text="b")
    # a class pickle cannot find by its name fails as pickle's own way fails
    with pytest.raises((pickle.PicklingError, AttributeError)):
        transport.dumps(Local(text="l"))
    # a class's own way of pickling is kept
    assert transport.loads(transport.dumps(_OwnReduce(text="r"))) == _OwnReduce(text="r!")


def test_a_stream_naming_no_builder_is_refused() -> None:
    data = transport.dumps(_One(value=1))
    forged = data.replace(b"test_transport:_One", b"test_transport:_Two")
    assert forged != data
    with pytest.raises(AttributeError, match=r"_builders\.tests/audit/test_transport:_Two"):
        transport.loads(forged)
    for name in ("os", "__deepcopy__", "reprolock/audit/transport:_Builders", "builtins:int"):
        assert not hasattr(transport._builders, name)


def test_nothing_dumped_stays_alive_and_a_failed_dump_leaves_no_trace() -> None:
    obj = _Unslotted(text="gone")
    alive = weakref.ref(obj)
    transport.dumps([obj])
    del obj
    gc.collect()
    assert alive() is None
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        transport.dumps([_One(value=1), lambda: None])
    assert transport.loads(transport.dumps([_One(value=2)])) == [_One(value=2)]


def test_threads_dump_at_the_same_time_without_mixing() -> None:
    errors: list[BaseException] = []

    def dump_many(seed: int) -> None:
        try:
            for index in range(200):
                value = [_One(value=(seed, index)), Pin(name=f"p{seed}", version=str(index))]
                assert transport.loads(transport.dumps(value)) == value
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=dump_many, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


_text = st.text(max_size=8)
_locations = st.builds(Location, path=_text, line=st.integers(1, 10**6), column=st.integers(1, 500))
_findings = st.builds(
    Finding,
    rule=st.sampled_from(["RP101", "RP201"]),
    severity=st.sampled_from(list(Severity)),
    message=_text,
    location=_locations,
    subject=_text,
    fix=_text,
)
_specs = st.sampled_from(["numpy==1.26.4", "torch>=2", "-e ./lib", "git+https://x/y@v1#egg=y"])
_entries = st.builds(
    LockEntry,
    name=_text,
    version=_text,
    source=st.sampled_from(list(Source)),
    hashes=st.lists(_text, max_size=2).map(tuple),
    marker=st.one_of(st.none(), _text),
    line=st.integers(1, 99),
)
_facts = st.builds(
    FileFacts,
    path=_text,
    kind=_text,
    role=st.sampled_from(list(Role)),
    findings=st.lists(_findings, max_size=3).map(tuple),
    pins=st.lists(
        st.builds(Pin, name=_text, version=_text, line=st.integers(1, 99), hashed=st.booleans()),
        max_size=3,
    ).map(tuple),
    declared=st.lists(
        st.builds(Declared, spec=_specs.map(classify), line=st.integers(1, 99), group=_text),
        max_size=3,
    ).map(tuple),
    includes=st.lists(
        st.builds(Include, target=_text, line=st.integers(1, 99), constraint=st.booleans()),
        max_size=2,
    ).map(tuple),
    lock=st.one_of(
        st.none(),
        st.builds(LockFile, format=_text, entries=st.lists(_entries, max_size=3).map(tuple)),
    ),
    sync=st.dictionaries(_text, _text, max_size=2),
)


@given(st.lists(_facts, max_size=4))
def test_generated_facts_come_back_alike(facts: list[FileFacts]) -> None:
    _assert_alike(facts, transport.loads(transport.dumps(facts)))
