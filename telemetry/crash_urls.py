from django.urls import path

from .support import views as support_views

app_name = "crashes"
urlpatterns = [
    path("", support_views.crash_group_list, name="list"),
    path("export.<str:fmt>", support_views.crash_group_export, name="export"),
    path("<int:pk>/", support_views.crash_group_detail, name="detail"),
    path("<int:pk>/triage/", support_views.crash_group_triage, name="triage"),
]
