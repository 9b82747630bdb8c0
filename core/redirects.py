"""Redirects to a URL the user supplied (`next=`) go only to this site."""

from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_back(request, fallback: str, *, field: str = "next"):
    """Redirect to `request.POST/GET[field]` when it is a URL of this site, else to `fallback` (a URL or view name)."""
    target = request.POST.get(field) or request.GET.get(field)
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)
