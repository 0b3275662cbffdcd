"""Durations and sizes as written in task files (`makespan.units`)."""

import math

import pytest

from makespan.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("45s", 45),
        ("1m30s", 90),
        ("2h", 2 * 3600),
        ("1d", 86400),
        ("1h2m3s", 3600 + 120 + 3),
        ("1.5s", 1.5),
        ("1m 30s", 90),
        (" 45s ", 45),
        ("12", 12),
        ("0.5", 0.5),
        ("0s", 0),
    ],
)
def test_duration_strings_are_read_as_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [0, 7, 2.5])
def test_duration_numbers_are_plain_seconds(value):
    assert parse_duration(value) == value


def test_duration_ms_is_not_read_as_minutes():
    assert parse_duration("5ms") == pytest.approx(0.005)
    assert parse_duration("5m") == 300


@pytest.mark.parametrize("value", ["-5s", "-1m30s", -1, -0.5, "-3"])
def test_negative_durations_are_rejected(value):
    with pytest.raises(ValueError, match=">= 0"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["soon", "", "5 parsecs", "1m30", "s", "45S", "1.2.3s"])
def test_unreadable_duration_strings_are_rejected_with_examples(value):
    with pytest.raises(ValueError, match=r"cannot read .* as a duration .*1m30s"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, None, [1], {"s": 1}])
def test_durations_of_the_wrong_type_are_rejected(value):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.inf, math.nan, "inf", "nan", 10**400])
def test_infinite_or_nan_durations_are_rejected(value):
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("300MB", 300 * 10**6),
        ("2GiB", 2 * 2**30),
        ("512k", 512 * 10**3),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("4mib", 4 * 2**20),
        ("1.5GB", 15 * 10**8),
        ("1TiB", 2**40),
        ("300 MB", 300 * 10**6),
        ("100B", 100),
        ("4096", 4096),
    ],
)
def test_size_strings_are_read_as_bytes(text, size):
    assert parse_size(text) == size


def test_size_numbers_are_plain_bytes():
    assert parse_size(1024) == 1024
    assert isinstance(parse_size(10.7), int)


@pytest.mark.parametrize("value", ["-1MB", -1, "-5"])
def test_negative_sizes_are_rejected(value):
    with pytest.raises(ValueError, match=">= 0"):
        parse_size(value)


@pytest.mark.parametrize("value", ["lots", "", "12 parsecs", "MB", "1.2.3GB", "5ib"])
def test_unreadable_size_strings_are_rejected_with_examples(value):
    with pytest.raises(ValueError, match=r"cannot read .* as a size .*2GiB"):
        parse_size(value)


@pytest.mark.parametrize("value", [True, None, ["1MB"]])
def test_sizes_of_the_wrong_type_are_rejected(value):
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(value)


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, "9" * 400])
def test_infinite_or_nan_sizes_are_rejected(value):
    with pytest.raises(ValueError, match="finite"):
        parse_size(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.85, "850ms"), (12.34, "12.3s"), (245, "4m05s"), (3720, "1h02m")],
)
def test_durations_are_formatted_briefly(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(512, "512B"), (300 * 2**20, "300.0MiB"), (2 * 2**30, "2.0GiB"), (3 * 2**40, "3.0TiB")],
)
def test_sizes_are_formatted_in_binary_units(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize("text", ["250ms", "45s", "1m30s", "2h"])
def test_a_formatted_duration_reads_back_to_the_same_value(text):
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
