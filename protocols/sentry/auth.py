"""Sentry's DSN authentication: the DSN's public key is an ingest API key, its project id that key's id.

A DSN is `https://<raw ingest key>@<portal host>/<key id>` (`create_api_key --dsn`): the key travels as Sentry
SDKs send the public key, in `X-Sentry-Auth: Sentry sentry_key=…` or `?sentry_key=`. It is checked exactly as a
Bearer key (hashed, revocable, scopes, device binding), so a DSN is as secret as the key it carries.
"""

from rest_framework import authentication, exceptions

from ..ingest_bridge import ApiKeyUser, api_key_lookup


def sentry_auth_key(header: str) -> str | None:
    """The sentry_key of an `X-Sentry-Auth: Sentry k=v, k=v` header."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "sentry":
        return None
    for pair in params.split(","):
        name, _, value = pair.strip().partition("=")
        if name.strip() == "sentry_key":
            return value.strip() or None
    return None


class SentryKeyAuthentication(authentication.BaseAuthentication):
    """The key of `X-Sentry-Auth` or `?sentry_key=`; the URL's project id must be that key's id."""

    def authenticate(self, request):
        header = request.headers.get("X-Sentry-Auth") or ""
        raw_key = sentry_auth_key(header) if header else request.query_params.get("sentry_key")
        if not raw_key:
            return None
        api_key = api_key_lookup(raw_key)
        project_id = request.parser_context["kwargs"].get("project_id")
        if project_id is not None and int(project_id) != api_key.pk:
            raise exceptions.PermissionDenied(f"project {project_id} does not match this DSN's key")
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Sentry realm="sentry"'
