"""DRF authentication by `Authorization: Bearer <api key>` (API.md)."""

import hmac
from datetime import timedelta
from functools import cache

from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import KEY_PREFIX_LENGTH, ApiKey, api_key_hash

# last_used_at is advisory; writing it on every request would put a write on the ingest hot path.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyUser:
    """The request.user of an API-key request: authenticated, but no Django permissions and no role."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.username = f"apikey:{api_key.name}"

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


@cache
def _by_prefix() -> str:
    return f"SELECT * FROM {connection.ops.quote_name(ApiKey._meta.db_table)} WHERE prefix = %s"  # noqa: S608


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <api key>'.")
        try:
            raw_key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        api_key = self._lookup(raw_key)
        return ApiKeyUser(api_key), api_key

    def _lookup(self, raw_key: str) -> ApiKey:
        parts = raw_key.split("_")
        if len(parts) < 3 or parts[0] != "ep" or len(parts[1]) != KEY_PREFIX_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        # A raw read: every device request makes it, and compiling the ORM query cost more than running it.
        api_key = next(iter(ApiKey.objects.raw(_by_prefix(), [parts[1]])), None)
        if api_key is None or not hmac.compare_digest(api_key.key_hash, api_key_hash(raw_key)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
        return api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
