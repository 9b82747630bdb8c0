"""Device activity: which devices were active, per UTC day and per hour, for exact distinct-device counts over any
range without reading raw sessions (kpi/reads.py: whole days from the day rows, partial-day edges from the hour
rows); kept by the hourly rollup."""

from django.db import models

from .rollups import COHORT_FIELDS, CohortColumns


class DailyModelVersionDevices(models.Model):
    """Distinct devices that ran a model version on a UTC day (exact): adoption without scanning DeviceActivityDay."""

    day = models.DateField()
    model_version = models.ForeignKey("compat.ModelVersion", on_delete=models.CASCADE, related_name="+", db_index=False)
    devices = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model_version"], name="dailymodelversiondevices_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} model version {self.model_version_id}: {self.devices}"


class DeviceActivityDay(CohortColumns):
    """A device was active in a cohort on a UTC day: exact distinct-device counts across days without raw scans."""

    day = models.DateField()
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "device", *[f.removesuffix("_id") for f in COHORT_FIELDS]],
                name="deviceactivityday_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["day", "device_model", "model_version"], name="deviceactivity_day_idx"),
            # Unfiltered distinct-device counts over a range read only this index (index-only scan).
            models.Index(fields=["day", "device"], name="deviceactivity_day_device_idx"),
            # Distinct devices per device model over many days: one probe per DeviceModelDevice pair (EXISTS).
            models.Index(fields=["device", "device_model", "day"], name="deviceactivity_dev_dm_day_idx"),
            # One cell's or one cohort's distinct devices over days (a regression's field impact, the fleet page's
            # cohort counts): a range of this index alone, not every row of the days.
            models.Index(
                fields=["device_model", "model_version", "runtime_version", "delegate", "day", "device"],
                name="deviceactivity_cell_day_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} on {self.day}"


class DeviceLackingDay(models.Model):
    """A device sent a session lacking a KPI field on a UTC day: observability coverage over days without raw scans."""

    day = models.DateField()
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "device"], name="devicelackingday_unique")]

    def __str__(self) -> str:
        return f"{self.device_id} lacked a KPI field on {self.day}"


class DeviceModelDevice(models.Model):
    """A device was active as this device model (in practice one row per device), recorded by the hourly rollup.

    Distinct devices per device model (or fleet-wide) over a range probe each pair's DeviceActivityDay rows for one
    day in the range (an index seek each): the cost follows the number of devices, not devices × days.
    """

    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)
    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "device_model"], name="devicemodeldevice_unique")]

    def __str__(self) -> str:
        return f"{self.device_id} as device model {self.device_model_id}"


class DeviceActivityHour(CohortColumns):
    """A device was active in a cohort in a UTC hour: the partial-day edges of a range count their distinct devices
    from these (as the hour's rollup saw it), not from the edge's raw sessions, which a trailing window's rebuild
    re-read at every rollup run (up to two days of sessions). Kept while raw sessions are."""

    hour = models.DateTimeField()
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "device", *[f.removesuffix("_id") for f in COHORT_FIELDS]],
                name="deviceactivityhour_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} at {self.hour:%Y-%m-%d %H:00}"


class DeviceLackingHour(models.Model):
    """A device sent a session lacking a KPI field in a UTC hour: observability coverage's partial-day edges."""

    hour = models.DateTimeField()
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "device"], name="devicelackinghour_unique")]

    def __str__(self) -> str:
        return f"{self.device_id} lacked a KPI field at {self.hour:%Y-%m-%d %H:00}"
