"""The framework check runs its environment model with the cyclic collector paused, and leaves
the collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from reprolock.audit.checks import frameworks
from reprolock.audit.checks.environments import Model
from reprolock.audit.checks.frameworks import FrameworkCheck, collector_paused
from reprolock.audit.interface import FileFacts, ScanContext
from reprolock.config import Config
from tests.audit.checks.helpers import CUDA_121, check, config, dockerfile, pin, rule_hits


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_the_model_is_built_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def spy(facts: Mapping[str, FileFacts], cfg: Config, root: Path | None) -> Model:
        seen.append(gc.isenabled())
        return Model(facts, cfg, root)

    monkeypatch.setattr(frameworks, "Model", spy)
    found = check(
        dockerfile("serving/Dockerfile", pin("torch", "2.3.1+cu118", 3), image=CUDA_121),
        dockerfile("training/Dockerfile", pin("torch", "2.2.0+cu121", 3), image=CUDA_121),
    )
    assert seen == [False]
    assert gc.isenabled()
    assert rule_hits(found) == [
        ("RP501", "serving/Dockerfile", 3),
        ("RP503", "serving/Dockerfile", 3),
    ]


@pytest.mark.usefixtures("collector_on")
def test_the_collector_runs_again_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("model")

    monkeypatch.setattr(frameworks, "Model", broken)
    with pytest.raises(RuntimeError, match="model"):
        FrameworkCheck().run({}, ScanContext(root=Path("/nonexistent"), config=config()))
    assert gc.isenabled()


def test_a_paused_collector_stays_paused() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
