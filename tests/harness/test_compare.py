"""Output comparison: verdicts, tolerance edges, NaN/inf patterns, ULPs, label flips, JSON shape."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reprolock.harness import compare as compare_module
from reprolock.harness.compare import Tolerance, compare, measure_noise
from reprolock.report.replay import (
    Comparison,
    OutputComparison,
    Verdict,
    describe_output,
    worst,
)

Array = npt.NDArray[Any]
NAN = float("nan")
INF = float("inf")
EXACT = Tolerance(rtol=0.0)


def one(
    golden: Any, candidate: Any, tolerance: Tolerance = EXACT, **kwargs: Any
) -> OutputComparison:
    """Compare a single output named ``y`` and return its comparison."""
    result = compare(
        {"y": np.asarray(golden)}, {"y": np.asarray(candidate)}, default=tolerance, **kwargs
    )
    assert len(result.outputs) == 1
    assert result.verdict is result.outputs[0].verdict
    return result.outputs[0]


def nan_with_payload(payload: int) -> float:
    return float(np.array([0x7FF8000000000000 | payload], dtype=np.int64).view(np.float64)[0])


# --- verdict order ---------------------------------------------------------------------------


def test_worst_follows_the_documented_order() -> None:
    assert worst([]) is Verdict.IDENTICAL
    assert worst([Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE]) is Verdict.WITHIN_TOLERANCE
    assert worst([Verdict.CHANGED, Verdict.WITHIN_TOLERANCE]) is Verdict.CHANGED
    assert worst([Verdict.CHANGED, Verdict.BROKEN, Verdict.IDENTICAL]) is Verdict.BROKEN
    assert [v.rank for v in Verdict] == [0, 1, 2, 3]


def test_overall_verdict_is_the_worst_output() -> None:
    golden = {"a": np.array([1.0, 2.0]), "b": np.array([1, 2]), "c": np.array([1.0])}
    candidate = {"a": np.array([1.0, 2.0]), "b": np.array([1, 3]), "c": np.array([-0.0 + 1.0])}
    result = compare(golden, candidate, default=EXACT)
    assert [(o.name, o.verdict) for o in result.outputs] == [
        ("a", Verdict.IDENTICAL),
        ("b", Verdict.CHANGED),
        ("c", Verdict.IDENTICAL),
    ]
    assert result.verdict is Verdict.CHANGED


def test_no_outputs_on_either_side_is_identical() -> None:
    assert compare({}, {}, default=EXACT) == Comparison(verdict=Verdict.IDENTICAL, outputs=())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rtol": -1e-9},
        {"atol": -1.0},
        {"rtol": NAN},
        {"max_label_flip_rate": 1.5},
        {"max_label_flip_rate": -0.1},
    ],
)
def test_tolerance_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Tolerance(**kwargs)


# --- identical -------------------------------------------------------------------------------


def test_same_bits_are_identical_with_zero_statistics() -> None:
    g = np.array([1.5, -2.0, 3e-300])
    out = one(g, g.copy())
    assert out == OutputComparison(
        name="y",
        verdict=Verdict.IDENTICAL,
        mismatches=0,
        total=3,
        max_abs=0.0,
        max_rel=0.0,
        max_ulp=0,
        label_flips=None,
        notes=(),
        rtol=0.0,
        atol=0.0,
        max_label_flip_rate=0.0,
        moved=0,
    )


def test_memory_layout_and_byte_order_do_not_matter() -> None:
    g = np.arange(12, dtype=np.float64).reshape(3, 4).T
    assert not g.flags.c_contiguous
    assert one(g, np.asfortranarray(g.copy())).verdict is Verdict.IDENTICAL
    big_endian = np.array([1.0, 2.5], dtype=">f8")
    assert one(np.array([1.0, 2.5]), big_endian).verdict is Verdict.IDENTICAL


def test_zero_d_outputs_compare() -> None:
    assert one(np.float64(2.0), np.float64(2.0)).verdict is Verdict.IDENTICAL
    out = one(np.float64(2.0), np.float64(3.0))
    assert (out.verdict, out.mismatches, out.total, out.max_abs) == (Verdict.CHANGED, 1, 1, 1.0)


def test_signed_zero_is_equal_but_not_identical() -> None:
    out = one(np.array([0.0, 1.0]), np.array([-0.0, 1.0]))
    assert out.verdict is Verdict.WITHIN_TOLERANCE
    assert (out.mismatches, out.max_abs, out.max_ulp) == (0, 0.0, 0)
    assert out.notes == ("values are equal but not bit-identical (signed zeros or NaN payloads)",)


# --- NaN and infinity patterns ---------------------------------------------------------------


def test_nan_in_the_same_places_is_identical() -> None:
    g = np.array([1.0, NAN, 3.0, NAN])
    out = one(g, g.copy())
    assert (out.verdict, out.mismatches, out.notes) == (Verdict.IDENTICAL, 0, ())


def test_nan_with_another_payload_is_equal_but_not_identical() -> None:
    out = one(np.array([nan_with_payload(1), 2.0]), np.array([nan_with_payload(2), 2.0]))
    assert (out.verdict, out.mismatches) == (Verdict.WITHIN_TOLERANCE, 0)
    assert out.notes == ("values are equal but not bit-identical (signed zeros or NaN payloads)",)


def test_nan_appearing_is_a_mismatch_even_with_a_huge_tolerance() -> None:
    out = one([1.0, 2.0, 3.0], [1.0, NAN, 3.0], Tolerance(rtol=1e9, atol=1e9))
    assert (out.verdict, out.mismatches, out.total) == (Verdict.CHANGED, 1, 3)
    assert out.notes == ("NaN appeared in 1 element",)
    # The statistics cover the finite pairs only.
    assert (out.max_abs, out.max_rel, out.max_ulp) == (0.0, 0.0, 0)


def test_nan_disappearing_is_a_mismatch() -> None:
    out = one([NAN, NAN, 1.0], [0.0, 5.0, 1.0], Tolerance(rtol=1e9, atol=1e9))
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 2)
    assert out.notes == ("NaN disappeared from 2 elements",)


def test_infinity_must_match_exactly_whatever_the_tolerance() -> None:
    loose = Tolerance(rtol=1.0, atol=1.0)
    same = one([INF, -INF, 1.0], [INF, -INF, 1.0], loose)
    assert same.verdict is Verdict.IDENTICAL
    # With g = inf, atol + rtol*|g| is inf: a finite candidate must still not pass.
    vanished = one([INF, 1.0], [1e308, 1.0], loose)
    assert (vanished.verdict, vanished.mismatches) == (Verdict.CHANGED, 1)
    assert vanished.notes == ("infinity disappeared from 1 element",)
    appeared = one([1.0, 2.0], [INF, 2.0], loose)
    assert (appeared.verdict, appeared.mismatches) == (Verdict.CHANGED, 1)
    assert appeared.notes == ("infinity appeared in 1 element",)


def test_infinity_changing_sign_is_a_mismatch() -> None:
    out = one([INF, -INF, 1.0], [-INF, -INF, 1.0], Tolerance(rtol=1.0))
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 1)
    assert out.notes == ("infinity changed sign in 1 element",)


def test_overflowing_difference_is_a_mismatch_reported_as_inf() -> None:
    out = one([-1e308], [1e308], Tolerance(rtol=0.5))
    assert (out.verdict, out.mismatches, out.notes) == (Verdict.CHANGED, 1, ())
    assert out.max_abs == INF
    assert out.to_dict()["max_abs"] == "inf"


def test_complex_nan_is_compared_part_by_part() -> None:
    g = np.array([complex(NAN, 1.0), 1 + 1j])
    assert one(g, g.copy()).verdict is Verdict.IDENTICAL
    out = one(g, np.array([complex(1.0, NAN), 1 + 1j]), Tolerance(rtol=1.0))
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 1)


def test_complex_tolerance_uses_the_modulus() -> None:
    g = np.array([3 + 4j])  # |g| = 5
    assert one(g, g + 2.5, Tolerance(rtol=0.5)).verdict is Verdict.WITHIN_TOLERANCE
    out = one(g, g + 2.5j + 0.1, Tolerance(rtol=0.5))
    assert (out.verdict, out.max_ulp) == (Verdict.CHANGED, None)


# --- tolerance edges ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exactly_at_the_tolerance_is_within_and_one_ulp_beyond_is_not(dtype: type) -> None:
    # |a-g| = 0.375 = 0.125 + 0.25*|1.0|, and every difference below (one ulp further out,
    # above and below 1.0) is exact in binary because a and g are within a factor of 2.
    tolerance = Tolerance(rtol=0.25, atol=0.125)
    g: Array = np.array([1.0, 1.0], dtype=dtype)
    edge: Array = np.array([1.375, 0.625], dtype=dtype)
    out = one(g, edge, tolerance)
    assert (out.verdict, out.mismatches, out.max_abs, out.max_rel) == (
        Verdict.WITHIN_TOLERANCE,
        0,
        0.375,
        0.375,
    )
    beyond = np.array([np.nextafter(edge[0], dtype(2)), np.nextafter(edge[1], dtype(0))])
    out = one(g, beyond.astype(dtype), tolerance)
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 2)


def test_default_tolerance_is_relative_1e_7() -> None:
    g = np.array([1.0, 100.0])
    assert one(g, g * (1 + 5e-8), Tolerance()).verdict is Verdict.WITHIN_TOLERANCE
    out = one(g, g * (1 + 5e-7), Tolerance())
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 2)


def test_zero_golden_values_are_left_out_of_max_rel() -> None:
    out = one([0.0, 2.0], [0.5, 2.5], Tolerance(atol=1.0))
    assert (out.verdict, out.max_abs, out.max_rel) == (Verdict.WITHIN_TOLERANCE, 0.5, 0.25)
    only_zeros = one([0.0, 0.0], [0.5, 0.0], Tolerance(atol=1.0))
    assert (only_zeros.max_abs, only_zeros.max_rel) == (0.5, None)


def test_relative_error_against_a_subnormal_can_be_infinite() -> None:
    out = one([5e-324], [1.0], Tolerance(rtol=0.5))
    assert out.max_rel == INF
    assert out.to_dict()["max_rel"] == "inf"


def test_per_output_tolerance_overrides_the_default() -> None:
    golden = {"loose": np.array([1.0]), "strict": np.array([1.0])}
    candidate = {"loose": np.array([1.01]), "strict": np.array([1.01])}
    result = compare(
        golden, candidate, default=Tolerance(), per_output={"loose": Tolerance(rtol=0.1)}
    )
    assert [(o.name, o.verdict) for o in result.outputs] == [
        ("loose", Verdict.WITHIN_TOLERANCE),
        ("strict", Verdict.CHANGED),
    ]


def test_statistics_span_every_slice_of_a_large_output() -> None:
    n = 3 * compare_module._CHUNK + 5
    g = np.ones(n)
    a = g.copy()
    positions = [0, compare_module._CHUNK - 1, compare_module._CHUNK, n - 1]
    a[positions] = [1.5, 1.25, 2.0, 1.0 + 2**-52]
    a[n - 3] = NAN
    out = one(g, a, Tolerance(rtol=1e-3))
    assert (out.mismatches, out.total) == (4, n)
    assert (out.max_abs, out.max_rel, out.max_ulp) == (1.0, 1.0, 2**52)
    assert out.notes == ("NaN appeared in 1 element",)


# --- noise -------------------------------------------------------------------------------------


def test_noise_allowance_rescues_elements_outside_the_tolerance() -> None:
    g = np.array([1.0, 2.0, 3.0])
    a = np.array([1.0 + 1e-6, 2.0, 3.0 - 2e-6])
    strict = Tolerance(rtol=1e-9)
    assert one(g, a, strict).mismatches == 2
    out = one(g, a, strict, noise={"y": 2e-6})
    assert (out.verdict, out.mismatches) == (Verdict.WITHIN_TOLERANCE, 0)
    assert out.notes == (
        "2 elements outside rtol/atol but within the accepted run-to-run noise (max abs 2e-06)",
    )
    partial = one(g, a, strict, noise={"y": 1.5e-6})
    assert (partial.verdict, partial.mismatches) == (Verdict.CHANGED, 1)
    other_name = one(g, a, strict, noise={"z": 1.0})
    assert other_name.mismatches == 2


def test_noise_allowance_does_not_excuse_nan_or_infinity() -> None:
    out = one([1.0, 2.0], [NAN, INF], EXACT, noise={"y": 1e300})
    assert (out.verdict, out.mismatches) == (Verdict.CHANGED, 2)


def test_measure_noise_is_the_largest_finite_difference_of_float_outputs() -> None:
    run1 = {
        "scores": np.array([1.0, 2.0, 3.0, NAN]),
        "labels": np.array([1, 2, 3]),
        "reshaped": np.array([1.0, 2.0]),
        "only_first": np.array([1.0]),
        "same": np.array([[0.5, 0.5]], dtype=np.float32),
    }
    run2 = {
        "scores": np.array([1.0, 2.25, 3.0, 4.0]),
        "labels": np.array([1, 5, 3]),
        "reshaped": np.array([1.0, 2.0, 3.0]),
        "same": np.array([[0.5, 0.5]], dtype=np.float32),
    }
    assert measure_noise(run1, run2) == {"same": 0.0, "scores": 0.25}


def test_measured_noise_lets_the_same_drift_pass() -> None:
    rng = np.random.default_rng(7)
    g = rng.standard_normal(1000)
    second = g + rng.uniform(-1e-12, 1e-12, g.size)
    noise = measure_noise({"y": g}, {"y": second})
    assert 0 < noise["y"] <= 1e-12
    assert one(g, second, EXACT, noise=noise).verdict is Verdict.WITHIN_TOLERANCE


# --- structure: missing, extra, shape, dtype -----------------------------------------------------


def test_missing_and_extra_outputs_are_changes() -> None:
    golden = {"kept": np.array([1.0]), "gone": np.zeros((2, 3))}
    candidate = {"kept": np.array([1.0]), "new": np.array([1, 2, 3, 4])}
    result = compare(golden, candidate, default=EXACT)
    assert result.verdict is Verdict.CHANGED
    by_name = {o.name: o for o in result.outputs}
    assert [o.name for o in result.outputs] == ["gone", "kept", "new"]
    assert by_name["gone"] == OutputComparison(
        name="gone",
        verdict=Verdict.CHANGED,
        mismatches=6,
        total=6,
        notes=("missing from the candidate's outputs",),
    )
    assert by_name["new"] == OutputComparison(
        name="new",
        verdict=Verdict.CHANGED,
        mismatches=4,
        total=4,
        notes=("not among the golden outputs",),
    )
    assert by_name["kept"].verdict is Verdict.IDENTICAL


def test_shape_change_is_a_change() -> None:
    out = one(np.zeros(3), np.zeros(4))
    assert out == OutputComparison(
        name="y",
        verdict=Verdict.CHANGED,
        mismatches=3,
        total=3,
        notes=("shape changed from (3,) to (4,)",),
        rtol=0.0,
        atol=0.0,
        max_label_flip_rate=0.0,
    )
    transposed = one(np.zeros((2, 3)), np.zeros((3, 2)))
    assert transposed.notes == ("shape changed from (2, 3) to (3, 2)",)


def test_dtype_change_is_a_change_even_with_equal_values() -> None:
    out = one(np.array([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32), Tolerance(rtol=1.0))
    assert (out.verdict, out.mismatches, out.max_abs, out.max_ulp) == (
        Verdict.CHANGED,
        0,
        0.0,
        None,
    )
    assert out.notes == ("dtype changed from float64 to float32",)
    labels = one(
        np.array([1, 2], dtype=np.int64),
        np.array([1, 2], dtype=np.int32),
        Tolerance(max_label_flip_rate=1.0),
    )
    assert (labels.verdict, labels.mismatches, labels.label_flips) == (Verdict.CHANGED, 0, 0)
    assert labels.notes == ("dtype changed from int64 to int32",)
    both = one(np.zeros(2), np.zeros(3, dtype=np.float32))
    assert both.notes == (
        "dtype changed from float64 to float32",
        "shape changed from (2,) to (3,)",
    )


def test_labels_turned_into_floats_are_compared_by_value() -> None:
    out = one(np.array([1, 2, 3]), np.array([1.0, 2.0, 4.0]))
    assert (out.verdict, out.mismatches, out.max_abs) == (Verdict.CHANGED, 1, 1.0)
    assert out.notes == ("dtype changed from int64 to float64",)


def test_values_of_unrelated_kinds_are_all_mismatches() -> None:
    out = one(np.array([1.0, 2.0]), np.array(["1", "2"]))
    assert (out.verdict, out.mismatches, out.total) == (Verdict.CHANGED, 2, 2)
    assert out.notes == (
        "dtype changed from float64 to <U1",
        "float64 values cannot be compared with <U1 values",
    )


def test_object_arrays_are_refused_without_raising() -> None:
    weird = np.array([{"a": 1}, 2], dtype=object)
    out = one(np.array([1.0, 2.0]), weird)
    assert (out.verdict, out.mismatches, out.total) == (Verdict.CHANGED, 2, 2)
    assert out.notes == ("the candidate output is an object array, which cannot be compared",)
    golden_side = one(weird, weird)
    assert golden_side.verdict is Verdict.CHANGED
    assert golden_side.notes == (
        "the golden output is an object array, which cannot be compared",
        "the candidate output is an object array, which cannot be compared",
    )


def test_values_that_are_not_arrays_are_changes() -> None:
    ragged: Any = [[1, 2], [3]]
    (out,) = compare({"y": np.array([1.0, 2.0])}, {"y": ragged}, default=EXACT).outputs
    assert (out.verdict, out.mismatches, out.total) == (Verdict.CHANGED, 2, 2)
    assert len(out.notes) == 1
    assert out.notes[0].startswith("the candidate value is not an array (")


def test_records_compare_exactly() -> None:
    dtype = np.dtype([("id", "i4"), ("score", "f8")])
    g = np.array([(1, 0.5), (2, 0.25)], dtype=dtype)
    a = g.copy()
    assert one(g, a).verdict is Verdict.IDENTICAL
    a["score"][1] = 0.5
    out = one(g, a)
    assert (out.verdict, out.label_flips, out.max_abs) == (Verdict.CHANGED, 1, None)


# --- ULP distance --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ulp_distance_of_neighbours(dtype: type) -> None:
    one_ = dtype(1.0)
    up = np.nextafter(one_, dtype(2))
    three_up = np.nextafter(np.nextafter(up, dtype(2)), dtype(2))
    down = np.nextafter(one_, dtype(0))
    tiny = np.nextafter(dtype(0), dtype(1))
    cases = [
        (one_, up, 1),
        (one_, three_up, 3),
        (one_, down, 1),
        (-one_, -up, 1),
        (tiny, -tiny, 2),
        (dtype(0), -tiny, 1),
        (dtype(-0.0), dtype(0.0), 0),
        (dtype(0.0), tiny, 1),
    ]
    for g, a, expected in cases:
        out = one(np.array([g], dtype=dtype), np.array([a], dtype=dtype), Tolerance(rtol=1.0))
        assert out.max_ulp == expected, (g, a)


def test_ulp_distance_between_the_extremes_does_not_overflow() -> None:
    big = np.finfo(np.float64).max
    out = one(np.array([big]), np.array([-big]), Tolerance(rtol=1.0))
    assert out.max_ulp == 2 * 0x7FEFFFFFFFFFFFFF
    half = np.finfo(np.float16).max
    out16 = one(np.array([half], dtype=np.float16), np.array([-half], dtype=np.float16))
    assert out16.max_ulp == 2 * 0x7BFF


def test_ulp_is_not_measured_for_other_types() -> None:
    assert one(np.array([1.0], dtype=np.longdouble), np.array([2.0], np.longdouble)).max_ulp is None
    assert one(np.array([1 + 1j]), np.array([1 + 2j])).max_ulp is None
    assert one(np.array([1, 2]), np.array([1, 3])).max_ulp is None


# --- labels --------------------------------------------------------------------------------------


def flipped(labels: Array, count: int) -> Array:
    out = labels.copy()
    out[:count] = (out[:count] + 1) % 3
    return out


def test_label_flip_rate_exactly_at_the_limit_is_within() -> None:
    labels = np.arange(300) % 3
    limit = Tolerance(max_label_flip_rate=0.01)
    at = one(labels, flipped(labels, 3), limit)
    assert (at.verdict, at.mismatches, at.label_flips, at.label_flip_rate) == (
        Verdict.WITHIN_TOLERANCE,
        3,
        3,
        0.01,
    )
    over = one(labels, flipped(labels, 4), limit)
    assert (over.verdict, over.label_flips) == (Verdict.CHANGED, 4)
    none_allowed = one(labels, flipped(labels, 1))
    assert (none_allowed.verdict, none_allowed.label_flips) == (Verdict.CHANGED, 1)
    assert one(labels, labels.copy(), limit).verdict is Verdict.IDENTICAL


def test_integer_labels_report_differences_like_the_design_example() -> None:
    out = one(np.array([2, 0, 5, 7]), np.array([2, 3, 0, 7]))
    assert out.to_dict() == {
        "verdict": "changed",
        "mismatches": 2,
        "total": 4,
        "max_abs": 5.0,
        "max_rel": 1.0,
        "max_ulp": None,
        "label_flips": 2,
        "notes": [],
        "tolerance": {"rtol": 0.0, "atol": 0.0, "max_label_flip_rate": 0.0},
        "moved": None,
        "top": [{"index": [1], "golden": 0, "new": 3}, {"index": [2], "golden": 5, "new": 0}],
        "passing_atol": None,
    }
    assert describe_output(out) == (
        "changed: 2 of 4 differ (50.0%), 2 label flips, max abs 5, max rel 1, would pass with "
        "max-label-flip-rate >= 0.5"
    )


def test_unsigned_labels_do_not_wrap() -> None:
    out = one(np.array([0, 200], dtype=np.uint8), np.array([255, 200], dtype=np.uint8))
    assert (out.max_abs, out.max_rel) == (255.0, 0.0)


def test_strings_bytes_and_bools_are_labels() -> None:
    words = one(np.array(["cat", "dog", "eel"]), np.array(["cat", "cow", "eel"]))
    assert (words.verdict, words.label_flips, words.max_abs, words.max_rel) == (
        Verdict.CHANGED,
        1,
        None,
        None,
    )
    raw = one(np.array([b"a", b"b"]), np.array([b"a", b"c"]), Tolerance(max_label_flip_rate=0.5))
    assert (raw.verdict, raw.label_flips) == (Verdict.WITHIN_TOLERANCE, 1)
    flags = one(np.array([True, False, True]), np.array([True, True, True]))
    assert (flags.label_flips, flags.max_abs, flags.max_rel) == (1, 1.0, 0.0)
    longer = one(np.array(["a", "b"]), np.array(["a", "bb"]))
    assert (longer.verdict, longer.label_flips) == (Verdict.CHANGED, 1)
    assert longer.notes == ("dtype changed from <U1 to <U2",)


def test_argmax_flips_of_2d_float_outputs() -> None:
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    moved = probs.copy()
    moved[0] = [0.4, 0.6]
    out = one(probs, moved, Tolerance(rtol=1e-9))
    assert (out.verdict, out.mismatches, out.label_flips) == (Verdict.CHANGED, 2, 1)
    # A flip on a tie within tolerance is reported but the verdict follows the tolerance.
    tie = probs.copy()
    tie[2, 1] += 1e-12
    near = one(probs, tie, Tolerance(atol=1e-9))
    assert (near.verdict, near.mismatches, near.label_flips) == (Verdict.WITHIN_TOLERANCE, 0, 1)
    assert one(probs, probs.copy()).label_flips == 0


def test_argmax_flips_only_for_2d_outputs_with_columns_to_choose_from() -> None:
    assert one(np.zeros((3, 1)), np.ones((3, 1)), Tolerance(atol=1.0)).label_flips is None
    assert one(np.zeros(3), np.ones(3), Tolerance(atol=1.0)).label_flips is None
    assert one(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))).label_flips is None


# --- JSON ----------------------------------------------------------------------------------------


def test_to_dict_has_exactly_the_report_keys_and_is_json_safe() -> None:
    golden = {"p": np.array([1.0, NAN, INF]), "labels": np.array([1, 2])}
    candidate = {"p": np.array([1.5, 1.0, -INF]), "labels": np.array([1, 2])}
    result = compare(golden, candidate, default=EXACT)
    report = result.to_dict()
    assert list(report) == ["verdict", "outputs"]
    assert list(report["outputs"]) == ["labels", "p"]
    for entry in report["outputs"].values():
        assert list(entry) == [
            "verdict",
            "mismatches",
            "total",
            "max_abs",
            "max_rel",
            "max_ulp",
            "label_flips",
            "notes",
            "tolerance",
            "moved",
            "top",
            "passing_atol",
        ]
    # the smallest atol that passes, rounded up by a few units in the last place
    assert report["outputs"]["p"]["passing_atol"] == pytest.approx(0.5, rel=1e-14)
    assert {k: v for k, v in report["outputs"]["p"].items() if k != "passing_atol"} == {
        "verdict": "changed",
        "mismatches": 3,
        "total": 3,
        "max_abs": 0.5,
        "max_rel": 0.5,
        "max_ulp": 2**51,
        "label_flips": None,
        "notes": ["NaN disappeared from 1 element", "infinity changed sign in 1 element"],
        "tolerance": {"rtol": 0.0, "atol": 0.0, "max_label_flip_rate": 0.0},
        "moved": 3,
        # a NaN or an infinity out of place ranks above any finite difference
        "top": [
            {"index": [1], "golden": "nan", "new": 1.0},
            {"index": [2], "golden": "inf", "new": "-inf"},
            {"index": [0], "golden": 1.0, "new": 1.5},
        ],
    }
    text = json.dumps(report, allow_nan=False, sort_keys=True)
    assert text == json.dumps(compare(golden, candidate, default=EXACT).to_dict(), sort_keys=True)


def test_to_dict_floats_are_plain_python_floats() -> None:
    out = one(np.array([1.0], dtype=np.float32), np.array([1.25], dtype=np.float32))
    entry = out.to_dict()
    assert type(entry["max_abs"]) is float
    assert type(entry["max_rel"]) is float
    assert type(entry["max_ulp"]) is int
    assert entry["max_abs"] == 0.25


# --- properties ----------------------------------------------------------------------------------

_DTYPES = st.one_of(
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.boolean_dtypes(),
    hnp.unicode_string_dtypes(endianness="?"),
    hnp.byte_string_dtypes(),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.array_dtypes(),
)
_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


@st.composite
def _arrays(draw: st.DrawFn) -> Array:
    return draw(hnp.arrays(dtype=draw(_DTYPES), shape=draw(_SHAPES)))


_TOLERANCES = st.builds(
    Tolerance,
    rtol=st.floats(0, 10),
    atol=st.floats(0, 10),
    max_label_flip_rate=st.floats(0, 1),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_arrays())
def test_an_array_is_identical_to_its_copy(x: Array) -> None:
    result = compare({"y": x}, {"y": x.copy()}, default=Tolerance())
    assert result.verdict is Verdict.IDENTICAL, result
    assert result.outputs[0].mismatches == 0
    assert result.outputs[0].total == x.size


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=_arrays(),
    y=_arrays(),
    tolerance=_TOLERANCES,
    noise=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_compare_never_raises(
    x: Array, y: Array, tolerance: Tolerance, noise: float | None
) -> None:
    result = compare(
        {"y": x},
        {"y": y},
        default=tolerance,
        noise=None if noise is None else {"y": noise},
    )
    (out,) = result.outputs
    assert result.verdict in (Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE, Verdict.CHANGED)
    assert 0 <= out.mismatches <= max(out.total, 0)
    json.dumps(result.to_dict(), allow_nan=False)
    measure_noise({"y": x}, {"y": y})


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8),
    ),
    data=st.data(),
)
def test_float_statistics_agree_with_a_plain_reference(x: Array, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(dtype=x.dtype, shape=x.shape))
    tolerance = data.draw(_TOLERANCES)
    out = one(x, y, tolerance)
    g, a = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    with np.errstate(all="ignore"):
        within = np.abs(a - g) <= tolerance.atol + tolerance.rtol * np.abs(g)
    within &= np.isfinite(g) & np.isfinite(a)
    same = (a == g) | (np.isnan(a) & np.isnan(g))
    assert out.mismatches == int(np.count_nonzero(~(within | same)))


def test_a_changed_output_shows_its_largest_differences_and_the_atol_that_would_pass() -> None:
    g = np.array([0.1, 0.2, 0.3, 0.4])
    a = g + np.array([0.0, 1e-3, -2e-3, 5e-9])
    out = one(g, a, Tolerance(rtol=1e-6))
    assert (out.verdict, out.mismatches, out.moved) == (Verdict.CHANGED, 2, 3)
    assert [(d.index, d.golden) for d in out.top] == [((2,), 0.3), ((1,), 0.2)]
    assert describe_output(out) == (
        "changed: 2 of 4 differ (50.0%), max abs 0.002, max rel 0.00667, would pass with "
        "atol >= 0.002"
    )
    assert out.passing_atol is not None
    passes = one(g, a, Tolerance(rtol=1e-6, atol=out.passing_atol))
    assert passes.verdict is Verdict.WITHIN_TOLERANCE
    assert describe_output(passes) == (
        "within-tolerance (rtol 1e-06, atol 0.0019997): 3 moved, 0 outside tolerance, "
        "max abs 0.002, max rel 0.00667"
    )
    assert passes.top == ()


def test_a_two_dimensional_difference_is_indexed_by_row_and_column() -> None:
    g = np.zeros((3, 2))
    a = g.copy()
    a[2, 1] = 0.5
    (difference,) = one(g, a).top
    assert (str(difference), difference.to_dict()) == (
        "[2, 1] 0 -> 0.5",
        {"index": [2, 1], "golden": 0.0, "new": 0.5},
    )


@given(
    hnp.arrays(np.float64, 6, elements=st.floats(-1e6, 1e6)),
    hnp.arrays(np.float64, 6, elements=st.floats(-1e6, 1e6)),
    st.floats(0, 1e-3),
)
def test_the_atol_that_would_pass_does_pass(g: Array, a: Array, rtol: float) -> None:
    out = one(g, a, Tolerance(rtol=rtol))
    if out.passing_atol is not None:
        again = one(g, a, Tolerance(rtol=rtol, atol=out.passing_atol))
        assert again.mismatches == 0
