"""Checks a rollout definition field by field (API.md Rollouts: 400 naming each bad field)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compat.models import DeviceModel, MLModel, ModelVersion

from .assignment import SCOPE_KEYS
from .guardrails import KPI_SPECS
from .models import OnFailure


class RolloutInputError(Exception):
    """Bad input: `errors` maps each bad field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors


@dataclass
class RolloutSpec:
    name: str
    ml_model: MLModel
    baseline_version: ModelVersion
    candidate_version: ModelVersion
    scope: dict
    stages: list[dict]
    control_percent: int
    guardrails: list[dict]
    on_failure: str
    auto_advance: bool


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _stages(raw: object, errors: dict) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors["stages"] = ["Give at least one stage: a list of {percent, min_hours, min_sessions}."]
        return []
    stages, previous = [], 0
    for index, stage in enumerate(raw):
        if not isinstance(stage, Mapping):
            errors.setdefault("stages", []).append(f"stage {index} is not an object")
            continue
        unknown = sorted(set(stage) - {"percent", "min_hours", "min_sessions"})
        percent, min_hours, min_sessions = stage.get("percent"), stage.get("min_hours", 0), stage.get("min_sessions", 0)
        if unknown:
            errors.setdefault("stages", []).append(f"stage {index}: unknown field(s) {unknown}")
        if not _is_int(percent) or not 1 <= percent <= 100:
            errors.setdefault("stages", []).append(f"stage {index}: percent must be an integer within 1–100")
            continue
        if percent <= previous:
            errors.setdefault("stages", []).append(
                f"stage {index}: percent {percent} must exceed the previous {previous}"
            )
        if not _is_number(min_hours) or min_hours < 0:
            errors.setdefault("stages", []).append(f"stage {index}: min_hours must be a number ≥ 0")
        if not _is_int(min_sessions) or min_sessions < 0:
            errors.setdefault("stages", []).append(f"stage {index}: min_sessions must be an integer ≥ 0")
        previous = percent
        stages.append({"percent": percent, "min_hours": min_hours, "min_sessions": min_sessions})
    return stages


def _scope(raw: object, errors: dict) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors["scope"] = ["scope must be an object of cohort filters"]
        return {}
    unknown = sorted(set(raw) - set(SCOPE_KEYS))
    if unknown:
        errors.setdefault("scope", []).append(f"unknown filter(s) {unknown}; valid: {list(SCOPE_KEYS)}")
    scope = {}
    for key in SCOPE_KEYS:
        values = raw.get(key) or []
        kind = int if key == "tier" else str
        if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
            errors.setdefault("scope", []).append(f"{key} must be a list of {kind.__name__}")
            values = []
        scope[key] = sorted(set(values))
    if scope["device_model"]:
        known = set(DeviceModel.objects.filter(slug__in=scope["device_model"]).values_list("slug", flat=True))
        missing = sorted(set(scope["device_model"]) - known)
        if missing:
            errors.setdefault("scope", []).append(f"unknown device model(s) {missing}")
    if any(tier not in (1, 2, 3) for tier in scope["tier"]):
        errors.setdefault("scope", []).append("tier values must be 1, 2 or 3")
    return scope


def _guardrails(raw: object, errors: dict) -> list[dict]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        errors["guardrails"] = ["guardrails must be a list of {kpi, max_regression, per_device_model}"]
        return []
    guardrails, seen = [], set()
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("kpi"), str) or item["kpi"] not in KPI_SPECS:
            kpi = item.get("kpi") if isinstance(item, Mapping) else item
            errors.setdefault("guardrails", []).append(
                f"guardrail {index}: unknown KPI {kpi!r}; valid: {sorted(KPI_SPECS)}"
            )
            continue
        spec = KPI_SPECS[item["kpi"]]
        max_regression = item.get("max_regression", spec.default_max_regression)
        per_device_model = item.get("per_device_model", False)
        if not _is_number(max_regression) or max_regression <= 0:
            errors.setdefault("guardrails", []).append(f"guardrail {index}: max_regression must be a number > 0")
            continue
        if not isinstance(per_device_model, bool):
            errors.setdefault("guardrails", []).append(f"guardrail {index}: per_device_model must be true or false")
            continue
        if item["kpi"] in seen:
            errors.setdefault("guardrails", []).append(f"guardrail {index}: {item['kpi']} is given twice")
        seen.add(item["kpi"])
        guardrails.append({"kpi": item["kpi"], "max_regression": max_regression, "per_device_model": per_device_model})
    return guardrails


def rollout_spec_clean(*, data: Mapping[str, Any]) -> RolloutSpec:
    """The validated definition, or RolloutInputError naming every bad field (nothing is written here)."""
    errors: dict[str, list[str]] = {}
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = ["name is required (at most 200 characters)"]
    ml_model = baseline = candidate = None
    model_slug = data.get("model")
    if not isinstance(model_slug, str) or not (ml_model := MLModel.objects.filter(slug=model_slug).first()):
        errors["model"] = [f"unknown model {model_slug!r}"]
    else:
        versions = {v.version: v for v in ModelVersion.objects.filter(ml_model=ml_model)}
        for field in ("baseline_version", "candidate_version"):
            value = data.get(field)
            if value not in versions:
                errors[field] = [f"unknown version {value!r} of {model_slug}"]
        baseline, candidate = versions.get(data.get("baseline_version")), versions.get(data.get("candidate_version"))
        if baseline is not None and baseline == candidate:
            errors["candidate_version"] = ["the candidate must differ from the baseline"]
    scope = _scope(data.get("scope"), errors)
    stages = _stages(data.get("stages"), errors)
    control_percent = data.get("control_percent", 5)
    if not _is_int(control_percent) or not 1 <= control_percent <= 50:
        errors["control_percent"] = ["control_percent must be an integer within 1–50"]
    guardrails = _guardrails(data.get("guardrails"), errors)
    on_failure = data.get("on_failure", OnFailure.PAUSE)
    if on_failure not in OnFailure.values:
        errors["on_failure"] = [f"on_failure must be one of {OnFailure.values}"]
    auto_advance = data.get("auto_advance", False)
    if not isinstance(auto_advance, bool):
        errors["auto_advance"] = ["auto_advance must be true or false"]
    if errors:
        raise RolloutInputError(errors)
    return RolloutSpec(
        name=name.strip(),
        ml_model=ml_model,
        baseline_version=baseline,
        candidate_version=candidate,
        scope=scope,
        stages=stages,
        control_percent=control_percent,
        guardrails=guardrails,
        on_failure=on_failure,
        auto_advance=auto_advance,
    )


def scopes_overlap(a: dict, b: dict) -> bool:
    """Two scopes share a device unless some filter lists in both are disjoint (device model and tier resolved)."""
    for key in ("os_version", "app_version"):
        if a.get(key) and b.get(key) and not set(a[key]) & set(b[key]):
            return False
    return bool(_device_models(a) & _device_models(b))


def _device_models(scope: dict) -> set[str]:
    models = DeviceModel.objects.all()
    if scope.get("device_model"):
        models = models.filter(slug__in=scope["device_model"])
    if scope.get("tier"):
        models = models.filter(tier__in=scope["tier"])
    return set(models.values_list("slug", flat=True)) or {"<none>"}


def scope_device_model_count(scope: dict) -> int:
    """How many catalog device models a scope can hold: the number of per-device-model slices of a guardrail."""
    return len(_device_models(scope) - {"<none>"})
