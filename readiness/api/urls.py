from django.urls import path

from .views import CellReadinessView, ReleaseReadinessView

app_name = "readiness-api"
urlpatterns = [
    path("cells/<int:entry_id>/", CellReadinessView.as_view(), name="cell"),
    path("<slug:model>/<str:version>/", ReleaseReadinessView.as_view(), name="release"),
]
