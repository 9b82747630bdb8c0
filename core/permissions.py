"""API permissions: API keys by scope, logged-in users by role (least privilege for both)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .fleets import FLEET_LIMITED_MESSAGE, fleets_allowed
from .models import ApiKey, ApiKeyScope
from .roles import user_role


def _api_key(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class CanRead(BasePermission):
    """Read API: a key with the `read` scope (never a device key), or a logged-in user with a role."""

    message = "This credential cannot read data: it needs the 'read' scope or a user role."

    def has_permission(self, request, view) -> bool:
        api_key = _api_key(request)
        if api_key is not None:
            if api_key.is_device_key:
                self.message = "A device-bound API key can never read data."
            allowed = request.method in SAFE_METHODS and api_key.has_scope(ApiKeyScope.READ)
        else:
            allowed = request.method in SAFE_METHODS and user_role(request.user) is not None
        if allowed and fleets_allowed(request) is not None and not getattr(view, "fleet_scoped", False):
            self.message = FLEET_LIMITED_MESSAGE
            return False
        return allowed


def read_permitted(permission: BasePermission, request, view) -> bool:
    """CanRead's answer for another permission class that reads as the read API, its message carried over."""
    reader = CanRead()
    allowed = reader.has_permission(request, view)
    permission.message = reader.message
    return allowed


def scope_required(scope: str, *, user_permission: str | None = None) -> type[BasePermission]:
    """A permission class: API keys need `scope`; users need `user_permission` (None: keys only)."""

    class ScopeRequired(BasePermission):
        message = f"This API key lacks the '{scope}' scope."

        def has_permission(self, request, view) -> bool:
            api_key = _api_key(request)
            if api_key is not None:
                return api_key.has_scope(scope)
            if user_permission is None:
                self.message = "Only API keys may call this endpoint."
                return False
            self.message = f"Your role does not allow this (needs {user_permission})."
            return request.user.is_authenticated and request.user.has_perm(user_permission)

    ScopeRequired.__name__ = f"ScopeRequired_{scope.replace(':', '_')}"
    return ScopeRequired


def user_permission_required(permission: str) -> type[BasePermission]:
    """A permission class for write actions of people (triage, override): API keys never pass."""

    class UserPermissionRequired(BasePermission):
        message = f"Your role does not allow this (needs {permission})."

        def has_permission(self, request, view) -> bool:
            if _api_key(request) is not None:
                self.message = "API keys cannot perform this action; sign in as a user with the right role."
                return False
            return request.user.is_authenticated and request.user.has_perm(permission)

    UserPermissionRequired.__name__ = f"UserPermissionRequired_{permission.replace('.', '_')}"
    return UserPermissionRequired


class ReadOrUserPermission(BasePermission):
    """For ModelViewSets: reads as CanRead; writes need the model's Django change/add/delete permission."""

    method_actions = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return read_permitted(self, request, view)
        if _api_key(request) is not None:
            return False
        model = view.get_queryset().model
        action = self.method_actions.get(request.method)
        return bool(action) and request.user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
