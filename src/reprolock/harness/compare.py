"""Compare a candidate run's outputs with the golden ones: verdicts and error statistics per output.

Choices the design leaves open, fixed here:

- Outputs are reported sorted by name. A golden output the candidate lacks, an output the
  golden lacks, a shape change, a dtype change (byte order aside), values of kinds that
  cannot be compared (floats against strings, say) and object arrays are all ``changed``
  with a note, whatever the values say. When values cannot be paired at all, every element
  counts as a mismatch (of the golden output, or of the candidate's for an extra output).
- ``identical`` means the same shape, dtype and storage bytes. ``-0.0`` against ``0.0``, or
  two NaNs with different payloads, are equal values but not identical: ``within-tolerance``.
- Real and complex floats: an element matches when ``|a-g| <= atol + rtol*|g|`` (golden is
  the reference; computed in at least float64, complex by modulus) or when ``|a-g|`` is at
  most the recorded run-to-run noise. A NaN matches only a NaN (complex: part by part) and
  an infinity only the same infinity, whatever the tolerance.
- ``max_abs``, ``max_rel`` and ``max_ulp`` are maxima over element pairs where both values are
  finite; ``max_rel`` (``|a-g|/|g|``) also leaves out pairs whose golden value is 0, whose
  difference still shows in ``max_abs`` and ``mismatches``. Each is None when no pair qualifies.
- ULP distance is measured only between two float16/32/64 arrays of the same dtype, on the
  bits mapped to integers ordered like the floats: ``-0.0`` and ``0.0`` are 0 ULP apart, the
  smallest positive and negative subnormals 2 apart.
- Everything else (ints, bools, strings, bytes, datetimes, records) compares exactly;
  ``label_flips`` counts the differing elements and the output is ``within-tolerance`` when
  ``label_flips / total <= max_label_flip_rate``. Ints and bools also report ``max_abs`` and
  ``max_rel`` (differences taken in float64), never ``max_ulp``.
- A 2-D real float output with two or more columns also reports, as ``label_flips``, the
  number of rows whose argmax moved; its verdict still follows the float tolerance.
- ``to_dict`` is JSON-safe and deterministic: floats are Python floats (``json`` writes them
  with ``repr``), an absent statistic is None, and an infinite maximum (an overflowing
  difference, or a relative error against a subnormal golden value) is the string ``"inf"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from reprolock.report.replay import Comparison, Difference, OutputComparison, Verdict, worst

Array = npt.NDArray[Any]

_TOP: Final = 5
"""Elements furthest outside tolerance that a report shows."""

_CHUNK: Final = 1 << 14
"""Elements compared per slice: a slice's temporaries stay in L2 cache (measured fastest)."""

_NUMERIC: Final = frozenset("biufc")
_INEXACT: Final = frozenset("fc")
_EXACT_NUMERIC: Final = frozenset("biu")


@dataclass(frozen=True, kw_only=True, slots=True)
class Tolerance:
    """How far a candidate output may drift from the golden one and still count as the same."""

    rtol: float = 1e-7
    """Relative tolerance, against the golden value."""
    atol: float = 0.0
    """Absolute tolerance."""
    max_label_flip_rate: float = 0.0
    """Largest allowed fraction (0..1) of differing elements in an exactly compared output."""

    def __post_init__(self) -> None:
        # Written so that NaN fails too.
        if not (self.rtol >= 0 and self.atol >= 0):
            raise ValueError(f"rtol and atol must be >= 0, got rtol={self.rtol} atol={self.atol}")
        if not 0 <= self.max_label_flip_rate <= 1:
            raise ValueError(
                f"max_label_flip_rate must be between 0 and 1, got {self.max_label_flip_rate}"
            )


_NO_OVERRIDES: Final[Mapping[str, Tolerance]] = MappingProxyType({})


def compare(
    golden: Mapping[str, Array],
    candidate: Mapping[str, Array],
    *,
    default: Tolerance,
    per_output: Mapping[str, Tolerance] = _NO_OVERRIDES,
    noise: Mapping[str, float] | None = None,
) -> Comparison:
    """Compare every output of ``candidate`` with ``golden``; never raises on odd arrays.

    ``per_output`` overrides ``default`` by output name; ``noise`` is :func:`measure_noise` of
    two golden runs: a float element whose difference is within it matches.
    """
    results: list[OutputComparison] = []
    for name in sorted(set(golden) | set(candidate)):
        if name not in candidate:
            results.append(
                _unpaired(name, golden[name], "golden", "missing from the candidate's outputs")
            )
        elif name not in golden:
            results.append(
                _unpaired(name, candidate[name], "candidate", "not among the golden outputs")
            )
        else:
            tolerance = per_output.get(name, default)
            allowance = _allowance(None if noise is None else noise.get(name))
            out = _compare_output(name, golden[name], candidate[name], tolerance, allowance)
            results.append(
                dataclasses.replace(
                    out,
                    rtol=tolerance.rtol,
                    atol=tolerance.atol,
                    max_label_flip_rate=tolerance.max_label_flip_rate,
                )
            )
    outputs = tuple(results)
    return Comparison(verdict=worst(out.verdict for out in outputs), outputs=outputs)


def measure_noise(run1: Mapping[str, Array], run2: Mapping[str, Array]) -> dict[str, float]:
    """Largest finite ``|run1-run2|`` per float output present in both runs with one shape.

    Integer, string and mismatched outputs are left out: they are compared exactly and have
    no noise allowance. Differences that are not finite (NaN or infinity in one run only)
    cannot be expressed as an allowance and are left out of the maximum.
    """
    noise: dict[str, float] = {}
    for name in sorted(set(run1) & set(run2)):
        x, x_problem = _as_array(run1[name], "first run")
        y, y_problem = _as_array(run2[name], "second run")
        if x is None or y is None or x_problem or y_problem or x.shape != y.shape:
            continue
        if not _is_float_pair(x.dtype, y.dtype):
            continue
        work = np.result_type(x.dtype, y.dtype, np.float64)
        xf, yf = _flat(x), _flat(y)
        largest = 0.0
        with np.errstate(all="ignore"):
            for start in range(0, xf.size, _CHUNK):
                stop = start + _CHUNK
                d = np.abs(np.subtract(xf[start:stop].astype(work), yf[start:stop].astype(work)))
                largest = max(largest, float(np.max(d, where=np.isfinite(d), initial=0.0)))
        noise[name] = largest
    return noise


def _compare_output(
    name: str, golden: object, candidate: object, tolerance: Tolerance, allowance: float | None
) -> OutputComparison:
    g, g_problem = _as_array(golden, "golden")
    a, a_problem = _as_array(candidate, "candidate")
    if g is None or a is None or g_problem or a_problem:
        total = 0 if g is None else g.size
        problems = tuple(p for p in (g_problem, a_problem) if p)
        return OutputComparison(
            name=name, verdict=Verdict.CHANGED, mismatches=total, total=total, notes=problems
        )
    notes: list[str] = []
    if g.dtype != a.dtype:
        notes.append(f"dtype changed from {g.dtype} to {a.dtype}")
    if g.shape != a.shape:
        notes.append(f"shape changed from {g.shape} to {a.shape}")
        return OutputComparison(
            name=name,
            verdict=Verdict.CHANGED,
            mismatches=g.size,
            total=g.size,
            notes=tuple(notes),
        )
    if _is_float_pair(g.dtype, a.dtype):
        return _compare_floats(name, g, a, tolerance=tolerance, allowance=allowance, notes=notes)
    return _compare_exact(name, g, a, tolerance=tolerance, notes=notes)


def _compare_floats(
    name: str,
    g: Array,
    a: Array,
    *,
    tolerance: Tolerance,
    allowance: float | None,
    notes: list[str],
) -> OutputComparison:
    same_dtype = g.dtype == a.dtype
    # float32 differences and tolerances are computed in float64 so the test itself adds
    # no rounding of its own at the tolerance edge.
    work = np.result_type(g.dtype, a.dtype, np.float64)
    bits = _ulp_int(g.dtype) if same_dtype else None
    gf, af = _flat(g), _flat(a)
    rtol, atol = tolerance.rtol, tolerance.atol

    identical = same_dtype
    mismatches = by_noise = moved = 0
    worst_found: list[tuple[float, int]] = []
    passing_atol: float | None = None
    nan_appeared = nan_vanished = inf_appeared = inf_vanished = inf_flipped = 0
    max_abs: float | None = None
    max_rel: float | None = None
    max_ulp: int | None = None
    with np.errstate(all="ignore"):
        for start in range(0, gf.size, _CHUNK):
            stop = start + _CHUNK
            gc, ac = gf[start:stop], af[start:stop]
            if same_dtype:
                unchanged = _bytes_equal(ac, gc)
                moved += unchanged.size - int(np.count_nonzero(unchanged))
            gw, aw = gc.astype(work, copy=False), ac.astype(work, copy=False)
            d = np.abs(np.subtract(aw, gw))
            ag = np.abs(gw)
            limit = np.multiply(ag, rtol)
            if atol:
                limit += atol
            ok = np.less_equal(d, limit)
            if allowance is not None:
                noisy = np.less_equal(d, allowance)
                noisy &= np.greater(d, limit)
                by_noise += int(np.count_nonzero(noisy))
                ok |= noisy
            finite = np.isfinite(d)
            pair = finite
            if np.count_nonzero(finite) < d.size:
                # A difference is not finite only where a value is NaN or infinite (or the
                # subtraction overflowed): NaN and infinities match only by equality.
                idx = np.flatnonzero(~finite)
                ai, gi = aw[idx], gw[idx]
                a_nan, g_nan = np.isnan(ai), np.isnan(gi)
                a_inf, g_inf = np.isinf(ai), np.isinf(gi)
                same = _same_value(ai, gi)
                overflowed = ~(a_nan | g_nan | a_inf | g_inf)
                # Two finite values whose difference overflowed keep the tolerance test (which
                # passes only when the limit overflowed too); the others need equality.
                ok[idx] = same | (overflowed & ok[idx])
                nan_appeared += int(np.count_nonzero(a_nan & ~g_nan))
                nan_vanished += int(np.count_nonzero(g_nan & ~a_nan))
                inf_appeared += int(np.count_nonzero(a_inf & ~g_inf & ~g_nan))
                inf_vanished += int(np.count_nonzero(g_inf & ~a_inf & ~a_nan))
                inf_flipped += int(np.count_nonzero(a_inf & g_inf & ~same))
                if overflowed.any():
                    pair = finite.copy()
                    pair[idx[overflowed]] = True
            outside = d.size - int(np.count_nonzero(ok))
            mismatches += outside
            if outside:
                bad = np.flatnonzero(~ok)
                # A NaN or infinity out of place ranks first: it is the largest difference.
                size = np.where(np.isfinite(d[bad]), d[bad], np.inf)
                order = np.argsort(-size, kind="stable")[:_TOP]
                worst_found.extend((float(size[j]), start + int(bad[j])) for j in order)
                worst_found.sort(key=lambda item: (-item[0], item[1]))
                del worst_found[_TOP:]
                needed = (d - ag * rtol)[bad]
                needed = needed[np.isfinite(needed)]
                if needed.size:
                    # Rounded up a little: atol + rtol*|g| is rounded again when tested.
                    largest = float(needed.max()) * (1 + 8 * np.finfo(np.float64).eps)
                    passing_atol = _larger(passing_atol, largest)
            if not pair.any():
                continue
            max_abs = _larger(max_abs, float(np.max(d, where=pair, initial=0.0)))
            relative = pair & (ag != 0)
            if relative.any():
                rel = np.divide(d, ag, out=ag)
                max_rel = _larger(max_rel, float(np.max(rel, where=relative, initial=0.0)))
            if bits is not None:
                max_ulp = max(max_ulp or 0, _max_ulp(ac, gc, bits, pair))

    flips = None
    if g.ndim == 2 and g.shape[1] >= 2 and g.dtype.kind == "f" and a.dtype.kind == "f":
        flips = int(np.count_nonzero(np.argmax(a, axis=1) != np.argmax(g, axis=1)))

    for count, what in (
        (nan_appeared, "NaN appeared in"),
        (nan_vanished, "NaN disappeared from"),
        (inf_appeared, "infinity appeared in"),
        (inf_vanished, "infinity disappeared from"),
        (inf_flipped, "infinity changed sign in"),
    ):
        if count:
            notes.append(f"{what} {_elements(count)}")
    if by_noise:
        notes.append(
            f"{_elements(by_noise)} outside rtol/atol but within the accepted run-to-run "
            f"noise (max abs {allowance:.3g})"
        )
    identical = same_dtype and moved == 0
    if not same_dtype:
        verdict = Verdict.CHANGED
    elif identical:
        verdict = Verdict.IDENTICAL
    elif mismatches == 0:
        verdict = Verdict.WITHIN_TOLERANCE
        if not max_abs:
            notes.append("values are equal but not bit-identical (signed zeros or NaN payloads)")
    else:
        verdict = Verdict.CHANGED
    return OutputComparison(
        name=name,
        verdict=verdict,
        mismatches=mismatches,
        total=gf.size,
        max_abs=max_abs,
        max_rel=max_rel,
        max_ulp=max_ulp,
        label_flips=flips,
        notes=tuple(notes),
        moved=moved if same_dtype else None,
        top=_differences(g, a, [index for _, index in worst_found]),
        passing_atol=passing_atol,
    )


def _compare_exact(
    name: str, g: Array, a: Array, *, tolerance: Tolerance, notes: list[str]
) -> OutputComparison:
    total = g.size
    same_dtype = g.dtype == a.dtype
    if not same_dtype and not _comparable(g.dtype, a.dtype):
        notes.append(f"{g.dtype} values cannot be compared with {a.dtype} values")
        return OutputComparison(
            name=name, verdict=Verdict.CHANGED, mismatches=total, total=total, notes=tuple(notes)
        )
    numeric = g.dtype.kind in _EXACT_NUMERIC and a.dtype.kind in _EXACT_NUMERIC
    gf, af = _flat(g), _flat(a)
    mismatches = 0
    first_differing: list[int] = []
    max_abs: float | None = 0.0 if numeric and total else None
    max_rel: float | None = None
    with np.errstate(all="ignore"):
        for start in range(0, total, _CHUNK):
            stop = start + _CHUNK
            gc, ac = gf[start:stop], af[start:stop]
            equal = _bytes_equal(ac, gc) if same_dtype else _values_equal(ac, gc)
            if equal is None:
                notes.append(f"{g.dtype} values cannot be compared with {a.dtype} values")
                return OutputComparison(
                    name=name,
                    verdict=Verdict.CHANGED,
                    mismatches=total,
                    total=total,
                    notes=tuple(notes),
                )
            differ = equal.size - int(np.count_nonzero(equal))
            mismatches += differ
            if differ and len(first_differing) < _TOP:
                first_differing.extend(
                    start + int(i) for i in np.flatnonzero(~equal)[: _TOP - len(first_differing)]
                )
            if not numeric:
                continue
            if max_rel is None and np.any(gc):
                # Matching pairs with a nonzero golden value have relative error 0.
                max_rel = 0.0
            if differ:
                idx = np.flatnonzero(~equal)
                gd = gc[idx].astype(np.float64)
                d = np.abs(ac[idx].astype(np.float64) - gd)
                max_abs = _larger(max_abs, float(d.max()))
                nonzero = gd != 0
                if nonzero.any():
                    rel = float(np.max(d / np.abs(gd), where=nonzero, initial=0.0))
                    max_rel = _larger(max_rel, rel)
    if not same_dtype:
        verdict = Verdict.CHANGED
    elif mismatches == 0:
        verdict = Verdict.IDENTICAL
    elif mismatches / total <= tolerance.max_label_flip_rate:
        verdict = Verdict.WITHIN_TOLERANCE
    else:
        verdict = Verdict.CHANGED
    return OutputComparison(
        name=name,
        verdict=verdict,
        mismatches=mismatches,
        total=total,
        max_abs=max_abs,
        max_rel=max_rel,
        label_flips=mismatches,
        notes=tuple(notes),
        top=_differences(g, a, first_differing) if same_dtype else (),
    )


def _differences(g: Array, a: Array, flat: list[int]) -> tuple[Difference, ...]:
    """The elements at ``flat`` indexes of two arrays of one shape, as reported."""
    gf, af = _flat(g), _flat(a)
    return tuple(
        Difference(
            index=tuple(int(n) for n in np.unravel_index(i, g.shape)),
            golden=_plain(gf[i]),
            new=_plain(af[i]),
        )
        for i in flat
    )


def _plain(value: Any) -> float | int | str:
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, bool):
        return int(item)
    if isinstance(item, int | float | str):
        return item
    return str(item)


def _unpaired(name: str, value: object, side: str, note: str) -> OutputComparison:
    arr, problem = _as_array(value, side)
    size = 0 if arr is None else arr.size
    notes = (note,) if problem is None else (note, problem)
    return OutputComparison(
        name=name, verdict=Verdict.CHANGED, mismatches=size, total=size, notes=notes
    )


def _as_array(value: object, side: str) -> tuple[Array | None, str | None]:
    """The value as a native-byte-order array, or the reason it cannot be compared."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        return None, f"the {side} value is not an array ({exc})"
    if arr.dtype.hasobject:
        return arr, f"the {side} output is an object array, which cannot be compared"
    if not arr.dtype.isnative:
        # Byte order is a storage detail of the .npz, not a change of the output.
        try:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        except (TypeError, ValueError):
            return arr, f"the {side} output's dtype {arr.dtype} cannot be compared"
    return arr, None


def _is_float_pair(g: np.dtype[Any], a: np.dtype[Any]) -> bool:
    """Both numeric and at least one inexact: compared with tolerances."""
    kinds = {g.kind, a.kind}
    return kinds <= _NUMERIC and bool(kinds & _INEXACT)


def _comparable(g: np.dtype[Any], a: np.dtype[Any]) -> bool:
    """Whether two different dtypes of exact kinds have values that can be equal."""
    if g.kind in _EXACT_NUMERIC and a.kind in _EXACT_NUMERIC:
        return True
    # Strings with strings, bytes with bytes, dates with dates; records only as themselves.
    return g.kind == a.kind and g.kind in "USMm"


def _flat(x: Array) -> Array:
    return np.ascontiguousarray(x).reshape(-1)


def _bytes_equal(x: Array, y: Array) -> Array:
    """Per element: the same storage bytes (``x`` and ``y`` flat, contiguous, one dtype)."""
    size = x.dtype.itemsize
    if size == 0:
        return np.ones(x.size, dtype=bool)
    if size in (1, 2, 4, 8):
        as_uint = np.dtype(f"u{size}")
        same: Array = np.equal(x.view(as_uint), y.view(as_uint))
        return same
    xb = x.view(np.uint8).reshape(-1, size)
    yb = y.view(np.uint8).reshape(-1, size)
    rows: Array = np.all(xb == yb, axis=1)
    return rows


def _values_equal(x: Array, y: Array) -> Array | None:
    """Per element value equality across dtypes; None when numpy has no comparison for them."""
    try:
        result = np.equal(x, y)
    except (TypeError, ValueError):
        return None
    if not isinstance(result, np.ndarray) or result.shape != x.shape:
        return None
    return result


def _same_value(x: Array, y: Array) -> Array:
    """Equal, or NaN in both (complex: part by part)."""
    if x.dtype.kind == "c":
        return _same_value(x.real, y.real) & _same_value(x.imag, y.imag)
    same: Array = (x == y) | (np.isnan(x) & np.isnan(y))
    return same


def _ulp_int(dtype: np.dtype[Any]) -> np.dtype[Any] | None:
    """The signed integer type holding a float dtype's bits, when ULPs are measured for it."""
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return np.dtype(f"i{dtype.itemsize}")
    return None


def _ordered(bits: Array) -> Array:
    """Float bit patterns (as signed ints) mapped to ints in the floats' order; -0.0 -> 0.

    A negative float is sign bit + magnitude; its two's-complement image is reversed, so
    flip the magnitude bits and add one, which sends magnitude m to -m.
    """
    width = bits.dtype.itemsize * 8
    sign: Array = np.right_shift(bits, width - 1)
    key: Array = np.bitwise_and(sign, bits.dtype.type((1 << (width - 1)) - 1))
    np.bitwise_xor(key, bits, out=key)
    key -= sign
    return key


def _max_ulp(a: Array, g: Array, bits: np.dtype[Any], where: Array) -> int:
    ka, kg = _ordered(a.view(bits)), _ordered(g.view(bits))
    hi = np.maximum(ka, kg)
    lo = np.minimum(ka, kg, out=ka)
    # hi - lo can exceed the signed range (from -max to +max) but always fits the unsigned
    # one, where the wrapping subtraction gives it exactly.
    as_uint = np.dtype(f"u{bits.itemsize}")
    dist = hi.view(as_uint)
    dist -= lo.view(as_uint)
    return int(np.max(dist, where=where, initial=0))


def _allowance(noise: float | None) -> float | None:
    """The noise allowance that can widen a match; None when it cannot."""
    if noise is None:
        return None
    value = float(noise)
    return value if math.isfinite(value) and value > 0 else None


def _larger(current: float | None, value: float) -> float:
    return value if current is None or value > current else current


def _elements(count: int) -> str:
    return f"{count} element" if count == 1 else f"{count} elements"
