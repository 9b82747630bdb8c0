"""Session partials: ingest sums each batch per hour × cohort; the hourly rollup merges those and reads raw only the
sessions no partial covers. The rollup must still equal the raw rows, exactly."""

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.test import override_settings

from edgeportal_client.histogram import ZERO_THRESHOLD_MS, bucket_key
from telemetry.models import HourlyRollup, HourlySessionPartial, InferenceSession
from telemetry.retention import raw_retention_enforce
from telemetry.rollup_models import COHORT_FIELDS
from telemetry.rollups import hour_floor, rollup_hours_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.ingest_factories import batch, crash, now, post, session
from tests.telemetry.rollup_factories import session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def raw_key(ingest_key, c):
    return ingest_key[1]


def _raw_truth(hour):
    """Per cohort, straight from the raw rows: what the hour's rollup must hold."""
    truth = defaultdict(lambda: {"sessions": 0, "crashed": 0, "inferences": 0, "errors": 0, "weighted": 0.0,
                                 "weight": 0, "latency": Counter(), "zero": 0, "rss": Counter(), "rss_zero": 0,
                                 "devices": set()})  # fmt: skip
    for s in InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + timedelta(hours=1)):
        t = truth[tuple(getattr(s, name) for name in COHORT_FIELDS)]
        t["sessions"] += 1
        t["crashed"] += s.has_crash
        t["inferences"] += s.inferences
        t["errors"] += s.errors
        if s.accelerated_fraction is not None:
            t["weighted"] += s.accelerated_fraction * s.inferences
            t["weight"] += s.inferences
        t["latency"].update({str(k): v for k, v in s.latency_histogram["counts"].items()})
        t["zero"] += s.latency_histogram.get("zero_count", 0)
        if s.peak_rss_mb is not None and s.peak_rss_mb >= ZERO_THRESHOLD_MS:
            t["rss"][str(bucket_key(s.peak_rss_mb))] += 1
        elif s.peak_rss_mb is not None:
            t["rss_zero"] += 1
        t["devices"].add(s.device_id)
    return truth


def _assert_rollup_equals_raw(hour):
    truth = _raw_truth(hour)
    rows = {
        tuple(getattr(r, name) for name in COHORT_FIELDS): r for r in HourlyRollup.objects.filter(bucket_start=hour)
    }
    assert set(rows) == set(truth)
    for cohort, t in truth.items():
        r = rows[cohort]
        assert (r.sessions, r.crashed_sessions, r.inferences, r.errors) == (
            t["sessions"], t["crashed"], t["inferences"], t["errors"])  # fmt: skip
        assert (r.accelerated_weighted_sum, r.accelerated_weight) == (pytest.approx(t["weighted"]), t["weight"])
        assert Counter(r.latency_histogram["counts"]) == t["latency"]
        assert r.latency_histogram.get("zero_count", 0) == t["zero"]
        assert Counter(r.peak_rss_histogram["counts"]) == t["rss"]
        assert r.peak_rss_histogram.get("zero_count", 0) == t["rss_zero"]
        assert r.devices == len(t["devices"])


def test_ingested_sessions_roll_up_from_their_partials_exactly_like_raw_rows(client, raw_key, c):
    hour = hour_floor(now() - timedelta(hours=2))
    at = hour + timedelta(minutes=20)
    first = session(at=at, samples=[5.0, 7.5, 12.0])
    post(client, raw_key, batch([first, session(at=at), session(at=at, delegate="cpu", peak_rss_mb=0.0),
                                 crash(session_id=first["session_id"], at=at)]))  # fmt: skip
    post(client, raw_key, batch([session(at=at + timedelta(minutes=5), accelerated_fraction=None)], uid="pixel8-7"))
    resend = session(at=at)
    post(client, raw_key, batch([resend]))
    post(client, raw_key, batch([resend, session(at=at)]))  # one duplicate: summed once
    # A session written directly (not through ingest) in the same hour: the rollup reads it raw.
    session_make(c, device=device_make(c), at=at, samples=[30.0, 31.0])

    rollup_hours_compute(hours=[hour], push_evidence=False)

    assert InferenceSession.objects.filter(in_partial=True).count() == 6
    assert InferenceSession.objects.filter(in_partial=False).count() == 1
    # One partial per batch × cohort (the first batch has two delegates).
    assert HourlySessionPartial.objects.filter(bucket_start=hour).count() == 5
    _assert_rollup_equals_raw(hour)


def test_a_crash_arriving_after_its_session_corrects_the_partial(client, raw_key):
    hour = hour_floor(now() - timedelta(hours=2))
    event = session(at=hour + timedelta(minutes=10))
    post(client, raw_key, batch([event]))
    rollup_hours_compute(hours=[hour], push_evidence=False)
    assert HourlyRollup.objects.get(bucket_start=hour).crashed_sessions == 0

    post(client, raw_key, batch([crash(session_id=event["session_id"], at=hour + timedelta(minutes=12))]))
    rollup_hours_compute(hours=[hour], push_evidence=False)

    correction = HourlySessionPartial.objects.get(bucket_start=hour, sessions=0)
    assert correction.crashed_sessions == 1
    rollup = HourlyRollup.objects.get(bucket_start=hour)
    assert (rollup.sessions, rollup.crashed_sessions, rollup.devices) == (1, 1, 1)
    _assert_rollup_equals_raw(hour)


def test_recomputing_an_hour_from_partials_gives_the_same_rows(client, raw_key):
    hour = hour_floor(now() - timedelta(hours=3))
    post(client, raw_key, batch([session(at=hour + timedelta(minutes=m)) for m in (1, 20, 40)]))
    fields = ["sessions", "inferences", "errors", "latency_histogram", "peak_rss_histogram", "devices"]

    rollup_hours_compute(hours=[hour], push_evidence=False)
    first = list(HourlyRollup.objects.values(*fields))
    rollup_hours_compute(hours=[hour], push_evidence=False)

    assert list(HourlyRollup.objects.values(*fields)) == first
    assert first[0]["sessions"] == 3


@override_settings(RAW_RETENTION_DAYS=30)
def test_retention_deletes_partials_with_their_sessions(client, raw_key):
    hour = hour_floor(now() - timedelta(hours=1))
    post(client, raw_key, batch([session(at=hour + timedelta(minutes=5))]))

    assert raw_retention_enforce(now=now() + timedelta(days=29))["session_partials"] == 0
    deleted = raw_retention_enforce(now=now() + timedelta(days=31))

    assert deleted == {"crashes": 0, "sessions": 1, "session_partials": 1}
    assert not HourlySessionPartial.objects.exists()
