from django.urls import path

from .views import CoverageGapListView, DriftDetailView, DriftListView, GapDetailView, GapListView, ThermalListView

app_name = "labfield-api"
urlpatterns = [
    path("gaps/", GapListView.as_view(), name="gaps"),
    path("gaps/<int:cell_id>/", GapDetailView.as_view(), name="gap"),
    path("drift/", DriftListView.as_view(), name="drift"),
    path("drift/<int:cell_id>/", DriftDetailView.as_view(), name="drift-cell"),
    path("thermal/", ThermalListView.as_view(), name="thermal"),
    path("coverage-gaps/", CoverageGapListView.as_view(), name="coverage-gaps"),
]
