"""Session partials: ingest sums each batch per hour × cohort; the hourly rollup merges those and reads raw only the
sessions no partial covers. The rollup must still equal the raw rows, exactly."""

import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.test import override_settings

from edgeportal_client.histogram import ZERO_THRESHOLD_MS, bucket_key
from telemetry.ingest.partials import sessions_sum
from telemetry.kpi.buckets import hour_floor
from telemetry.models import HourlyFallbackPartial, HourlyRollup, HourlySessionPartial, InferenceSession
from telemetry.models.rollups import COHORT_FIELDS
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.retention import raw_retention_enforce
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
    # One partial per batch × cohort (the first batch has two delegates), merged by the rollup per device × cohort:
    # pixel8-000042's three batches on the GPU delegate make one row, its CPU session one, pixel8-7's one.
    assert HourlySessionPartial.objects.filter(bucket_start=hour).count() == 3
    _assert_rollup_equals_raw(hour)


def test_a_crash_arriving_after_its_session_corrects_the_partial(client, raw_key):
    hour = hour_floor(now() - timedelta(hours=2))
    event = session(at=hour + timedelta(minutes=10))
    post(client, raw_key, batch([event]))
    rollup_hours_compute(hours=[hour], push_evidence=False)
    assert HourlyRollup.objects.get(bucket_start=hour).crashed_sessions == 0

    post(client, raw_key, batch([crash(session_id=event["session_id"], at=hour + timedelta(minutes=12))]))
    rollup_hours_compute(hours=[hour], push_evidence=False)

    # A partial of the crash alone (crashed_sessions = 1, no session), merged into the session's by the rollup.
    partials = HourlySessionPartial.objects.filter(bucket_start=hour)
    assert partials.aggregate(n=Sum("sessions"), crashed=Sum("crashed_sessions")) == {"n": 1, "crashed": 1}
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

    assert deleted == {
        "crashes": 0,
        "sessions": 1,
        "session_partials": 1,
        "fallback_partials": 1,
        "activity_hours": 0,
        "event_keys": 0,
    }
    assert not HourlySessionPartial.objects.exists()
    assert not HourlyFallbackPartial.objects.exists()


def test_sessions_sum_adds_each_session_to_its_group_like_a_loop():
    rng = random.Random(11)
    sessions = [
        {
            "group": rng.choice(["a", "b", ("c", 1)]),
            "has_crash": rng.random() < 0.2,
            "inferences": rng.choice([0, 1, 400, 2**31 - 1]),
            "errors": rng.randint(0, 3),
            "accelerated": rng.choice([None, 0.0, 1.0, rng.random()]),
            "counts": {rng.randint(-50, 400): rng.randint(1, 40) for _ in range(rng.randint(0, 25))},
            "zero": rng.randint(0, 2),
            "rss": rng.choice([None, 0.0, 0.0005, rng.uniform(10, 900)]),
            "fallback": rng.random() < 0.2,
            "lacking": rng.random() < 0.2,
        }
        for _ in range(500)
    ]
    sessions.append({**sessions[0], "group": "b", "counts": {7: 2**53 - 1}, "accelerated": None, "rss": None})
    sessions.append({**sessions[0], "group": "b", "counts": {7: 2**53 - 1}, "accelerated": None, "rss": None})
    expected = defaultdict(lambda: {"sessions": 0, "crashed": 0, "inferences": 0, "errors": 0, "weighted": 0.0,
                                    "weight": 0, "latency": Counter(), "zero": 0, "rss": Counter(), "rss_zero": 0,
                                    "fallback": 0, "lacking": 0})  # fmt: skip
    for s in sessions:
        e = expected[s["group"]]
        e["sessions"] += 1
        e["crashed"] += s["has_crash"]
        e["inferences"] += s["inferences"]
        e["errors"] += s["errors"]
        e["fallback"] += s["fallback"]
        e["lacking"] += s["lacking"]
        if s["accelerated"] is not None:
            e["weighted"] += s["accelerated"] * s["inferences"]
            e["weight"] += s["inferences"]
        e["latency"].update(s["counts"])
        e["zero"] += s["zero"]
        if s["rss"] is not None and s["rss"] >= ZERO_THRESHOLD_MS:
            e["rss"][bucket_key(s["rss"])] += 1
        elif s["rss"] is not None:
            e["rss_zero"] += 1

    summed = sessions_sum(
        [s["group"] for s in sessions], has_crash=[s["has_crash"] for s in sessions],
        inferences=[s["inferences"] for s in sessions], errors=[s["errors"] for s in sessions],
        accelerated=[s["accelerated"] for s in sessions], latency_counts=[s["counts"] for s in sessions],
        latency_zero=[s["zero"] for s in sessions], peak_rss_mb=[s["rss"] for s in sessions],
        fallback=[s["fallback"] for s in sessions], lacking=[s["lacking"] for s in sessions],
    )  # fmt: skip

    assert list(summed) == list(expected)  # groups in order of first appearance
    for group, e in expected.items():
        got = summed[group]
        assert (got.sessions, got.crashed_sessions, got.inferences, got.errors) == (
            e["sessions"], e["crashed"], e["inferences"], e["errors"])  # fmt: skip
        # The same additions in the same order: equal to the last bit, not approximately.
        assert (got.accelerated_weighted_sum, got.accelerated_weight) == (e["weighted"], e["weight"])
        assert got.latency_counts == {key: count for key, count in e["latency"].items() if count}
        assert (got.latency_zero, got.rss_zero) == (e["zero"], e["rss_zero"])
        assert got.rss_counts == dict(e["rss"])
        assert (got.fallback_sessions, got.lacking_sessions) == (e["fallback"], e["lacking"])
    assert summed["b"].latency_counts[7] >= 2 * (2**53 - 1)
    assert sessions_sum([], has_crash=[], inferences=[], errors=[], accelerated=[], latency_counts=[],
                        latency_zero=[], peak_rss_mb=[], fallback=[], lacking=[]) == {}  # fmt: skip
