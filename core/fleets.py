"""Which fleets a request may read: a fleet-bound API key its fleet, a user with a FleetLimit those fleets.

None means every fleet. A limited principal reads device-level data of its fleets only: fleet-wide figures are sums
over all fleets, so views that show them are closed to it (API views declare `fleet_scoped = True` to open; pages
are listed in `FLEET_SCOPED_PAGES`)."""

from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import ApiKey, FleetLimit

UNLIMITED = "*"
CACHE_TTL_S = 300

# URL names of the pages and API views a fleet-limited user may open: its devices, who it is, the API's schema.
FLEET_SCOPED_PAGES = frozenset(
    {
        "fleet:devices",
        "fleet:device",
        "fleet:device-timeline-export",
        "telemetry-api:device-list",
        "telemetry-api:device-detail",
        "edgeportal-api:me",
        "schema",
        "api-docs",
        "api-redoc",
    }
)
FLEET_LIMITED_MESSAGE = (
    "This credential is limited to some fleets: it reads their devices only, not fleet-wide figures."
)


def fleets_allowed(request) -> frozenset[str] | None:
    """The fleets whose devices this request may read, or None for every fleet."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return frozenset({auth.fleet}) if auth.fleet else None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(user, "_fleets_allowed"):
        user._fleets_allowed = _user_fleets(user)
    return user._fleets_allowed


def _cache_key(user) -> str:
    # With the join time: a recreated database reuses user ids, never a (id, join time) pair.
    return f"fleet-limit:{user.pk}:{user.date_joined.timestamp()}"


def _user_fleets(user) -> frozenset[str] | None:
    """From the cache (no query per page; a change clears it at once, see below), else the database."""
    try:
        cached = cache.get(_cache_key(user))
    except Exception:  # noqa: BLE001 -- a cache outage must not open or close pages: read the database
        cached = None
    if cached is not None:
        return None if cached == UNLIMITED else frozenset(cached)
    limit = FleetLimit.objects.filter(user_id=user.pk).values_list("fleets", flat=True).first()
    try:
        cache.set(_cache_key(user), UNLIMITED if limit is None else list(limit), CACHE_TTL_S)
    except Exception:  # noqa: BLE001
        pass
    return None if limit is None else frozenset(limit)


@receiver(user_logged_in)
def fleet_limit_warm(sender, request, user, **kwargs) -> None:
    """Read once at login, so pages after it read the cache."""
    user._fleets_allowed = _user_fleets(user)


@receiver([post_save, post_delete], sender=FleetLimit)
def fleet_limit_changed(sender, instance: FleetLimit, **kwargs) -> None:
    """An admin's change applies to the user's next request, not after the cache entry expires."""
    cache.delete(_cache_key(instance.user))


def fleet_filter(queryset, request, field: str = "fleet"):
    """`queryset` narrowed to the request's fleets (unchanged when it may read every fleet)."""
    fleets = fleets_allowed(request)
    return queryset if fleets is None else queryset.filter(**{f"{field}__in": fleets})
