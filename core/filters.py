"""Filters for whole numbers: django-filter's NumberFilter reads a Decimal of any size, which SQLite cannot bind
(OverflowError: a 500 on `?device_model_id=99999999999999999999`) and PostgreSQL compares as numeric. These read
an integer within bounds, so anything else is the filter's own 400 naming the parameter."""

from django import forms
from django_filters import NumberFilter

BIGINT_MAX = 2**63 - 1


class IntegerFilter(NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, min_value: int = -BIGINT_MAX, max_value: int = BIGINT_MAX, **kwargs):
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)


class IdFilter(IntegerFilter):
    """A primary key: 1 … 2⁶³−1."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, **kwargs)
