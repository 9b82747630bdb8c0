from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import AssignmentView, RolloutViewSet

app_name = "rollouts-api"
router = SimpleRouter()
router.register("", RolloutViewSet, basename="rollout")
# before the router: "assignment" must not be read as a rollout id
urlpatterns = [path("assignment/", AssignmentView.as_view(), name="assignment"), *router.urls]
