"""A memoised :func:`reprolock.specs.classify` for the scanners' hot loops."""

from __future__ import annotations

import functools

from reprolock.specs import Spec, classify


@functools.lru_cache(maxsize=32768)
def classify_cached(text: str, editable: bool = False) -> Spec:
    """``classify(text, editable=editable)``, shared across files.

    A monorepo repeats the same lines (``numpy==1.26.4``) across hundreds of files; a Spec is
    immutable, so the classification is shared. Errors are not cached and raise each time.
    """
    return classify(text, editable=editable)
