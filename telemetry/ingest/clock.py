"""A batch's device clock (API.md): shifted by sent_at when it is off by more than 55 minutes, clamped to now."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from ..models import ClockFlag
from . import wire

CLOCK_SHIFT_THRESHOLD = timedelta(minutes=55)
FUTURE_TOLERANCE = timedelta(seconds=60)


@dataclass(slots=True)
class Clock:
    """A batch's device clock: the shift from sent_at, and the window device times are clamped to."""

    received_at: datetime
    offset: timedelta
    oldest: datetime
    offset_s: float = 0.0
    # Per batch, not per event (called for every event): the latest accepted time and the unclamped flag.
    latest: datetime | None = None
    flag: str = ClockFlag.OK

    def __post_init__(self) -> None:
        self.offset_s = self.offset.total_seconds()
        self.latest = self.received_at + FUTURE_TOLERANCE
        self.flag = ClockFlag.SHIFTED if self.offset else ClockFlag.OK

    def correct(self, device_time: datetime) -> tuple[datetime, str, float]:
        """(time, flag, seconds added): the device time is always `time - seconds added`, clamped or not."""
        try:
            corrected = device_time + self.offset
        except OverflowError:  # shifted past year 1 or 9999: as far from now as a time can be
            corrected = self.oldest - timedelta(days=1)
        if corrected > self.latest or corrected < self.oldest:
            return self.received_at, ClockFlag.CLAMPED, (self.received_at - device_time).total_seconds()
        return corrected, self.flag, self.offset_s


MAX_CLOCK_SHIFT = timedelta(days=100 * 366)  # a reset clock says 1970; year 9999 is no clock at all


def device_clock(*, sent_at: datetime | None, received_at: datetime) -> Clock:
    if wire.offset_out_of_range(sent_at):
        raise wire.EnvelopeError(f"sent_at has a {wire.OFFSET_ERROR}", {"sent_at": [wire.OFFSET_ERROR]})
    if sent_at is not None and abs(received_at - sent_at) > MAX_CLOCK_SHIFT:
        error = "more than 100 years from the server's clock"
        raise wire.EnvelopeError(f"sent_at is {error}", {"sent_at": [error]})
    offset = timedelta(0)
    if sent_at is not None and abs(received_at - sent_at) > CLOCK_SHIFT_THRESHOLD:
        offset = received_at - sent_at
    return Clock(received_at, offset, received_at - timedelta(days=settings.RAW_RETENTION_DAYS))
