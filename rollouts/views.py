"""Rollout pages (placeholder until the pages land)."""

from django.http import HttpResponse


def rollout_list(request):
    return HttpResponse("rollouts")


def rollout_detail(request, pk):
    return HttpResponse("rollout")


def rollout_action(request, pk, action):
    return HttpResponse("action")
