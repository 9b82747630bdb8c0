from rest_framework.routers import DefaultRouter

from .views import BenchmarkRunViewSet, RegressionViewSet

app_name = "benchmarks-api"
router = DefaultRouter()
router.register("runs", BenchmarkRunViewSet, basename="run")
router.register("regressions", RegressionViewSet, basename="regression")
urlpatterns = router.urls
