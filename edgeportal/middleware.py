from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponseBadRequest, JsonResponse


class LoginRequiredPagesMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers 401/403 itself, and probes and static files are public."""

    open_prefixes = ("/api/", "/healthz", "/readyz", "/static/", "/accounts/login/")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


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
