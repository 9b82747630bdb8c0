from rest_framework.routers import DefaultRouter

from . import views

app_name = "compat-api"
router = DefaultRouter()
router.register("device-models", views.DeviceModelViewSet, basename="device-model")
router.register("runtimes", views.RuntimeViewSet, basename="runtime")
router.register("runtime-versions", views.RuntimeVersionViewSet, basename="runtime-version")
router.register("delegates", views.DelegateViewSet, basename="delegate")
router.register("models", views.MLModelViewSet, basename="model")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("entries", views.CompatEntryViewSet, basename="entry")
urlpatterns = router.urls
