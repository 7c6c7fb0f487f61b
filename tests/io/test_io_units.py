"""Unit conversion to nanometres, reciprocal units and decimal commas."""

from __future__ import annotations

import pytest

from exo_vision.io.units import UnitError, is_length_unit, is_reciprocal_unit, length_to_nm, parse_number


@pytest.mark.parametrize(
    ("value", "unit", "expected_nm"),
    [
        (2.0, "pm", 0.002),
        (2.0, "Å", 0.2),
        (2.0, "\u212b", 0.2),  # the ANGSTROM SIGN code point
        (2.0, "A", 0.2),
        (2.0, "angstrom", 0.2),
        (0.62, "nm", 0.62),
        (0.1687, "µm", 168.7),
        (0.1687, "\u03bcm", 168.7),  # Greek mu instead of the micro sign
        (0.1687, "um", 168.7),
        (0.1687, "micron", 168.7),
        (0.1687, "microns", 168.7),
        (0.1687, "Micrometer", 168.7),
        (0.001, "mm", 1000.0),
        (1e-3, "cm", 1e4),
        (3.3724e-06, "m", 3372.4),
        (1.0, "inch", 2.54e7),
    ],
)
def test_every_length_unit_converts_to_nm(value, unit, expected_nm):
    assert length_to_nm(value, unit) == pytest.approx(expected_nm, rel=1e-12)


@pytest.mark.parametrize("unit", ["1/nm", "1 / nm", "1/Å", "1/A", "nm^-1", "per nm", "1/um"])
def test_reciprocal_units_are_refused_with_the_reason(unit):
    assert is_reciprocal_unit(unit)
    assert not is_length_unit(unit)
    with pytest.raises(UnitError, match="reciprocal") as info:
        length_to_nm(0.17, unit)
    assert "diffraction" in str(info.value)


@pytest.mark.parametrize("unit", [None, "", "eV", "ps", "px", "s"])
def test_non_length_units_are_refused(unit):
    assert not is_length_unit(unit)
    with pytest.raises(UnitError, match="pixel size"):
        length_to_nm(1.0, unit)


def test_non_positive_pixel_size_is_refused():
    with pytest.raises(UnitError, match="positive"):
        length_to_nm(0.0, "nm")
    with pytest.raises(UnitError, match="positive"):
        length_to_nm(-1.0, "nm")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,005506", 0.005506),  # German/French locale
        ("0.005506", 0.005506),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        (" 5,928571 ", 5.928571),
        (3, 3.0),
    ],
)
def test_decimal_comma_and_point_both_parse(text, expected):
    assert parse_number(text) == pytest.approx(expected)


def test_decimal_comma_value_converts_with_unit():
    assert length_to_nm("0,005506", "µm") == pytest.approx(5.506)


def test_garbage_number_names_the_text():
    with pytest.raises(ValueError, match="'abc'"):
        parse_number("abc")
