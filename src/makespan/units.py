"""Durations and sizes as people write them in task files: `1m30s`, `250ms`, `300MB`, `2GiB`."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10, "ki": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20, "mi": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30, "gi": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40, "ti": 2**40,
}  # fmt: skip


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `45s`, `1m30s`, `250ms`, `2h`.

    Raises ValueError with a message fit to show the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '45s' or '1m30s', got {value!r}")
    if isinstance(value, int | float):
        seconds = _to_float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        seconds = _parse_duration_text(text, value)
    else:
        raise ValueError(f"expected a duration such as '45s' or '1m30s', got {value!r}")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def _to_float(value: int | float) -> float:
    """`float(value)`, or inf for an int too large for a float (TOML allows such integers).

    The callers then reject it with their own message instead of an OverflowError traceback.
    """
    try:
        return float(value)
    except OverflowError:
        return float("inf")


def _parse_duration_text(text: str, original: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        if text.startswith("-"):
            raise ValueError(f"a duration must be >= 0, got {original!r}")
        raise ValueError(
            f"cannot read {original!r} as a duration (use e.g. '250ms', '45s', '1m30s', '2h')"
        )
    return total


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as `300MB`, `2GiB`, `512k`.

    Decimal units (kB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) powers of 1024.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '300MB' or '2GiB', got {value!r}")
    if isinstance(value, int | float):
        size = _to_float(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            if value.strip().startswith("-"):
                raise ValueError(f"a size must be >= 0, got {value!r}")
            raise ValueError(f"cannot read {value!r} as a size (use e.g. '300MB', '2GiB', 1024)")
        size = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    else:
        raise ValueError(f"expected a size such as '300MB' or '2GiB', got {value!r}")
    if size < 0 or size != size or size == float("inf"):
        raise ValueError(f"a size must be a finite number of bytes >= 0, got {value!r}")
    return int(size)


def format_duration(seconds: float) -> str:
    """A short human form: `850ms`, `12.3s`, `4m05s`, `1h02m`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(size: float) -> str:
    """Binary units, as memory is reported by the OS: `300.0MiB`, `2.0GiB`."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}TiB"
