import pytest

pytestmark = pytest.mark.django_db

PAGES = ["/", "/compat/", "/fleet/", "/crashes/", "/benchmarks/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_page_request_redirects_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_every_menu_page_renders_for_a_viewer(client, viewer_user, url):
    client.force_login(viewer_user)
    response = client.get(url)
    assert response.status_code == 200
    assert b'aria-current="page"' in response.content


def test_wrong_password_shows_an_error_and_stays_on_login(client, viewer_user):
    response = client.post("/accounts/login/", {"username": "pm-paula", "password": "wrong"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_login_then_home(client, viewer_user):
    response = client.post("/accounts/login/", {"username": "pm-paula", "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_expired_session_redirects_to_login(client, viewer_user):
    client.force_login(viewer_user)
    client.session.flush()
    client.cookies.pop("sessionid", None)
    assert client.get("/").status_code == 302


def test_home_shows_real_counts_and_the_empty_state(client, viewer_user):
    from compat.models import DeviceModel

    DeviceModel.objects.create(slug="google-pixel-8", vendor="Google", name="Pixel 8", os_family="android")
    client.force_login(viewer_user)
    response = client.get("/")
    assert response.context["counts"]["device_models"] == 1
    assert b"Nothing reported yet" in response.content


def test_plotly_is_served_locally_from_the_plotly_package(client):
    from django.contrib.staticfiles import finders

    path = finders.find("vendor/plotly.min.js")
    assert path is not None and path.endswith("plotly/package_data/plotly.min.js")


def test_logout_is_a_post(client, viewer_user):
    client.force_login(viewer_user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
