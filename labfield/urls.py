from django.urls import path

from . import views

app_name = "labfield"
urlpatterns = [
    path("gaps/", views.gaps, name="gaps"),
    path("gaps.csv", views.gaps_csv, name="gaps-csv"),
    path("drift/", views.drift, name="drift"),
    path("drift.csv", views.drift_csv, name="drift-csv"),
    path("thermal/", views.thermal, name="thermal"),
    path("thermal.csv", views.thermal_csv, name="thermal-csv"),
    path("coverage/", views.coverage, name="coverage"),
    path("coverage.csv", views.coverage_csv, name="coverage-csv"),
]
