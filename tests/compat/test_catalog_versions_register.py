import pytest

from compat.models import MLModel, ModelVersion, Runtime, RuntimeVersion
from compat.services import catalog_versions_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    tflite = Runtime.objects.create(slug="tflite", name="TFLite")
    RuntimeVersion.objects.create(runtime=tflite, version="2.16.1")
    yolo = MLModel.objects.create(slug="yolov8n", name="YOLOv8n", task="detection")
    ModelVersion.objects.create(ml_model=yolo, version="1.4.0")


def test_known_versions_resolve_and_unknown_versions_of_known_slugs_are_registered(catalog):
    rvs, mvs = catalog_versions_register(
        runtime_versions=[("tflite", "2.16.1"), ("tflite", "2.17.0")],
        model_versions=[("yolov8n", "1.4.0"), ("yolov8n", "1.5.0")],
    )
    assert set(rvs) == {("tflite", "2.16.1"), ("tflite", "2.17.0")}
    assert set(mvs) == {("yolov8n", "1.4.0"), ("yolov8n", "1.5.0")}
    assert RuntimeVersion.objects.count() == 2 and ModelVersion.objects.count() == 2


def test_unknown_slugs_are_left_out_and_nothing_is_created_for_them(catalog):
    rvs, mvs = catalog_versions_register(runtime_versions=[("nosuch", "1.0")], model_versions=[("ghost", "1")])
    assert rvs == {} and mvs == {}
    assert not RuntimeVersion.objects.filter(version="1.0").exists()


def test_registering_twice_is_idempotent(catalog):
    catalog_versions_register(runtime_versions=[("tflite", "2.18.0")])
    catalog_versions_register(runtime_versions=[("tflite", "2.18.0")])
    assert RuntimeVersion.objects.filter(version="2.18.0").count() == 1


def test_first_seen_version_takes_its_precision_from_its_name(catalog):
    _, mvs = catalog_versions_register(model_versions=[("yolov8n", "1.5.0-int8"), ("yolov8n", "1.5.0_fp16")])
    assert mvs[("yolov8n", "1.5.0-int8")].precision == "int8"
    assert mvs[("yolov8n", "1.5.0_fp16")].precision == "fp16"


def test_first_seen_version_without_a_precision_in_its_name_inherits_the_newest_versions(catalog):
    ModelVersion.objects.filter(version="1.4.0").update(precision="fp16", format="onnx")
    _, mvs = catalog_versions_register(model_versions=[("yolov8n", "1.6.0")])
    assert (mvs[("yolov8n", "1.6.0")].precision, mvs[("yolov8n", "1.6.0")].format) == ("fp16", "onnx")
