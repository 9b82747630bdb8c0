"""Errors in one shape: the API answers {"error": <code>, "detail": ...} (API.md), pages answer in the site layout.

DRF views go through `api_exception_handler`; what DRF does not handle (a bug: 500) and URLs that match no view
(404) reach Django's handlers below, which answer JSON under /api/ too, so a client never has to parse HTML.
"""

import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from .roles import role_needed

API_PREFIX = "/api/"
# Messages of core.permissions and compat.services end "(needs app.codename)": the 403 page names the role.
NEEDS_PERMISSION = re.compile(r"needs ([a-z_]+\.[a-z_]+)")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "protected"
    default_detail = "Other records still refer to this one."


def error_body(error: str, detail) -> dict:
    return {"error": error, "detail": detail}


def api_exception_handler(exc, context):
    """DRF's handler (status, headers such as Retry-After and WWW-Authenticate), then the body reshaped."""
    if isinstance(exc, ProtectedError | RestrictedError):
        # A delete of a catalog row that telemetry, benchmarks or matrix cells still use.
        referring = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        exc = Conflict(f"{len(referring)} other records still refer to this one; delete or reassign them first.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)  # as DRF does, but here too, so the code below sees "not_found"
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django logs it and handler500 answers in the shape below
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", data)
    elif isinstance(data, dict) and set(data) == {"detail"}:
        response.data = error_body(getattr(exc, "default_code", "error"), data["detail"])
    elif not (isinstance(data, dict) and "error" in data):
        response.data = error_body(getattr(exc, "default_code", "error"), data)
    return response


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    message = str(exception or "")
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", message or "You may not do this."), status=403)
    match = NEEDS_PERMISSION.search(message)
    context = {"message": message, "role": role_needed(match.group(1)) if match else None}
    return render(request, "403.html", context, status=403)


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
    # Rendered without the request: no context processor (session, user, navigation) may touch a failing database.
    return HttpResponseServerError(loader.render_to_string("500.html"))
