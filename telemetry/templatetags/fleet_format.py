"""Formatting filters for fleet pages: shares as percentages, missing values as an em dash."""

from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 2) -> str:
    """0.99512 -> '99.51 %'; None -> '—'."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def num(value, digits: int = 1) -> str:
    """A float with fixed digits; None -> '—'."""
    if value is None or value == "":
        return "—"
    return f"{float(value):,.{int(digits)}f}"


_ACRONYMS = {"os": "OS", "cpu": "CPU", "gpu": "GPU", "npu": "NPU", "dsp": "DSP", "rss": "RSS"}


@register.filter
def words(value: str) -> str:
    """device_model -> 'device model', os_version -> 'OS version'."""
    return " ".join(_ACRONYMS.get(word, word) for word in str(value).split("_"))
