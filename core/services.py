"""Writes of the edgeportal app: API keys."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import ApiKey, api_key_generate, api_key_hash


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str], device_uid: str = "", fleet: str = "", created_by=None
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the raw key, which is shown once and never stored."""
    prefix, raw_key = api_key_generate()
    api_key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=api_key_hash(raw_key),
        scopes=sorted(set(scopes)),
        device_uid=device_uid,
        fleet=fleet,
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


__all__ = ["api_key_create", "api_key_revoke", "ValidationError"]


def sentry_dsn(*, portal_url: str, raw_key: str, api_key: ApiKey) -> str:
    """The Sentry DSN of an ingest key (docs/protocols/sentry.md): https://<raw key>@<portal host>/<key id>.
    Raises ValueError when `portal_url` is not scheme://host."""
    scheme, _, host = portal_url.rstrip("/").partition("://")
    if not scheme or not host:
        raise ValueError(f"a DSN needs the portal's URL, like https://portal.example.com (got {portal_url!r})")
    return f"{scheme}://{raw_key}@{host}/{api_key.pk}"
