"""The batch pass of ingest resolves each event's stack and corrects its time once: the rows, the rejections and the
device's first/last seen must agree with a reckoning from the raw events (a skewed clock, rejected events at the
extremes of time, UTC offsets other than Z)."""

from datetime import datetime, timedelta

import pytest

from telemetry.models import ClockFlag, CrashReport, Device, InferenceSession
from tests.telemetry.ingest_factories import batch, crash, now, post, session

pytestmark = pytest.mark.django_db


def test_rejected_events_at_the_extremes_of_time_never_widen_first_and_last_seen(client, raw_key):
    received = now()
    skew = timedelta(hours=3)  # the device clock is 3 h behind: every stored time is shifted by +3 h
    device_times = [received - skew - timedelta(minutes=m) for m in (50, 40, 30, 20)]
    events = [
        session(at=device_times[0] - timedelta(hours=5), delegate="npu-unknown"),  # earliest, rejected
        session(at=device_times[0]),
        crash(at=device_times[1]),
        session(at=device_times[2]),
        crash(at=device_times[3] + timedelta(minutes=9), model="no-such-model"),  # latest, rejected
        crash(at=device_times[3]),
    ]
    sent_at = received - skew
    body = post(client, raw_key, batch(events, sent_at=sent_at)).json()

    assert [(item["index"], sorted(item["errors"])) for item in body["rejected"]] == [(0, ["delegate"]), (4, ["model"])]
    assert body["accepted"] == 4
    stored = {(row.session_id, "session"): row for row in InferenceSession.objects.all()}
    stored |= {(row.session_id, "crash"): row for row in CrashReport.objects.all()}
    kept = [event for index, event in enumerate(events) if index not in (0, 4)]
    assert set(stored) == {(event["session_id"], event["type"]) for event in kept}
    # The shift is the server's receive time minus sent_at (a few seconds more than `skew` on a slow machine).
    shift = next(iter(stored.values())).received_at - sent_at
    assert abs(shift - skew) < timedelta(minutes=1)
    for event in kept:  # each stored time is the raw device time plus the shift, flagged shifted
        row = stored[(event["session_id"], event["type"])]
        sent = datetime.fromisoformat(event["started_at" if event["type"] == "session" else "occurred_at"])
        at = row.started_at if event["type"] == "session" else row.occurred_at
        assert at == sent + shift and row.clock_offset_s == shift.total_seconds()
        assert row.clock_flag == ClockFlag.SHIFTED
    device = Device.objects.get(uid="pixel8-000042")
    assert device.first_seen_at == datetime.fromisoformat(kept[0]["started_at"]) + shift
    assert device.last_seen_at == datetime.fromisoformat(kept[-1]["occurred_at"]) + shift


@pytest.mark.parametrize("offset", ["+02:00", "-05:30", "+15:59", "+00:00"])
def test_times_with_a_utc_offset_are_stored_at_their_instant(client, raw_key, offset):
    instant = now().replace(microsecond=0) - timedelta(minutes=30)
    sign, hours, minutes = offset[0], int(offset[1:3]), int(offset[4:6])
    shift = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
    local = (instant + shift).replace(tzinfo=None).isoformat() + offset
    body = post(client, raw_key, batch([session(started_at=local), crash(occurred_at=local)])).json()

    assert (body["accepted"], body["rejected"]) == (2, [])
    assert InferenceSession.objects.get().started_at == instant
    assert CrashReport.objects.get().occurred_at == instant
