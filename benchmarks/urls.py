from django.urls import path

from . import views

app_name = "benchmarks"
urlpatterns = [
    path("", views.runs_list, name="runs"),
    path("upload/", views.run_upload, name="upload"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/artifact/", views.artifact_download, name="artifact"),
    path("runs/<int:run_id>/baseline/", views.baseline_toggle, name="baseline"),
    path("compare/", views.compare, name="compare"),
    path("compare/runs/", views.compare_runs, name="compare-runs"),
    path("regressions/", views.regressions, name="regressions"),
    path("regressions/<int:regression_id>/triage/", views.regression_triage_view, name="triage"),
]
