from django.urls import path

from .views import CoverageGapListView, GapDetailView, GapListView, ThermalListView

app_name = "labfield-api"
urlpatterns = [
    path("gaps/", GapListView.as_view(), name="gaps"),
    path("gaps/<int:cell_id>/", GapDetailView.as_view(), name="gap"),
    path("thermal/", ThermalListView.as_view(), name="thermal"),
    path("coverage-gaps/", CoverageGapListView.as_view(), name="coverage-gaps"),
]
