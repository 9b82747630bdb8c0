"""The read API's shape of a readiness report: the page's figures as JSON (one selector behind both)."""

from rest_framework import serializers

from .. import rules
from ..selectors import PathRow, VersionReadiness

VERDICTS = list(rules.VERDICT_LABELS)


class ReadinessReasonSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=[rules.BLOCKER, rules.CAVEAT, rules.GAP])
    code = serializers.CharField()
    text = serializers.CharField()
    link = serializers.CharField(help_text="The fleet view, run, regression list or crash group behind it; may be ''")


class ReadinessKpiSerializer(serializers.Serializer):
    kpi = serializers.CharField()
    value = serializers.FloatField()
    target = serializers.FloatField()
    unit = serializers.CharField(help_text="ms, MB, /1k or share (0–1)")
    status = serializers.ChoiceField(choices=["met", "at_risk", "missed"])
    source = serializers.ChoiceField(choices=["field", "lab"])


class ReadinessCrashGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    devices = serializers.IntegerField(help_text="devices it hit on this path in the window")
    device_share = serializers.FloatField(help_text="devices ÷ the path's active devices")
    events = serializers.IntegerField()


class PathReadinessSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    device_model = serializers.CharField()
    runtime = serializers.CharField()
    runtime_version = serializers.CharField()
    delegate = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS)
    reasons = ReadinessReasonSerializer(many=True)
    kpis = ReadinessKpiSerializer(many=True)
    sessions = serializers.IntegerField()
    devices = serializers.IntegerField()
    lab_runs = serializers.IntegerField()
    crash_groups = ReadinessCrashGroupSerializer(many=True)


class DeviceModelReadinessSerializer(serializers.Serializer):
    device_model = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS, help_text="its best path's")
    paths = PathReadinessSerializer(many=True)


class ReleaseReadinessSerializer(serializers.Serializer):
    model = serializers.CharField()
    model_version = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS)
    reasons = ReadinessReasonSerializer(many=True)
    field_from = serializers.DateTimeField()
    field_to = serializers.DateTimeField()
    lab_window_days = serializers.IntegerField()
    device_models = DeviceModelReadinessSerializer(many=True)


def _reasons(readiness: rules.Readiness) -> list[dict]:
    return [{"severity": r.severity, "code": r.code, "text": r.text, "link": r.link} for r in readiness.reasons]


def path_body(path: PathRow) -> dict:
    facts, entry, readiness = path.facts, path.entry, path.readiness
    return {
        "entry_id": entry.pk, "device_model": entry.device_model.slug,
        "runtime": entry.runtime_version.runtime.slug, "runtime_version": entry.runtime_version.version,
        "delegate": entry.delegate.slug, "verdict": readiness.verdict, "reasons": _reasons(readiness),
        "kpis": [{"kpi": k.kpi, "value": k.value, "target": k.target, "unit": k.unit, "status": k.status,
                  "source": k.source} for k in readiness.kpis],
        "sessions": facts.field.sessions if facts.field else 0, "devices": facts.field.devices if facts.field else 0,
        "lab_runs": facts.lab.runs if facts.lab else 0,
        "crash_groups": [{"id": g.id, "title": g.title, "status": g.status, "devices": g.devices,
                          "device_share": readiness.crash_shares.get(g.id), "events": g.events}
                         for g in facts.crash_groups],
    }  # fmt: skip


def release_body(report: VersionReadiness) -> dict:
    mv = report.model_version
    return {
        "model": mv.ml_model.slug, "model_version": mv.version, "verdict": report.readiness.verdict,
        "reasons": _reasons(report.readiness), "field_from": report.start, "field_to": report.end,
        "lab_window_days": report.lab_window_days,
        "device_models": [{"device_model": d.device_model.slug, "verdict": d.readiness.verdict,
                           "paths": [path_body(p) for p in d.paths]} for d in report.device_models],
    }  # fmt: skip
