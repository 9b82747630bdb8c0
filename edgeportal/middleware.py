import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse

from core.fleets import FLEET_LIMITED_MESSAGE, FLEET_SCOPED_PAGES, fleets_allowed

from .replica import replica_configured, replica_reads, streamed_with_replica_reads

# Pages load scripts and styles only from this site; no plugin, no framing, forms post only here.
# style-src keeps 'unsafe-inline': Plotly sizes and positions its SVG through style attributes it writes at run
# time, and a chart's height is a style attribute (templates/includes/chart.html). Styles cannot run code;
# script-src stays 'self' (plotly.min.js needs no eval for the SVG traces we draw). data: images are Plotly's
# and Swagger UI's icons.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
# No page needs a device sensor, a camera or payments: deny them to anything that runs here.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)
SESSION_STARTED_KEY = "_edgeportal_started"
SESSION_SEEN_KEY = "_edgeportal_seen"
# A session's last activity is written at most this often: not one session write per page view.
SESSION_SEEN_GRANULARITY_S = 60


class LoginRequiredPagesMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers 401/403 itself, and probes and static files are public."""

    open_prefixes = ("/api/", "/healthz", "/readyz", "/static/", "/accounts/login/")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class FleetLimitedPagesMiddleware:
    """A user limited to some fleets opens only the pages and API views of their devices (core.fleets): every other
    page shows figures summed over all fleets, or changes them. API keys, authenticated inside DRF, get the same rule
    from core.permissions.CanRead."""

    def __init__(self, get_response):
        self.get_response = get_response

    open_prefixes = ("/healthz", "/readyz", "/static/", "/accounts/")

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.open_prefixes) or fleets_allowed(request) is None:
            return None
        if request.resolver_match is None or request.resolver_match.view_name not in FLEET_SCOPED_PAGES:
            raise PermissionDenied(FLEET_LIMITED_MESSAGE)
        return None


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response (Django 5.2 has neither built in)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def session_clock_start(sender, request, user, **kwargs) -> None:
    """At login: both clocks start, written with the login's own session save (no extra write on the next page)."""
    now = int(time.time())
    request.session[SESSION_STARTED_KEY] = request.session[SESSION_SEEN_KEY] = now


class SessionTimeoutMiddleware:
    """Signs a user out after SESSION_IDLE_TIMEOUT_S without a request, and SESSION_ABSOLUTE_TIMEOUT_S after login.

    Sliding idle expiry without saving the session on every request (SESSION_SAVE_EVERY_REQUEST would write the
    session row on each page and API call); the absolute cap bounds a stolen session cookie's use.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            session = request.session
            started = session.setdefault(SESSION_STARTED_KEY, now)
            seen = session.get(SESSION_SEEN_KEY, now)
            if now - seen > settings.SESSION_IDLE_TIMEOUT_S or now - started > settings.SESSION_ABSOLUTE_TIMEOUT_S:
                logout(request)  # the session is flushed; the page then redirects to the login, the API says 401/403
            elif SESSION_SEEN_KEY not in session or now - seen >= SESSION_SEEN_GRANULARITY_S:
                session[SESSION_SEEN_KEY] = now
        return self.get_response(request)


class NulQueryValueMiddleware:
    """A NUL character in a query value is a 400 naming the parameter: PostgreSQL text refuses it, so any view
    that filters on the value would otherwise fail with a 500 (the search box, every list filter)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted({name for name, values in request.GET.lists() for v in [name, *values] if "\x00" in v})
        if not bad:
            return self.get_response(request)
        message = "contains a NUL character (\\u0000)"
        if request.path.startswith("/api/"):
            detail = {name.replace("\x00", "\\u0000"): [message] for name in bad}
            return JsonResponse({"error": "query parameter " + message, "detail": detail}, status=400)
        names = ", ".join(name.replace("\x00", "\\u0000") for name in bad)
        return HttpResponseBadRequest(f"Bad request: the query parameter {names} {message}.", content_type="text/plain")


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# GETs that must see the primary's rows: an admin change form saves back what it shows (a stale row would undo a
# recent change), and a device's assignment must stop naming a rolled-back candidate at once.
PRIMARY_READ_PREFIXES = ("/admin/", "/api/v1/rollouts/assignment/")
PIN_COOKIE = "edgeportal_primary"


class ReplicaReadsMiddleware:
    """Pages, exports and read API calls read from the replica; a client that just wrote reads the primary.

    Read-your-own-writes is a signed cookie set on the response to any write and honoured for REPLICA_PIN_S: the
    user who just triaged is redirected to a page that shows the triage, whatever the replica's lag. Signed, with
    the age checked on read, so a client cannot pin itself to the primary for longer than its last write allows.
    No cookie jar (a device, a script with a bare key): reads lag by at most REPLICA_MAX_LAG_S.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        if request.method not in READ_METHODS:
            response = self.get_response(request)
            response.set_signed_cookie(
                PIN_COOKIE, "1", salt=PIN_COOKIE, max_age=settings.REPLICA_PIN_S,
                secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax",
            )  # fmt: skip
            return response
        if request.path.startswith(PRIMARY_READ_PREFIXES) or self.pinned(request):
            return self.get_response(request)
        with replica_reads():
            response = self.get_response(request)
        if response.streaming and not response.is_async:
            response.streaming_content = streamed_with_replica_reads(response.streaming_content)
        return response

    @staticmethod
    def pinned(request) -> bool:
        return request.get_signed_cookie(PIN_COOKIE, None, salt=PIN_COOKIE, max_age=settings.REPLICA_PIN_S) is not None
