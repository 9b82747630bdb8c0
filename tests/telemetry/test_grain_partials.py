"""The thermal and fallback grains of the ingest partials: an hour's HourlyThermalRollup and HourlyFallbackRollup rows
(and its day's thermal and fallback devices) merged from the partials equal a reckoning over the raw sessions, with
sessions no partial covers in the same hour; a whole rollup run (hours, days, trailing windows, evidence) reads no
raw session a partial covers; an hour holding a partial from before the grains existed is read raw; firmware is the
device's at the rollup."""

import json
import random
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from telemetry.kpi.buckets import HOUR, hour_floor
from telemetry.models import (
    DailyFallbackDevice,
    DailyThermalDevice,
    Device,
    HourlyFallbackPartial,
    HourlyFallbackRollup,
    HourlyRollup,
    HourlySessionPartial,
    HourlyThermalRollup,
    InferenceSession,
)
from telemetry.rollups import hourly
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.fallback import fallback_hour_replace
from telemetry.rollups.thermal import thermal_hour_replace
from telemetry.tasks import rollups_deferred
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, now, post, session
from tests.telemetry.rollup_factories import session_make

pytestmark = pytest.mark.django_db

STATES = ("nominal", "Nominal", "SERIOUS", "serious", "", None)
OPS = ([], ["RESIZE_BILINEAR"], ["resize_bilinear", "RESIZE_BILINEAR", "Concat"], ["CONCAT"])


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def hour():
    return hour_floor(now() - timedelta(hours=2))


def ingest_hour(client, raw_key, hour, *, seed=5) -> None:
    """Four devices, several batches each, every session of the hour: mixed-case states and ops, energy and the
    accelerated fraction sometimes not reported, two model versions and both delegates."""
    rng = random.Random(seed)
    for number in range(8):
        events = [
            session(
                at=hour + timedelta(minutes=rng.uniform(0, 59)), model_version=rng.choice(("1.4.0", "1.5.0")),
                delegate=rng.choice(("gpu", "cpu")), thermal_state=rng.choice(STATES), fallback_ops=rng.choice(OPS),
                energy_mj_per_inference=rng.choice((None, round(rng.uniform(0.5, 3.0), 3))),
                accelerated_fraction=rng.choice((None, round(rng.uniform(0.5, 1.0), 3))),
                inferences=rng.randrange(50, 400),
            )
            for _ in range(rng.randrange(3, 12))
        ]  # fmt: skip
        response = post(client, raw_key, batch(events, uid=f"pixel-{number % 4}"))
        assert response.status_code == 202 and response.json()["accepted"] == len(events), response.content


def raw_thermal(hour) -> tuple[dict, set]:
    """{(cell, state): (sessions, inferences, energy sessions, energy inferences, energy sum, latency counts)} and
    the (cell, state, device) triples, straight from the hour's raw sessions."""
    acc = defaultdict(lambda: [0, 0, 0, 0, 0.0, Counter(), 0])
    devices = set()
    for s in InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + timedelta(hours=1)):
        cell = (s.model_version_id, s.runtime_version_id, s.delegate_id, s.device_model_id)
        state = s.thermal_state.lower()
        a = acc[(cell, state)]
        a[0] += 1
        a[1] += s.inferences
        if s.energy_mj_per_inference is not None:
            a[2] += 1
            a[3] += s.inferences
            a[4] += s.energy_mj_per_inference * s.inferences
        a[5].update({str(k): v for k, v in s.latency_histogram["counts"].items()})
        a[6] += s.latency_histogram.get("zero_count", 0)
        devices.add((cell, state, s.device_id))
    return {key: (*a[:4], pytest.approx(a[4]), dict(a[5]), a[6]) for key, a in acc.items()}, devices


def stored_thermal(hour) -> tuple[dict, set]:
    rows = {}
    for r in HourlyThermalRollup.objects.filter(bucket_start=hour):
        cell = (r.model_version_id, r.runtime_version_id, r.delegate_id, r.device_model_id)
        histogram = r.latency_histogram
        rows[(cell, r.thermal_state)] = (r.sessions, r.inferences, r.energy_sessions, r.energy_inferences,
                                         r.energy_weighted_sum, histogram["counts"], histogram.get("zero_count", 0))  # fmt: skip
    devices = {
        ((d.model_version_id, d.runtime_version_id, d.delegate_id, d.device_model_id), d.thermal_state, d.device_id)
        for d in DailyThermalDevice.objects.filter(day=hour.date())
    }
    return rows, devices


def raw_fallback(hour) -> tuple[dict, set]:
    """{(cell, firmware, op): (sessions, weighted, weight)} ('' op: every session) and the (cell, op, device)
    triples, straight from the hour's raw sessions and their devices' firmware now."""
    acc = defaultdict(lambda: [0, 0.0, 0])
    devices = set()
    for s in InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + timedelta(hours=1)):
        cell = (s.model_version_id, s.runtime_version_id, s.delegate_id, s.device_model_id)
        firmware = Device.objects.get(pk=s.device_id).firmware
        ops = {op.upper() for op in s.fallback_ops or []}
        for op in ("", *ops):
            a = acc[(cell, firmware, op)]
            a[0] += 1
            if s.accelerated_fraction is not None:
                a[1] += s.accelerated_fraction * s.inferences
                a[2] += s.inferences
            if op:
                devices.add((cell, op, s.device_id))
    return {key: (n, pytest.approx(ws), w) for key, (n, ws, w) in acc.items()}, devices


def stored_fallback(hour) -> tuple[dict, set]:
    rows = {
        ((r.model_version_id, r.runtime_version_id, r.delegate_id, r.device_model_id), r.firmware, r.op): (
            r.sessions, r.accelerated_weighted_sum, r.accelerated_weight,
        )
        for r in HourlyFallbackRollup.objects.filter(bucket_start=hour)
    }  # fmt: skip
    devices = {
        ((d.model_version_id, d.runtime_version_id, d.delegate_id, d.device_model_id), d.op, d.device_id)
        for d in DailyFallbackDevice.objects.filter(day=hour.date())
    }
    return rows, devices


def assert_equal_raw(hour) -> None:
    assert stored_thermal(hour) == raw_thermal(hour)
    assert stored_fallback(hour) == raw_fallback(hour)


def session_queries(captured) -> list[str]:
    table = InferenceSession._meta.db_table
    return [q["sql"] for q in captured.captured_queries if table in q["sql"]]


def test_the_grains_roll_up_from_partials_like_raw_sessions_and_a_run_reads_no_covered_session(
    client, ingest_key, c, hour
):
    ingest_hour(client, ingest_key[1], hour)
    # Sessions no partial covers (a direct load) in the same hour, on a device of its own.
    loaded = Device.objects.create(uid="loaded-1", device_model=c.galaxy, firmware="UP1A")
    for minute in (3, 17, 44):
        session_make(c, device=loaded, at=hour + timedelta(minutes=minute), samples=[9.0, 11.0, 30.0])
    assert HourlyFallbackPartial.objects.filter(bucket_start=hour).exists()

    with CaptureQueriesContext(connection) as captured:
        rollup_hours_compute(hours=[hour])  # hours, days, trailing windows, evidence: what the queued task runs

    assert_equal_raw(hour)
    # Every read of the raw sessions skips those a partial covers (the busy hour is not re-read per recompute).
    reads = session_queries(captured)
    assert reads and all("in_partial" in sql for sql in reads), reads
    assert {key[1] for key in stored_thermal(hour)[0]} == {"nominal", "serious", ""}
    assert {key[2] for key in stored_fallback(hour)[0]} == {"", "RESIZE_BILINEAR", "CONCAT"}


def test_a_second_recompute_gives_the_same_rows(client, ingest_key, c, hour):
    ingest_hour(client, ingest_key[1], hour, seed=11)
    rollup_hours_compute(hours=[hour], push_evidence=False)
    first = stored_thermal(hour), stored_fallback(hour)
    rollup_hours_compute(hours=[hour], push_evidence=False)
    assert (stored_thermal(hour), stored_fallback(hour)) == first


def test_an_hour_with_a_partial_from_before_the_grains_is_read_raw(client, ingest_key, c, hour):
    ingest_hour(client, ingest_key[1], hour, seed=3)
    # As rows migrated from before: no state, no energy, no fallback partials.
    HourlySessionPartial.objects.filter(bucket_start=hour, device__uid="pixel-1").update(
        thermal_state=None, energy_sessions=0, energy_inferences=0, energy_weighted_sum=0.0
    )
    HourlyFallbackPartial.objects.filter(bucket_start=hour, device__uid="pixel-1").delete()

    rollup_hours_compute(hours=[hour], push_evidence=False)
    with CaptureQueriesContext(connection) as captured:
        thermal_hour_replace(hour=hour)
        fallback_hour_replace(hour=hour)

    assert_equal_raw(hour)
    assert any("in_partial" not in sql for sql in session_queries(captured))


def test_fallback_firmware_is_the_devices_at_the_rollup(client, ingest_key, c, hour):
    ingest_hour(client, ingest_key[1], hour, seed=8)
    Device.objects.filter(uid="pixel-2").update(firmware="BP1A.250305.019")
    rollup_hours_compute(hours=[hour], push_evidence=False)

    assert_equal_raw(hour)
    assert {key[1] for key in stored_fallback(hour)[0]} == {"AP4A.250105.002", "BP1A.250305.019"}


def plan_nodes(node: dict) -> list[dict]:
    return [node, *(child for plan in node.get("Plans", []) for child in plan_nodes(plan))]


def rows_read(nodes: list[dict], table: str) -> float:
    """Rows the plan's nodes read from `table`'s partitions (returned or filtered away, every loop)."""
    return sum(
        (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
        for node in nodes
        if node.get("Relation Name", "").startswith(table)
    )


@pytest.mark.postgres
def test_a_runs_raw_session_reads_join_no_table_and_read_no_covered_session(client, ingest_key, c, hour):
    # The planner's view of a new day's partition (or of any with autovacuum off): statistics from before its rows.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telemetry_inferencesession")
    for number in range(4):
        events = [session(at=hour + timedelta(seconds=i * 7), fallback_ops=OPS[i % 4]) for i in range(300)]
        assert post(client, ingest_key[1], batch(events, uid=f"pixel-{number}")).json()["accepted"] == 300
    loaded = Device.objects.create(uid="loaded-1", device_model=c.galaxy, firmware="UP1A")
    for minute in (3, 17, 44):
        session_make(c, device=loaded, at=hour + timedelta(minutes=minute), samples=[9.0, 30.0])

    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        rollup_hours_compute(hours=[hour], push_evidence=False)

    assert_equal_raw(hour)
    table = InferenceSession._meta.db_table
    reads = [(sql, params) for sql, params in statements if table in sql and sql.lstrip().startswith("SELECT")]
    assert reads
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [table])
        partitions = [table, *(name for (name,) in cursor.fetchall())]
        for sql, params in reads:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            nodes = plan_nodes(plan[0]["Plan"])
            # The three sessions no partial covers, not the 1,200 a partial does; and no other table joined in, which
            # could drive the scan: on 1.7 M rows without statistics, PostgreSQL looped over the devices joined
            # for their firmware and read each one's sessions of the hour through (device, started_at), ~2.4 s.
            assert rows_read(nodes, table) <= 3, (sql, plan)
            assert {node["Relation Name"] for node in nodes if "Relation Name" in node} <= set(partitions), (sql, plan)


ROLLUP_VALUES = (
    "device_model_id", "model_version_id", "runtime_version_id", "delegate_id", "app_version", "os_version",
    "sessions", "crashed_sessions", "crashes", "inferences", "errors", "latency_histogram", "accelerated_weight",
    "peak_rss_histogram", "devices",
)  # fmt: skip


def hour_rows(hour) -> dict:
    """Every rollup row of the hour (cohort, thermal, fallback), floats compared approximately."""
    cohorts = {
        tuple(row[name] for name in ROLLUP_VALUES[:6]): (
            *(row[name] for name in ROLLUP_VALUES[6:]), pytest.approx(row["accelerated_weighted_sum"])
        )
        for row in HourlyRollup.objects.filter(bucket_start=hour).values(*ROLLUP_VALUES, "accelerated_weighted_sum")
    }  # fmt: skip
    (thermal, thermal_devices), (fallback, fallback_devices) = stored_thermal(hour), stored_fallback(hour)
    thermal = {key: (*row[:4], pytest.approx(row[4]), *row[5:]) for key, row in thermal.items()}
    fallback = {key: (n, pytest.approx(ws), w) for key, (n, ws, w) in fallback.items()}
    return {"cohorts": cohorts, "thermal": (thermal, thermal_devices), "fallback": (fallback, fallback_devices)}


def partial_sums(hour) -> dict:
    """Sessions, inferences and latency counts per device × cohort × state, summed over the hour's partials."""
    sums = defaultdict(lambda: [0, 0, Counter()])
    for p in HourlySessionPartial.objects.filter(bucket_start=hour):
        key = (p.device_id, p.model_version_id, p.delegate_id, p.app_version, p.os_version, p.thermal_state)
        sums[key][0] += p.sessions
        sums[key][1] += p.inferences
        sums[key][2].update(p.latency_counts)
    return {key: (n, inferences, dict(counts)) for key, (n, inferences, counts) in sums.items()}


def test_a_recompute_merges_the_hours_partials_per_device_and_rolls_up_the_same_rows(
    client, ingest_key, c, hour, monkeypatch
):
    with rollups_deferred():  # no rollup per batch (tests run tasks eagerly): six per device wait for the run below
        for seed in (5, 6, 7):
            ingest_hour(client, ingest_key[1], hour, seed=seed)
    before = HourlySessionPartial.objects.filter(bucket_start=hour).count()
    fallback_before = HourlyFallbackPartial.objects.filter(bucket_start=hour).count()
    sums = partial_sums(hour)
    monkeypatch.setattr(hourly, "hour_partials_compact", lambda hour: 0)
    rollup_hours_compute(hours=[hour], push_evidence=False)
    uncompacted = hour_rows(hour)
    monkeypatch.undo()

    rollup_hours_compute(hours=[hour], push_evidence=False)

    assert HourlySessionPartial.objects.filter(bucket_start=hour).count() == len(sums) < before
    assert HourlyFallbackPartial.objects.filter(bucket_start=hour).count() < fallback_before
    assert partial_sums(hour) == sums
    assert hour_rows(hour) == uncompacted
    assert_equal_raw(hour)
    rollup_hours_compute(hours=[hour], push_evidence=False)  # nothing left to merge: the same rows again
    assert HourlySessionPartial.objects.filter(bucket_start=hour).count() == len(sums)
    assert hour_rows(hour) == uncompacted


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_committed_while_its_hour_is_compacted_keeps_its_partial(c, hour, ingest_key, monkeypatch):
    with rollups_deferred():  # tests run tasks eagerly: no rollup per batch, two per device left to merge
        ingest_hour(Client(), ingest_key[1], hour, seed=5)
    late = [session(at=hour + timedelta(minutes=30), inferences=77) for _ in range(5)]
    posted, thread_alive = [], []

    def post_late():
        try:
            with rollups_deferred():
                posted.append(post(Client(), ingest_key[1], batch(late)))
        finally:
            connections.close_all()  # this thread's own connection

    def post_after_the_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not posted and sql.startswith("SELECT") and HourlySessionPartial._meta.db_table in sql:
            # Another connection, committed between the compaction's read and its delete.
            thread = threading.Thread(target=post_late)
            thread.start()
            thread.join(30)
            thread_alive.append(thread.is_alive())
        return result

    with connection.execute_wrapper(post_after_the_read):
        rollup_hours_compute(hours=[hour], push_evidence=False)

    assert posted and posted[0].status_code == 202 and thread_alive == [False], posted
    assert HourlySessionPartial.objects.filter(bucket_start=hour, inferences=5 * 77).count() == 1
    rollup_hours_compute(hours=[hour], push_evidence=False)  # the next recompute counts it
    assert_equal_raw(hour)
    total = HourlyRollup.objects.filter(bucket_start=hour).aggregate(n=Sum("sessions"))["n"]
    assert total == InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR).count()
