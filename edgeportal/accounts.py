"""Account pages: Django's auth views, with password reset only where mail is configured.

Without EMAIL_HOST a reset mail could never arrive, and the form's timing (a mail rendered and sent only for
addresses that exist) told which addresses have an account: the reset URLs are then 404. With mail, the view
only queues the lookup-and-send (edgeportal.tasks.password_reset_mail_send) and answers the same redirect for
every address, so its timing does not depend on whether the account exists.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import path


def password_reset_enabled() -> bool:
    return bool(settings.EMAIL_HOST)


def _when_mail_configured(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not password_reset_enabled():
            raise Http404("Password reset is off: no mail server is configured.")
        return view(request, *args, **kwargs)

    return login_not_required(wrapper)


class PasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        from .tasks import password_reset_mail_send

        email = form.cleaned_data["email"]
        domain, use_https = self.request.get_host(), self.request.is_secure()
        transaction.on_commit(lambda: password_reset_mail_send.delay(email=email, domain=domain, use_https=use_https))
        return HttpResponseRedirect(self.get_success_url())


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", _when_mail_configured(PasswordResetView.as_view()), name="password_reset"),
    path(
        "password_reset/done/",
        _when_mail_configured(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        _when_mail_configured(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        _when_mail_configured(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]
