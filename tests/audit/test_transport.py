"""Scan results sent from worker processes: rebuilt equal to what pickle's own way rebuilds."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprolock.audit import transport
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.interface import FileFacts, Include, Pin, Role
from reprolock.config import load_config
from reprolock.model import Finding, Location, Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _slotted_objects(obj: object, seen: set[int] | None = None) -> int:
    """How many slotted dataclass instances ``obj`` holds (each counted once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    count = 0
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        count += hasattr(type(obj), "__slots__")
        children: list[object] = [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    elif isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set | frozenset):
        children = list(obj)
    else:
        children = []
    return count + sum(_slotted_objects(child, seen) for child in children)


@pytest.fixture(scope="module")
def fixture_facts() -> dict[str, FileFacts]:
    facts = run_audit(FIXTURES, load_config(FIXTURES), AuditOptions(jobs=1)).facts
    assert len(facts) > 300  # every fixture family, not a handful of files
    return facts


def test_facts_of_every_fixture_come_back_as_pickle_brings_them(
    fixture_facts: dict[str, FileFacts],
) -> None:
    items = sorted(fixture_facts.items())
    sent = transport.loads(transport.dumps(items))
    assert sent == items
    assert sent == pickle.loads(pickle.dumps(items))  # noqa: S301 - made just above
    for (_, before), (_, after) in zip(items, sent, strict=True):
        assert type(after) is type(before)
        assert repr(after) == repr(before)


def test_every_slotted_dataclass_takes_the_short_way(
    fixture_facts: dict[str, FileFacts], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = sorted(fixture_facts.items())
    data = transport.dumps(items)
    rebuilt: list[type] = []
    original = transport.rebuild

    def counted(cls: type, values: tuple[object, ...]) -> object:
        rebuilt.append(cls)
        return original(cls, values)

    # the stream names the function, looked up in the module when it is loaded
    monkeypatch.setattr(transport, "rebuild", counted)
    assert transport.loads(data) == items
    assert b"_dataclass_setstate" not in data
    # pickle sends an object met twice once: rebuilt once per distinct object
    assert len(rebuilt) == _slotted_objects(items)
    assert {FileFacts, Pin, Finding, Location} <= set(rebuilt)


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


def test_fields_not_given_to_init_travel_and_init_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    obj = _Derived(text="abc")
    monkeypatch.setattr(_Derived, "__post_init__", lambda self: pytest.fail("ran again"))
    sent = transport.loads(transport.dumps(obj))
    assert (sent.text, sent.length) == ("abc", 3)


def test_other_objects_travel_as_pickle_sends_them() -> None:
    obj = [_Unslotted(text="a"), _One(value=Role.LOCK), _One(value=_One(value=None)), {1: "x"}]
    data = transport.dumps(obj)
    assert transport.loads(data) == obj
    assert data.count(b"rebuild") == 1  # the two _One only: memoised after the first
    assert transport.loads(transport.dumps(_Unslotted(text="b"))) == _Unslotted(text="b")


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
    includes=st.lists(
        st.builds(Include, target=_text, line=st.integers(1, 99), constraint=st.booleans()),
        max_size=2,
    ).map(tuple),
)


@given(st.lists(_facts, max_size=4))
def test_generated_facts_come_back_equal(facts: list[FileFacts]) -> None:
    assert transport.loads(transport.dumps(facts)) == facts
