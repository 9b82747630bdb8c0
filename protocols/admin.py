from django.contrib import admin

from .models import ReleaseHealthSession, SentryAttachment, SentryClientReport


@admin.register(SentryAttachment)
class SentryAttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "attachment_type", "event_id", "size", "received_at"]
    search_fields = ["event_id", "filename"]
    exclude = ["data"]  # binary: a minidump is read with a debugger, not in a form
    readonly_fields = ["event_id", "filename", "attachment_type", "content_type", "size", "received_at"]


@admin.register(ReleaseHealthSession)
class ReleaseHealthSessionAdmin(admin.ModelAdmin):
    list_display = ["release", "device_uid", "status", "errors", "started"]
    list_filter = ["status", "release"]
    search_fields = ["device_uid", "sid"]


@admin.register(SentryClientReport)
class SentryClientReportAdmin(admin.ModelAdmin):
    list_display = ["reason", "category", "quantity", "reported_at"]
    list_filter = ["reason", "category"]
