from django.urls import path

from . import crash_views

app_name = "crashes"
urlpatterns = [
    path("", crash_views.crash_group_list, name="list"),
    path("<int:pk>/", crash_views.crash_group_detail, name="detail"),
    path("<int:pk>/triage/", crash_views.crash_group_triage, name="triage"),
]
