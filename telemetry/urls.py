from django.urls import path

from . import crash_views, views

app_name = "fleet"
urlpatterns = [
    path("", views.fleet_health, name="health"),
    path("compare/", views.release_compare, name="compare"),
    path("devices/", crash_views.device_search, name="devices"),
    path("devices/<str:uid>/", crash_views.device_detail, name="device"),
]
