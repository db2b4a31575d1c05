"""Options: defaults, coercion from CLI strings, and one clear error per bad value."""

from __future__ import annotations

import dataclasses
import math

import pytest

from framediff.errors import FramediffError, OptionError
from framediff.options import AnalysisOptions, choice, number


def test_defaults_are_valid() -> None:
    o = AnalysisOptions()
    assert o.threshold is None and o.method == "absdiff"
    assert o.min_area == 64 and o.analysis_size == 1024 and o.merge_gap == 0 and o.blur == 1.0


def test_strings_are_coerced_as_the_cli_gives_them() -> None:
    o = AnalysisOptions(threshold="30", min_area="100", blur="0.5", method=" SSIM ", analysis_size="0")
    assert o.threshold == 30.0 and o.min_area == 100 and isinstance(o.min_area, int)
    assert o.blur == 0.5 and o.method == "ssim" and o.analysis_size == 0
    assert AnalysisOptions(threshold="auto").threshold is None
    assert AnalysisOptions(threshold=" Auto ").threshold is None
    assert AnalysisOptions(min_area=12.0).min_area == 12


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("threshold", 300, "out of range"),
        ("threshold", -1, "out of range"),
        ("threshold", "abc", "must be a number"),
        ("threshold", "nan", "finite"),
        ("threshold", math.inf, "finite"),
        ("threshold", True, "must be a number"),
        ("min_area", 1.5, "whole number"),
        ("min_area", -3, "out of range"),
        ("blur", 51, "out of range"),
        ("method", "fast", "must be one of"),
        ("analysis_size", 16, "too small"),
        ("analysis_size", 20000, "out of range"),
        ("merge_gap", "x", "must be a number"),
    ],
)
def test_bad_values_name_the_option(field: str, value: object, words: str) -> None:
    with pytest.raises(OptionError) as info:
        AnalysisOptions(**{field: value})
    text = str(info.value)
    assert field in text and words in text
    assert "\n" not in text


def test_range_errors_say_what_to_use() -> None:
    with pytest.raises(OptionError) as info:
        AnalysisOptions(threshold=999)
    assert info.value.hint == "use a value from 0 to 255"
    assert str(info.value) == "threshold 999 is out of range (use a value from 0 to 255)"


def test_option_error_is_a_value_error_and_a_framediff_error() -> None:
    with pytest.raises(ValueError):
        AnalysisOptions(blur=-1)
    assert issubclass(OptionError, FramediffError)


def test_frozen_and_replace_validates() -> None:
    o = AnalysisOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.threshold = 5  # type: ignore[misc]
    p = o.replace(threshold="12", method="ssim")
    assert p.threshold == 12.0 and p.method == "ssim" and o.threshold is None
    with pytest.raises(OptionError, match="min_area"):
        o.replace(min_area="lots")


def test_number_and_choice_helpers() -> None:
    assert number("n", "7", lo=0, hi=10, integer=True) == 7
    assert number("n", None, allow_none=True) is None
    assert number("n", "", allow_none=True) is None
    with pytest.raises(OptionError, match="n must be a number"):
        number("n", None)
    with pytest.raises(OptionError) as info:
        number("n", 0.5, lo=1)
    assert info.value.hint == "use a value of at least 1"
    with pytest.raises(OptionError) as info:
        number("n", 5, hi=1)
    assert info.value.hint == "use a value of at most 1"
    assert choice("c", "B", ("a", "b")) == "b"
    with pytest.raises(OptionError, match="one of a, b"):
        choice("c", "z", ("a", "b"))
