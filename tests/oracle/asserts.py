"""Comparing a page's figure with the oracle's: percentiles within the histogram's accuracy, the rest exact."""

import re

import pytest

from edgeportal_client.histogram import RELATIVE_ACCURACY

from .brute import PERCENTILES


def assert_percentile(got: float | None, want: float | None, what: str = "") -> None:
    """Within the histogram's relative accuracy of the sample at the oracle's rank (plus float noise)."""
    assert (got is None) == (want is None), what
    if want is not None:
        assert abs(got - want) <= RELATIVE_ACCURACY * want * (1 + 1e-9), f"{what}: page {got}, oracle {want}"


def assert_same(got, want, what: str = "") -> None:
    """Exact for counts, to 1e-9 for sums and ratios (the database adds floats in its own order)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), what
    else:
        assert got == want, what


def assert_figures(got, want, *, names=None, what: str = "") -> None:
    """Every KPI of `want` (an oracle Figures) on `got` (anything with the same attribute names)."""
    for name in names or want.__dataclass_fields__:
        if name in PERCENTILES:
            assert_percentile(getattr(got, name), getattr(want, name), f"{what} {name}")
        else:
            assert_same(getattr(got, name), getattr(want, name), f"{what} {name}")


def number(text: str | None) -> float | None:
    """The number a page printed ('68.2', '94.83%', '1,234'): a % is read as a share."""
    if text is None:
        return None
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert match, text
    value = float(match.group().replace(",", ""))
    return value / 100 if text.strip().endswith("%") else value


def assert_printed(text: str | None, want: float | None, pattern: str, *, percentile: bool, what: str = "") -> None:
    """A figure the page printed with `pattern`: exactly the oracle's value so printed, or, for a percentile,
    within the histogram's accuracy plus the printed rounding."""
    if want is None:
        assert text in (None, "—"), what
        return
    if not percentile:
        assert text == pattern.format(want), what
        return
    digits = re.search(r"\.(\d+)f", pattern)
    rounding = 0.5 * 10 ** -(int(digits.group(1)) if digits else 0)
    got = number(text)
    assert abs(got - want) <= RELATIVE_ACCURACY * want + rounding, f"{what}: page {text}, oracle {want}"
