import json

from django import forms

from compat.models import Delegate, DeviceModel, MLModel, Runtime

from .models import RegressionStatus
from .services import SOURCE_FORMATS


class RunUploadForm(forms.Form):
    """Upload a runtime's own output (support/admin), with the identity of what ran where."""

    format = forms.ChoiceField(choices=[(value, value) for value in SOURCE_FORMATS])
    artifact = forms.FileField()
    model = forms.ModelChoiceField(queryset=MLModel.objects.all(), to_field_name="slug")
    model_version = forms.CharField(max_length=40)
    runtime = forms.ModelChoiceField(queryset=Runtime.objects.all(), to_field_name="slug")
    runtime_version = forms.CharField(max_length=40, required=False, help_text="Blank: read from the artifact")
    delegate = forms.CharField(max_length=40, help_text="Delegate slug of that runtime, e.g. gpu, xnnpack, cpu")
    device_model = forms.ModelChoiceField(queryset=DeviceModel.objects.all(), to_field_name="slug")
    build = forms.CharField(max_length=80, required=False)
    commit = forms.CharField(max_length=64, required=False)
    config = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text='JSON, e.g. {"threads": 4}'
    )

    def clean_config(self) -> dict:
        text = self.cleaned_data.get("config") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object")
        return value

    def clean(self):
        data = super().clean()
        runtime, delegate = data.get("runtime"), data.get("delegate")
        if runtime and delegate and not Delegate.objects.filter(runtime=runtime, slug=delegate).exists():
            self.add_error("delegate", f"{runtime.slug} has no delegate {delegate!r}")
        return data


class TriageForm(forms.Form):
    status = forms.ChoiceField(choices=RegressionStatus.choices)
