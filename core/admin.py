from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiKey, ApiKeyScope, FleetLimit, SloTarget, api_key_generate, api_key_hash
from .services import sentry_dsn


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "fleet", "device_uid", "revoked_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scopes", "device_uid", "fleet", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "device_uid", "fleet")
    readonly_fields = ("prefix", "created_at", "last_used_at", "created_by")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        raw_key = None
        if not change:
            obj.prefix, raw_key = api_key_generate()
            obj.key_hash = api_key_hash(raw_key)
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if raw_key is None:
            return
        # Shown once: only the hash is stored. An ingest key also gets its Sentry DSN (it carries the raw key).
        messages.warning(request, f"Copy the new API key now, it will not be shown again: {raw_key}")
        if ApiKeyScope.INGEST in obj.scopes:
            dsn = sentry_dsn(portal_url=f"{request.scheme}://{request.get_host()}", raw_key=raw_key, api_key=obj)
            messages.warning(request, f"Its Sentry DSN (as secret as the key): {dsn}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")


@admin.register(SloTarget)
class SloTargetAdmin(admin.ModelAdmin):
    list_display = ("kpi", "tier", "value", "updated_at", "updated_by")
    list_filter = ("kpi", "tier")

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(FleetLimit)
class FleetLimitAdmin(admin.ModelAdmin):
    list_display = ("user", "fleets")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
