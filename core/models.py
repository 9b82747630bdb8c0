import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class ApiKeyScope(models.TextChoices):
    INGEST = "ingest", "ingest (devices post telemetry)"
    BENCHMARKS_WRITE = "benchmarks:write", "benchmarks:write (lab CI posts runs)"
    READ = "read", "read (read API)"
    ROLLOUTS_WRITE = "rollouts:write", "rollouts:write (release tooling)"


KEY_PREFIX_LENGTH = 8


def api_key_hash(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is as strong as a slow one here.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_generate() -> tuple[str, str]:
    """Returns (prefix, raw_key); the raw key is shown once and never stored."""
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    return prefix, f"ep_{prefix}_{secrets.token_urlsafe(32)}"


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A hashed API key with scopes, optionally bound to one fleet or one device."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=KEY_PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of: ingest, benchmarks:write, read, rollouts:write")
    fleet = models.CharField(max_length=100, blank=True, help_text="Bind the key to one fleet (optional)")
    device_uid = models.CharField(max_length=128, blank=True, help_text="Bind the key to one device (optional)")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_device_key(self) -> bool:
        return bool(self.device_uid)

    def has_scope(self, scope: str) -> bool:
        # A device key can never read data, whatever scopes it was given (API.md).
        if scope == ApiKeyScope.READ and self.is_device_key:
            return False
        return scope in self.scopes

    def clean(self) -> None:
        valid = set(ApiKeyScope.values)
        if not isinstance(self.scopes, list) or not self.scopes:
            raise ValidationError({"scopes": "Give at least one scope."})
        unknown = sorted(set(self.scopes) - valid)
        if unknown:
            raise ValidationError({"scopes": f"Unknown scope(s) {unknown}; valid: {sorted(valid)}."})
        if self.device_uid and ApiKeyScope.READ in self.scopes:
            raise ValidationError({"scopes": "A device-bound key cannot have the read scope."})


class SloKpi(models.TextChoices):
    P95_LATENCY_MS = "p95_latency_ms", "p95 latency (ms), per tier"
    CRASH_FREE_SESSIONS = "crash_free_sessions", "crash-free sessions (fraction)"
    UNSUPPORTED_CRASH_FREE_FLOOR = "unsupported_crash_free_floor", "crash-free floor below which a cell is unsupported"
    ERRORS_PER_1K = "errors_per_1k", "inference errors per 1,000 inferences"
    ACCELERATOR_UTILIZATION = "accelerator_utilization", "accelerator utilization (fraction)"
    MEMORY_BUDGET_FRACTION = "memory_budget_fraction", "p95 peak RSS as a fraction of the device budget"
    MIN_SAMPLE_SESSIONS = "min_sample_sessions", "sessions needed before a KPI counts"
    BENCHMARK_CV = "benchmark_cv", "benchmark reproducibility (max coefficient of variation)"


class SloTarget(models.Model):
    """An admin's override of one KPI target (optionally for one device tier); defaults live in core.slo."""

    kpi = models.CharField(max_length=40, choices=SloKpi.choices)
    tier = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=[(1, "Tier 1"), (2, "Tier 2"), (3, "Tier 3")]
    )
    value = models.FloatField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "SLO target"
        constraints = [
            models.UniqueConstraint(fields=["kpi", "tier"], name="slotarget_unique_kpi_tier"),
            models.UniqueConstraint(
                fields=["kpi"], condition=models.Q(tier__isnull=True), name="slotarget_unique_kpi_all_tiers"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kpi_display()}{f' (tier {self.tier})' if self.tier else ''} = {self.value}"


class FleetLimit(models.Model):
    """Limits a user to the devices of some fleets (set by an admin). Without one, a user's role covers every fleet.

    Fleet-wide figures (KPIs, crash groups, the matrix's field evidence, rollouts) are summed over all fleets, so a
    limited user — like a fleet-bound read key — reads device-level data of their fleets only, and no aggregate."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fleet_limit")
    fleets = models.JSONField(default=list, help_text='The fleets this user may read, e.g. ["acme-retail"]')

    def __str__(self) -> str:
        return f"{self.user} limited to {', '.join(self.fleets) or 'no fleet'}"

    def clean(self) -> None:
        if not isinstance(self.fleets, list) or not all(isinstance(f, str) and f.strip() for f in self.fleets):
            raise ValidationError({"fleets": "A list of fleet names."})
