from django.urls import path

from . import views

app_name = "labfield"
urlpatterns = [
    path("gaps/", views.gaps, name="gaps"),
    path("gaps.csv", views.gaps_csv, name="gaps-csv"),
]
