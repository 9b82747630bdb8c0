"""EdgePortal settings: one module, every knob from the environment through the strict helpers of edgeportal/env.py."""

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from edgeportal.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (production refuses a default key)")
    # A per-process key: sessions do not survive a restart of the demo, which is fine for development.
    SECRET_KEY = "dev-" + secrets.token_urlsafe(40)
elif not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "core",
    "edgeportal",
    "compat",
    "telemetry",
    "benchmarks",
    "protocols",
    "rollouts",
    "readiness",
    "labfield",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Around everything that reads: decides, per request, whether its reads may use the read replica.
    "edgeportal.middleware.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "edgeportal.middleware.NulQueryValueMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "protocols.middleware.IngestCountersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "edgeportal.middleware.SecurityHeadersMiddleware",
    "edgeportal.middleware.SessionTimeoutMiddleware",
    "edgeportal.middleware.LoginRequiredPagesMiddleware",
    "edgeportal.middleware.FleetLimitedPagesMiddleware",
    # Last, as django-axes asks: turns a locked-out login attempt into its lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "edgeportal.urls"
WSGI_APPLICATION = "edgeportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "edgeportal.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo runs web, in-process tasks and the simulator on one file: wait on locks, don't fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Prepare what server-binding cursors run, at first use, with a plan made once (telemetry/statements.py: the
    # ingest path's per-batch statements; a custom plan per run would cost what preparing saves). Django's own
    # cursors bind client-side and never prepare, so neither setting touches them.
    options = DATABASES["default"].setdefault("OPTIONS", {})  # keeps what the URL set (sslmode, …)
    options["prepare_threshold"] = 0
    options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# A streaming read replica for dashboards, exports and the read API (edgeportal/replica.py says which reads).
# Unset: no `replica` alias, and the router routes nothing.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    if not IS_POSTGRES:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL (SQLite has no replica)")
    try:
        replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a usable database URL: {exc}") from None
    if replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a PostgreSQL URL (a streaming standby)")
    replica["CONN_HEALTH_CHECKS"] = True
    # A dead replica costs a page at most this long once per lag check, then pages read the primary.
    replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    # Tests run on the primary's test database through this alias (pytest-django never creates or migrates it).
    replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = replica
DATABASE_ROUTERS = ["edgeportal.replica.ReplicaRouter"]
# Read-your-own-writes: after a POST/PUT/PATCH/DELETE a client reads the primary for this long (a signed cookie).
REPLICA_PIN_S = env_int("REPLICA_PIN_S", 10, minimum=1)
# A replica further behind than this is skipped (reads go to the primary) until it catches up.
REPLICA_MAX_LAG_S = env_int("REPLICA_MAX_LAG_S", 30, minimum=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Short socket timeouts: an unreachable Redis costs a request ≤ 0.5 s, then the caller degrades (rate limiter).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked
# for LOGIN_LOCKOUT_S (both login pages, /accounts/login/ and /admin/login/, go through authenticate()). Counted in
# the database, so a cache outage neither opens nor locks the door. Username and address together: a guesser
# cannot lock a colleague out from elsewhere. Behind a proxy every address is the proxy's, which leaves a
# per-username lockout: still a bound on guessing.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_S", 15 * 60, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Sessions: signed out after SESSION_IDLE_TIMEOUT_S without a request, and SESSION_ABSOLUTE_TIMEOUT_S after
# signing in whatever the activity (edgeportal.middleware.SessionTimeoutMiddleware); the cookie lives no longer.
SESSION_IDLE_TIMEOUT_S = env_int("SESSION_IDLE_TIMEOUT_S", 30 * 60, minimum=60)
SESSION_ABSOLUTE_TIMEOUT_S = env_int("SESSION_ABSOLUTE_TIMEOUT_S", 12 * 3600, minimum=60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_S

# Mail: only for password reset, which is off (its URLs 404) unless EMAIL_HOST is set (edgeportal/accounts.py).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "edgeportal@localhost")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "edgeportal.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
# Raw ingest bodies are capped by the API contract (5 MiB after decompression); artifacts by this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024, minimum=1024)

# Security: safe by default, relaxed only by DEBUG or explicit environment.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
# Health probes come from the load balancer over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous API request gets 401 with a Bearer challenge, not 403.
        "core.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.CanRead"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_RATES": {"ingest": env_str("INGEST_RATE", "600/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EdgePortal API",
    "DESCRIPTION": "Device telemetry ingest, compatibility matrix, lab benchmarks and fleet KPIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: a nullable nested object is oneOf [object, null], which validators read as meant (3.0's nullable beside
    # allOf is read as "an object" by some).
    "OAS_VERSION": "3.1.0",
    # Several models have a "status"; name each choice set after its domain concept.
    "ENUM_NAME_OVERRIDES": {
        "CompatStatusEnum": "compat.models.CompatStatus",
        "RunStatusEnum": "benchmarks.models.RunStatus",
        "RegressionStatusEnum": "benchmarks.models.RegressionStatus",
        "CrashGroupStatusEnum": "telemetry.models.CrashGroupStatus",
        "AlertStatusEnum": "telemetry.models.AlertStatus",
        "DelegateKindEnum": "compat.models.DelegateKind",
        "CrashKindEnum": "telemetry.models.CrashKind",
        "StatusChangeKindEnum": "compat.models.CompatStatusChange.Kind",
    },
    # The device contract is public: integrators read it before they have a key.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.error_responses_add",
    ],
}

# Celery: without a broker, tasks run in process (the embedded demo); with one, on real workers.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "edgeportal")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request never waits on a dead broker: one attempt, ≤ 1 s. The dirty-hour mark is in the
# database, so a message that could not be sent is picked up by the next batch's re-queue or the beat sweep.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1, "max_retries": 0}
CELERY_TASK_PUBLISH_RETRY = False

# Telemetry knobs (API.md / DESIGN.md).
RAW_RETENTION_DAYS = env_int("RAW_RETENTION_DAYS", 30, minimum=1)
# PostgreSQL: day partitions of the raw tables are created this many days ahead (docs/partitioning.md).
RAW_PARTITIONS_AHEAD_DAYS = env_int("RAW_PARTITIONS_AHEAD_DAYS", 7, minimum=1)
# Lab coverage counts a lab run this recent (days) as covering the fleet pairs it matches.
LAB_COVERAGE_DAYS = env_int("LAB_COVERAGE_DAYS", 90, minimum=1)
# Lab-vs-field gap (docs/lab-field.md): a cell is flagged when its field p95 over the last 7 days is more than
# LAB_FIELD_GAP_RATIO × the lab's p95, over at least LAB_FIELD_MIN_SESSIONS field sessions (fewer are noise). The
# lab's figure is the median of the cell's latest LAB_FIELD_LAB_RUNS successful runs of the last LAB_FIELD_LAB_DAYS.
LAB_FIELD_GAP_RATIO = env_float("LAB_FIELD_GAP_RATIO", 1.5, minimum=1.0)
LAB_FIELD_MIN_SESSIONS = env_int("LAB_FIELD_MIN_SESSIONS", 100, minimum=1)
LAB_FIELD_LAB_RUNS = env_int("LAB_FIELD_LAB_RUNS", 5, minimum=1)
LAB_FIELD_LAB_DAYS = env_int("LAB_FIELD_LAB_DAYS", 90, minimum=1)
# Delegate-fallback drift (docs/lab-field.md): a part of a cell (all of it, an OS / app / firmware version) drifts when
# its field accelerated fraction over the last 7 days is more than LAB_FIELD_DRIFT_POINTS percentage points below
# the lab's, over at least LAB_FIELD_DRIFT_MIN_SESSIONS sessions.
LAB_FIELD_DRIFT_POINTS = env_float("LAB_FIELD_DRIFT_POINTS", 10.0, minimum=0.0)
LAB_FIELD_DRIFT_MIN_SESSIONS = env_int("LAB_FIELD_DRIFT_MIN_SESSIONS", 50, minimum=1)
# Session thermal states that count as throttled: iOS ProcessInfo.ThermalState (serious, critical) and Android
# PowerManager's thermal status (moderate and worse); "nominal", "fair", "none", "light" run at full speed.
LAB_FIELD_THROTTLED_STATES = [
    state.lower()
    for state in env_list(
        "LAB_FIELD_THROTTLED_STATES", ["serious", "critical", "moderate", "severe", "emergency", "shutdown"]
    )
]
# The largest benchmark artifact an upload may carry (bytes); larger files are a 400 and nothing is stored.
BENCHMARK_ARTIFACT_MAX_BYTES = env_int("BENCHMARK_ARTIFACT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# An hour that keeps receiving events is recomputed at most this often (rollup lag target: < 60 s).
ROLLUP_REQUEUE_DELAY_S = env_int("ROLLUP_REQUEUE_DELAY_S", 10, minimum=0)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
INGEST_MAX_EVENTS = env_int("INGEST_MAX_EVENTS", 1000, minimum=1)
# /metrics (protocols/prometheus.py): scraped with a `read` key, or from these addresses/CIDRs without one.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is not an IP address or CIDR") from None
METRICS_TOP_COHORTS = env_int("METRICS_TOP_COHORTS", 20, minimum=1)
# New catalog versions (model or runtime) one API key may register per UTC day; beyond it events are rejected.
INGEST_NEW_VERSIONS_PER_DAY = env_int("INGEST_NEW_VERSIONS_PER_DAY", 20, minimum=0)

# Rollouts (API.md Rollouts, docs/rollouts.md): how long a device may keep an assignment, and the share of rollouts
# of a candidate that behaves like its baseline allowed to fail a guardrail anyway (spent over every test).
ROLLOUT_ASSIGNMENT_TTL_S = env_int("ROLLOUT_ASSIGNMENT_TTL_S", 3600, minimum=60)
ROLLOUT_FALSE_FAILURE_BUDGET = env_int("ROLLOUT_FALSE_FAILURE_PER_10K", 100, minimum=1) / 10_000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
