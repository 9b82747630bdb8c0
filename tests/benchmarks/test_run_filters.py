"""The runs filters pick catalog rows from lists (one or several per field), the same on the page and the API."""

import pytest

from .conftest import make_run


@pytest.fixture
def runs(catalog):
    return [make_run(day=0, mean=10.0), make_run(day=1, mean=11.0, delegate="xnnpack"), make_run(day=2, mean=12.0)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"delegate": "gpu"}, [0, 2]),
        ({"delegate": ["gpu", "xnnpack"]}, [0, 1, 2]),
        ({"delegate": "xnnpack", "model": "mobilenet-v3"}, [1]),
        ({"model": ["mobilenet-v3", "tinymlp"], "runtime": "tflite", "device_model": "google-pixel-8"}, [0, 1, 2]),
        ({"model": "tinymlp"}, []),
    ],
)
def test_catalog_filters_take_one_or_several_slugs(client, viewer_user, runs, params, expected):
    client.force_login(viewer_user)

    response = client.get("/benchmarks/", params)

    assert sorted(run.id for run in response.context["page"].object_list) == sorted(runs[i].id for i in expected)


def test_the_catalog_filters_render_as_multi_selects_with_every_choice(client, viewer_user, runs):
    client.force_login(viewer_user)

    html = client.get("/benchmarks/", {"delegate": "gpu"}).content.decode()

    assert '<select name="delegate" id="id_delegate" multiple>' in html
    assert '<option value="gpu" selected>gpu</option>' in html and '<option value="xnnpack">xnnpack</option>' in html
    assert '<select name="device_model" id="id_device_model" multiple>' in html
    assert '<option value="google-pixel-8">Google Pixel 8</option>' in html


def test_an_unknown_slug_is_an_invalid_filter_on_the_page_and_a_400_in_the_api(client, viewer_user, runs):
    client.force_login(viewer_user)

    page = client.get("/benchmarks/", {"delegate": "nnapi"})
    api = client.get("/api/v1/benchmarks/runs/", {"model": "no-such-model"})

    assert "Invalid filter" in page.content.decode()
    assert api.status_code == 400
