"""Tells drf-spectacular how API keys authenticate, so the schema shows the Bearer scheme."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <api key>`; scopes: ingest, benchmarks:write, read.",
        }


ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every API error: {"error": <code>, "detail": <message, or fields to messages>}.',
    "properties": {
        "error": {"type": "string", "example": "invalid"},
        "detail": {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}]},
    },
    "required": ["error", "detail"],
}
ERROR_STATUSES = {
    "400": "The request is invalid: `detail` names each bad field or parameter.",
    "401": "No valid credentials (an API key as `Authorization: Bearer <key>`, or a session).",
    "403": "The key's scope, the user's role or the key's device/fleet binding does not allow this.",
    "404": "No such object (or not visible to this caller), or a page number past the last page.",
    "409": "The request conflicts with the object's state (a referenced row, an action that does not apply now).",
    "429": "Rate limited: retry after `Retry-After` seconds.",
}
WRITE_METHODS = {"post", "put", "patch"}
_PARAMETER = re.compile(r"\{[^}]+\}")


def _unnamed(path: str) -> str:
    return _PARAMETER.sub("{}", path)


def _statuses(*, path: str, method: str, operation: dict, view_class) -> set[str]:
    """The error statuses an operation can answer, from what its view declares (permissions, throttles, params)."""
    from rest_framework.permissions import AllowAny

    statuses = set()
    permissions = getattr(view_class, "permission_classes", ())
    if operation.get("security") and not all(p is AllowAny for p in permissions):
        statuses |= {"401", "403"}
    query = {p.get("name") for p in operation.get("parameters", ()) if p.get("in") == "query"}
    if "{" in path or "page" in query:
        statuses.add("404")
    if (
        method in WRITE_METHODS
        or operation.get("parameters")
        and any(p.get("in") == "query" for p in operation["parameters"])
    ):
        statuses.add("400")
    if method == "delete" or (method == "post" and "{" in path and not path.rstrip("/").endswith("}")):
        statuses.add("409")  # a protected delete; an action on an object whose state does not allow it
    if getattr(view_class, "throttle_classes", ()):
        statuses.add("429")
    return statuses


def error_responses_add(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation lists the errors it can answer, in the one error shape
    (core.errors), beside what its view documents itself."""
    # Endpoints name a primary key {pk} where the schema says {id}: match paths with parameters unnamed.
    views = {(_unnamed(path), method.lower()): callback.cls for path, _, method, callback in generator.endpoints}
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            view_class = views.get((_unnamed(path), method))
            if view_class is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path=path, method=method, operation=operation, view_class=view_class)):
                responses.setdefault(status, {"description": ERROR_STATUSES[status], "content": reference})
    return result
