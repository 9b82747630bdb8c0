"""Rollout pages: the list, a rollout (stage timeline, arms, guardrails, decisions), and the admins' actions."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import ADMIN, user_role

from . import services
from .charts import arms_chart
from .forms import errors_as_shown, form_choices, form_state, rollout_body
from .models import LIVE_STATUSES, RolloutStatus
from .selectors import rollouts_list
from .validation import RolloutInputError

# (action, label, needs a reason, statuses it applies to)
PAGE_ACTIONS = (
    ("start", "Start", False, (RolloutStatus.DRAFT,)),
    ("pause", "Pause", True, (RolloutStatus.RUNNING,)),
    ("resume", "Resume", False, (RolloutStatus.PAUSED,)),
    ("advance", "Advance to the next stage", True, (RolloutStatus.RUNNING,)),
    ("rollback", "Roll back", True, LIVE_STATUSES),
    ("complete", "Complete", False, LIVE_STATUSES),
)
SERVICES = {
    "start": services.rollout_start,
    "pause": services.rollout_pause,
    "resume": services.rollout_resume,
    "advance": services.rollout_advance,
    "rollback": services.rollout_rollback,
    "complete": services.rollout_complete,
}
CHART_KPIS = (("p95_latency_ms", "p95 latency (ms)"), ("crash_free_sessions", "crash-free sessions"))


CREATE_PERMISSION = "rollouts.add_rollout"  # held by the admin role (core.roles): whoever may create a rollout


def rollout_list(request):
    context = {"rollouts": rollouts_list()[:200], "can_create": request.user.has_perm(CREATE_PERMISSION)}
    return render(request, "rollouts/list.html", context)


def rollout_new(request):
    """A draft rollout from a form, checked by the API's own validation; refused fields are shown with their errors."""
    if not request.user.has_perm(CREATE_PERMISSION):
        raise PermissionDenied("Creating rollouts needs the admin role.")
    state = form_state()
    if request.method == "POST":
        body, stage_rows, guardrail_kpis = rollout_body(request.POST)
        try:
            rollout = services.rollout_create(data=body, actor=services.Actor.from_request(request))
        except RolloutInputError as error:
            state = form_state(request.POST, errors_as_shown(error.errors, stage_rows, guardrail_kpis))
        else:
            messages.success(request, f"Draft rollout {rollout.name!r} created: start it when ready.")
            return redirect("rollouts:detail", pk=rollout.pk)
    # A refused form is redrawn with 200, as Django's form views do (the errors are in the page, not the status).
    return render(request, "rollouts/new.html", {"form": state, **form_choices()})


def _timeline(rollout) -> list[dict]:
    advanced = [d.at for d in rollout.decisions.all() if d.action in ("start", "advance")]
    return [
        {
            "index": index,
            "percent": stage["percent"],
            "min_hours": stage.get("min_hours", 0),
            "min_sessions": stage.get("min_sessions", 0),
            "started_at": advanced[index] if index < len(advanced) else None,
            "current": index == rollout.stage and rollout.status in LIVE_STATUSES,
            "done": index < rollout.stage or rollout.status == RolloutStatus.COMPLETED,
        }
        for index, stage in enumerate(rollout.stages)
    ]


KPI_COLUMNS = ("crash_free_sessions", "errors_per_1k", "p95_latency_ms", "peak_rss_mb_p95", "accelerator_utilization")


def _arm_rows(arms: dict) -> list[dict]:
    """One row per (device model, arm), the whole arm first: value and 95 % interval per KPI column."""
    by_arm = {name: arms.get(name) or {} for name in ("candidate", "control")}
    models = sorted({m for arm in by_arm.values() for m in arm.get("by_device_model") or {}})
    rows = []
    for model in ["all", *models]:
        for arm_name, arm in by_arm.items():
            part = arm if model == "all" else (arm.get("by_device_model") or {}).get(model) or {}
            kpis, intervals = part.get("kpis") or {}, part.get("intervals") or {}
            rows.append(
                {
                    "device_model": model,
                    "arm": arm_name,
                    "devices": part.get("devices", 0),
                    "sessions": part.get("sessions", 0),
                    "cells": [{"value": kpis.get(k), "interval": intervals.get(k)} for k in KPI_COLUMNS],
                }
            )
    return rows


def rollout_detail(request, pk: int):
    rollout = get_object_or_404(rollouts_list(), pk=pk)
    is_admin = user_role(request.user) == ADMIN
    actions = [
        {"name": name, "label": label, "needs_reason": needs_reason}
        for name, label, needs_reason, statuses in PAGE_ACTIONS
        if rollout.status in statuses
    ]
    context = {
        "rollout": rollout,
        "timeline": _timeline(rollout),
        "arm_rows": _arm_rows(rollout.arms or {}),
        "kpis": KPI_COLUMNS,
        "charts": [
            arms_chart(arms=rollout.arms or {}, kpi=k, label=label, chart_id=f"arms-{k}") for k, label in CHART_KPIS
        ],
        "decisions": list(rollout.decisions.all())[::-1],
        "actions": actions if is_admin else [],
        "can_act": is_admin,
    }
    return render(request, "rollouts/detail.html", context)


@require_POST
def rollout_action(request, pk: int, action: str):
    if user_role(request.user) != ADMIN:
        raise PermissionDenied("Only admins act on rollouts.")
    if action not in SERVICES:
        raise PermissionDenied("Unknown action.")
    reason = request.POST.get("reason", "")
    try:
        SERVICES[action](rollout_id=pk, actor=services.Actor.from_request(request), reason=reason)
    except RolloutInputError as error:
        messages.error(request, str(error))
    except services.RolloutConflict as error:
        messages.error(request, f"Not done: {error}")
    else:
        messages.success(request, f"Rollout {action} done.")
    return redirect("rollouts:detail", pk=pk)
