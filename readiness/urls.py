from django.urls import path

from . import views

app_name = "readiness"
urlpatterns = [
    path("", views.release_list, name="list"),
    path("cells/<int:pk>/card/", views.cell_card, name="cell-card"),
    path("<slug:model>/<str:version>/", views.release_detail, name="release"),
    path("<slug:model>/<str:version>/export.<str:fmt>", views.release_export, name="export"),
]
