import json

from django import forms

from compat.models import Delegate, DeviceModel, MLModel, Runtime

from .catalog import RunIdentity
from .importers.base import AUTO
from .models import RegressionStatus
from .services import SOURCE_FORMATS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe): cleans to a list, one run per file."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"data-upload-files": ""}))
        kwargs.setdefault("allow_empty_file", True)  # the importer says "empty file", per file
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


def _delegate_choices():
    # Grouped by runtime slug: the page shows only the chosen runtime's group (static/js/upload.js).
    groups: dict[str, list[tuple[str, str]]] = {}
    for delegate in Delegate.objects.select_related("runtime").order_by("runtime__slug", "slug"):
        groups.setdefault(delegate.runtime.slug, []).append((delegate.slug, f"{delegate.slug} ({delegate.name})"))
    return [("", "---------"), *groups.items()]


class RunUploadForm(forms.Form):
    """Upload runtime outputs (support/admin), one run per file, with the identity of what ran where."""

    artifacts = MultipleFileField(label="Files", help_text="One run per file; drop several at once")
    format = forms.ChoiceField(
        choices=[(AUTO, "auto (recognise from the content)"), *[(value, value) for value in SOURCE_FORMATS]],
        initial=AUTO,
    )
    model = forms.ModelChoiceField(queryset=MLModel.objects.order_by("slug"), to_field_name="slug")
    model_version = forms.CharField(max_length=40, widget=forms.TextInput(attrs={"list": "model-versions"}))
    runtime = forms.ModelChoiceField(queryset=Runtime.objects.order_by("slug"), to_field_name="slug")
    runtime_version = forms.CharField(
        max_length=40,
        required=False,
        help_text="Blank: read from the artifact (trtexec, benchmark_app print it)",
        widget=forms.TextInput(attrs={"list": "runtime-versions"}),
    )
    delegate = forms.ChoiceField(choices=())
    device_model = forms.ModelChoiceField(queryset=DeviceModel.objects.order_by("slug"), to_field_name="slug")
    build = forms.CharField(max_length=80, required=False)
    commit = forms.CharField(max_length=64, required=False)
    config = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text='JSON, e.g. {"threads": 4}'
    )
    register_versions = forms.BooleanField(
        required=False, label="Register the versions listed below", widget=forms.CheckboxInput()
    )
    register_confirmed = forms.CharField(required=False, widget=forms.MultipleHiddenInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["delegate"].choices = _delegate_choices()

    def clean_config(self) -> dict:
        text = self.cleaned_data.get("config") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object")
        return value

    def clean_register_confirmed(self) -> list[str]:
        return [row for row in self.data.getlist("register_confirmed") if row] if hasattr(self.data, "getlist") else []

    def clean(self):
        data = super().clean()
        runtime, delegate = data.get("runtime"), data.get("delegate")
        if runtime and delegate and not Delegate.objects.filter(runtime=runtime, slug=delegate).exists():
            self.add_error("delegate", f"{runtime.slug} has no delegate {delegate!r}")
        return data

    def identity(self) -> RunIdentity:
        data = self.cleaned_data
        return RunIdentity(
            model=data["model"].slug,
            model_version=data["model_version"],
            runtime=data["runtime"].slug,
            runtime_version=data["runtime_version"],
            delegate=data["delegate"],
            device_model=data["device_model"].slug,
            build=data["build"],
            commit=data["commit"],
            config=data["config"],
        )


class TriageForm(forms.Form):
    status = forms.ChoiceField(choices=RegressionStatus.choices)
