from django.urls import path

from . import views

app_name = "compat"
urlpatterns = [
    path("", views.matrix, name="matrix"),
    path("cell/<int:pk>/", views.cell, name="cell"),
    path("changes/", views.changes, name="changes"),
    path("changes/export.<str:fmt>", views.changes_export, name="changes-export"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("export.json", views.export_json, name="export-json"),
]
