"""Redirects to a user-supplied `next` stay on this site."""

import pytest
from django.test import RequestFactory

from core.redirects import redirect_back


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/compat/?tier=1", "/compat/?tier=1"),
        ("https://evil.example/", "/fallback/"),
        ("//evil.example/", "/fallback/"),
        ("/\\evil.example/", "/fallback/"),
        ("javascript:alert(1)", "/fallback/"),
        ("", "/fallback/"),
    ],
)
def test_next_is_followed_only_to_this_site(target, expected):
    request = RequestFactory().post("/x/", {"next": target})

    assert redirect_back(request, "/fallback/")["Location"] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_login_ignores_a_next_on_another_site(client, admin_user_role, settings, login_url):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin_user_role.set_password("correct horse battery")
    admin_user_role.save()

    response = client.post(
        f"{login_url}?next=https://evil.example/", {"username": "admin-ada", "password": "correct horse battery"}
    )

    assert response.status_code == 302 and "evil.example" not in response["Location"]
