from core.roles import user_role

from .accounts import password_reset_enabled

NAVIGATION = (
    ("home", "Home", "/"),
    ("compat", "Compatibility", "/compat/"),
    ("fleet", "Fleet", "/fleet/"),
    ("crashes", "Crashes", "/crashes/"),
    ("benchmarks", "Benchmarks", "/benchmarks/"),
    ("rollouts", "Rollouts", "/rollouts/"),
    ("releases", "Releases", "/releases/"),
)


def navigation(request):
    path = request.path
    current = next((key for key, _, url in reversed(NAVIGATION) if url != "/" and path.startswith(url)), "home")
    return {
        "navigation": NAVIGATION,
        "nav_current": current,
        "user_role": user_role(request.user),
        "password_reset_enabled": password_reset_enabled(),
    }
