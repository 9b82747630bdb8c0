"""Forms of the cell page (override, known issues) and the matrix view options."""

from django import forms

from .models import CompatStatus
from .panels import matrix_overlay_choices
from .selectors import GROUP_BY_CHOICES, PIVOT_CHOICES


class OverrideForm(forms.Form):
    status = forms.ChoiceField(choices=CompatStatus.choices)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: what you know that the evidence does not (ticket, vendor note).",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("An override needs a reason.")
        return reason


class ClearOverrideForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.TextInput())


class KnownIssuesForm(forms.Form):
    known_issues = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Free text; paste crash-group and ticket links.",
    )


class MatrixViewForm(forms.Form):
    """How the matrix is laid out (not which cells: that is the FilterSet)."""

    pivot = forms.ChoiceField(choices=PIVOT_CHOICES, required=False)
    group = forms.ChoiceField(choices=GROUP_BY_CHOICES, required=False, label="Group columns by")
    overlay = forms.ChoiceField(choices=(), required=False, label="Colour cells by")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Overlays come from apps above compat (compat/panels.py); "" is the statuses alone.
        self.fields["overlay"].choices = [("", "Status"), *matrix_overlay_choices()]


class ChangesForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365, required=False, initial=7)
