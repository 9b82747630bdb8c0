"""The "new rollout" page's form: HTML inputs to the API's rollout body, and back to the inputs to redraw them.

No Django Form validates anything here: the body goes to `services.rollout_create`, which checks it with
`validation.rollout_spec_clean` like the API does, so the page and the API can never disagree on what is valid.
"""

import re
from dataclasses import dataclass, field

from compat.models import DeviceModel, MLModel, ModelVersion

from .guardrails import KPI_SPECS
from .models import OnFailure

STAGE_ROWS = 4
# The API.md example's guardrails: on by default, p95 judged per device model (a regression on one device model
# must stop the rollout even when the fleet as a whole passes); peak RSS is there to switch on.
DEFAULT_GUARDRAILS = {"crash_free_sessions": False, "p95_latency_ms": True, "errors_per_1k": False,
                      "accelerator_utilization": False}  # fmt: skip
DEFAULT_STAGES = ((5, 24, 2000), (25, 24, 5000), (100, 0, 0))
KPI_LABELS = {
    "crash_free_sessions": "Crash-free sessions (absolute, 0.002 = 0.2 points)",
    "errors_per_1k": "Errors per 1k inferences (absolute)",
    "p95_latency_ms": "p95 latency (relative, 0.10 = 10 %)",
    "peak_rss_mb_p95": "Peak RSS p95 (relative)",
    "accelerator_utilization": "Accelerator utilization (absolute share)",
}


@dataclass
class RolloutFormState:
    """What the form's inputs show: the defaults, or what was posted (with the errors for each field)."""

    values: dict
    stages: list[dict]
    guardrails: list[dict]
    errors: dict[str, list[str]] = field(default_factory=dict)


def _number(text: str, kind: type):
    """The input as an int or float when it reads as one; otherwise the text itself, so the validation names it."""
    text = text.strip()
    if kind is int and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind is float and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        value = float(text)
        return int(value) if value.is_integer() else value
    return text


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def rollout_body(post) -> tuple[dict, dict[str, int], dict[str, str]]:
    """The API body from the posted inputs, plus which form row each stage came from and which KPI each guardrail
    is (to name them in the errors the way the page shows them)."""
    stages, stage_rows = [], {}
    for row in range(STAGE_ROWS):
        percent = post.get(f"stage_{row}_percent", "").strip()
        if not percent:
            continue  # an empty row is no stage
        stage_rows[len(stages)] = row + 1
        stages.append({"percent": _number(percent, int),
                       "min_hours": _number(post.get(f"stage_{row}_min_hours", "") or "0", float),
                       "min_sessions": _number(post.get(f"stage_{row}_min_sessions", "") or "0", int)})  # fmt: skip
    guardrails, guardrail_kpis = [], {}
    for kpi in KPI_SPECS:
        if post.get(f"guardrail_{kpi}") != "on":
            continue
        guardrail_kpis[len(guardrails)] = kpi
        guardrails.append({"kpi": kpi, "max_regression": _number(post.get(f"guardrail_{kpi}_max", ""), float),
                           "per_device_model": post.get(f"guardrail_{kpi}_per_device_model") == "on"})  # fmt: skip
    tiers = post.getlist("tier")
    body = {
        "name": post.get("name", ""),
        "model": post.get("model", ""),
        "baseline_version": post.get("baseline_version", ""),
        "candidate_version": post.get("candidate_version", ""),
        "scope": {
            "device_model": post.getlist("device_model"),
            "tier": [int(t) if t.isdigit() else t for t in tiers],
            "os_version": _list(post.get("os_version", "")),
            "app_version": _list(post.get("app_version", "")),
        },
        "stages": stages,
        "control_percent": _number(post.get("control_percent", ""), int),
        "guardrails": guardrails,
        "on_failure": post.get("on_failure", ""),
        "auto_advance": post.get("auto_advance") == "on",
    }
    return body, stage_rows, guardrail_kpis


def errors_as_shown(errors: dict[str, list[str]], stage_rows: dict[int, int], guardrail_kpis: dict[int, str]):
    """The validation's messages with stages named by their form row and guardrails by their KPI."""

    def rename(message: str) -> str:
        message = re.sub(r"^stage (\d+)", lambda m: f"stage row {stage_rows.get(int(m[1]), int(m[1]) + 1)}", message)
        return re.sub(r"^guardrail (\d+)", lambda m: guardrail_kpis.get(int(m[1]), m[0]), message)

    return {name: [rename(message) for message in messages] for name, messages in errors.items()}


def form_state(post=None, errors=None) -> RolloutFormState:
    """The inputs' values: the defaults on a first visit, the posted ones after a refusal."""
    if post is None:
        values = {"name": "", "model": "", "baseline_version": "", "candidate_version": "", "device_model": [],
                  "tier": [], "os_version": "", "app_version": "", "control_percent": "5",
                  "on_failure": OnFailure.PAUSE, "auto_advance": False}  # fmt: skip
        stages = [{"percent": str(p), "min_hours": str(h), "min_sessions": str(s)} for p, h, s in DEFAULT_STAGES]
        guardrails = [
            {"kpi": kpi, "on": kpi in DEFAULT_GUARDRAILS, "max": f"{spec.default_max_regression:g}",
             "per_device_model": DEFAULT_GUARDRAILS.get(kpi, False)}
            for kpi, spec in KPI_SPECS.items()
        ]  # fmt: skip
    else:
        names = ("name", "model", "baseline_version", "candidate_version", "os_version", "app_version",
                 "control_percent", "on_failure")  # fmt: skip
        values = {name: post.get(name, "") for name in names}
        values.update(device_model=post.getlist("device_model"), tier=post.getlist("tier"),
                      auto_advance=post.get("auto_advance") == "on")  # fmt: skip
        stages = [
            {key: post.get(f"stage_{row}_{key}", "") for key in ("percent", "min_hours", "min_sessions")}
            for row in range(STAGE_ROWS)
        ]
        guardrails = [
            {"kpi": kpi, "on": post.get(f"guardrail_{kpi}") == "on", "max": post.get(f"guardrail_{kpi}_max", ""),
             "per_device_model": post.get(f"guardrail_{kpi}_per_device_model") == "on"}
            for kpi in KPI_SPECS
        ]  # fmt: skip
    stages += [{"percent": "", "min_hours": "", "min_sessions": ""}] * (STAGE_ROWS - len(stages))
    for row in guardrails:
        row["label"] = KPI_LABELS.get(row["kpi"], row["kpi"])
    return RolloutFormState(values=values, stages=stages, guardrails=guardrails, errors=errors or {})


def form_choices() -> dict:
    """The catalog the selects offer (three queries): models, their versions grouped by model, device models."""
    versions: dict[str, list[str]] = {}
    for slug, version in ModelVersion.objects.order_by("ml_model__slug", "-first_seen_at", "-id").values_list(
        "ml_model__slug", "version"
    ):
        versions.setdefault(slug, []).append(version)
    return {
        "models": list(MLModel.objects.order_by("slug").values_list("slug", "name")),
        "versions_by_model": sorted(versions.items()),
        "device_models": list(DeviceModel.objects.order_by("vendor", "name").values_list("slug", "vendor", "name")),
        "tiers": (1, 2, 3),
        "on_failure_choices": OnFailure.choices,
    }
