from django.contrib.auth.middleware import LoginRequiredMiddleware


class LoginRequiredPagesMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers 401/403 itself, and probes and static files are public."""

    open_prefixes = ("/api/", "/healthz", "/readyz", "/static/", "/accounts/login/")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
