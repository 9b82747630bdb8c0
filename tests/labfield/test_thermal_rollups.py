"""The thermal and energy attribution read from the thermal rollups (telemetry/rollups/thermal.py): every figure of
the list by device model and of a cell's thermal split equals a brute-force reckoning over the raw sessions, also
after late sessions re-roll their hours and after a second roll-up; no raw session is read; the query count does not
grow with sessions or cells; retention keeps the rows; the backfill rebuilds them."""

import io
import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.services import api_key_create
from edgeportal_client.events import session_event
from edgeportal_client.histogram import LatencyHistogram
from labfield.field import thermal_split
from labfield.selectors import ENTRY_RELATED, cell_gap_get
from labfield.thermal import thermal_list
from telemetry.kpi.buckets import hour_floors
from telemetry.models import (
    DailyThermalDevice,
    DailyThermalRollup,
    HourlyThermalRollup,
    InferenceSession,
)
from telemetry.rollups.compute import rollup_hours_close, rollup_hours_compute
from telemetry.rollups.retention import raw_retention_enforce
from telemetry.rollups.thermal import thermal_hour_replace
from telemetry.tasks import rollups_deferred
from tests.telemetry.fleet_factories import catalog_make

pytestmark = pytest.mark.django_db
INGEST_URL = "/api/v1/ingest/"
# As devices send them: cases vary, "" and None are "not reported"; serious/critical/moderate throttle by default.
STATES = ("nominal", "Nominal", "fair", "light", "serious", "SERIOUS", "critical", "moderate", "", None)
SLOW = {"serious": 2.3, "critical": 3.0, "moderate": 1.8}
DEVICES = {  # uid -> device model slug
    **{f"pixel-{i}": "google-pixel-8" for i in range(6)},
    **{f"galaxy-{i}": "samsung-galaxy-a54" for i in range(4)},
}
CELLS = (("1.4.0", "gpu"), ("1.5.0", "gpu"), ("1.4.0", "cpu"))


def midnight(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def planted_sessions(rng: random.Random, *, count: int, now: datetime, days: float = 9.0) -> list[dict]:
    """Sessions over the last ``days`` days (some outside the 7-day window): uneven inferences, energy on ~70 %."""
    sessions = []
    for _ in range(count):
        state = rng.choice(STATES)
        base = rng.choice((8.0, 10.0, 12.0)) * SLOW.get((state or "").lower(), 1.0)
        inferences = rng.randrange(5, 31)
        model_version, delegate = rng.choice(CELLS)
        sessions.append({
            "uid": rng.choice(sorted(DEVICES)), "model_version": model_version, "delegate": delegate,
            "started_at": now - timedelta(minutes=5 + rng.random() * days * 24 * 60), "state": state,
            "latencies": [base * rng.uniform(0.9, 1.4) for _ in range(inferences)],
            "energy": round(rng.uniform(0.5, 3.0), 3) if rng.random() < 0.7 else None,
        })  # fmt: skip
    return sessions


def ingest(sessions: list[dict]) -> None:
    """One batch per device through the ingest API, then the rollup sweep production runs (dirty hours)."""
    _, raw_key = api_key_create(name=f"thermal fleet {uuid.uuid4().hex[:6]}", scopes=["ingest"])
    client = Client()
    with rollups_deferred():
        for uid, slug in DEVICES.items():
            events = [
                session_event(
                    model="yolov8n", model_version=s["model_version"], runtime="tflite", runtime_version="2.16.1",
                    delegate=s["delegate"], session_id=uuid.uuid4().hex, started_at=s["started_at"], duration_s=60.0,
                    inferences=len(s["latencies"]), errors=0, latencies_ms=s["latencies"], thermal_state=s["state"],
                    energy_mj_per_inference=s["energy"],
                )
                for s in sessions
                if s["uid"] == uid
            ]  # fmt: skip
            if not events:
                continue
            body = {
                "device": {"uid": uid, "model": slug, "os_version": "Android 15", "app_version": "3.2.1"},
                "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "events": events,
            }  # fmt: skip
            response = client.post(INGEST_URL, json.dumps(body), content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {raw_key}")  # fmt: skip
            assert response.status_code == 202 and response.json()["accepted"] == len(events), response.content
    rollup_hours_close()


@pytest.fixture
def fleet(db):
    c = catalog_make()
    now = datetime.now(UTC)
    ingest(planted_sessions(random.Random(19), count=160, now=now))
    c.now = now
    return c


# -- the brute-force reckoning over raw sessions (no rollup or labfield code) ------------------------------------


def raw_groups(now: datetime, key, *, throttled=("serious", "critical", "moderate", "severe", "emergency", "shutdown"),
               **where) -> dict:  # fmt: skip
    """{key(row): (sessions, inferences, devices, p50, p95, energy per inference, sessions reporting energy)} over the
    raw sessions of the last 7 UTC days; key gets (device model slug, lower-cased state, its thermal group)."""
    since = midnight(now) - timedelta(days=6)
    rows = InferenceSession.objects.filter(started_at__gte=since, **where).values_list(
        "device_model__slug", "thermal_state", "device_id", "inferences", "energy_mj_per_inference",
        "latency_histogram",
    )  # fmt: skip
    acc = defaultdict(lambda: {"n": 0, "inferences": 0, "devices": set(), "histograms": [], "energy": []})
    for slug, state, device_id, inferences, energy, histogram in rows:
        state = state.lower()
        group = "throttled" if state in throttled else ("unreported" if state == "" else "not_throttled")
        a = acc[key(slug, state, group)]
        a["n"] += 1
        a["inferences"] += inferences
        a["devices"].add(device_id)
        a["histograms"].append(LatencyHistogram.from_wire(histogram))
        if energy is not None:
            a["energy"].append((energy, inferences))
    result = {}
    for k, a in acc.items():
        p50, p95 = LatencyHistogram.merged(a["histograms"]).quantiles((0.5, 0.95))
        weight = sum(n for _, n in a["energy"])
        energy = sum(e * n for e, n in a["energy"]) / weight if weight else None
        result[k] = (a["n"], a["inferences"], len(a["devices"]), p50, p95, energy, len(a["energy"]))
    return result


def listed(rows) -> dict:
    return {
        (row.device_model, row.state): (row.sessions, row.inferences, row.devices, row.p50_ms, row.p95_ms,
                                        row.energy_mj_per_inference, row.energy.sessions)
        for row in rows
    }  # fmt: skip


def assert_same(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, (*counts, energy, reporting) in expected.items():
        *got_counts, got_energy, got_reporting = got[key]
        assert (got_counts, got_reporting) == (counts, reporting), key  # quantiles: the same merged histogram
        assert got_energy == (pytest.approx(energy) if energy is not None else None), key


def cell_of(fleet, model_version="1.4.0", delegate="gpu", device_model="google-pixel-8"):
    mv = fleet.v1 if model_version == "1.4.0" else fleet.v2
    dl = fleet.gpu if delegate == "gpu" else fleet.cpu
    dm = fleet.pixel if device_model == "google-pixel-8" else fleet.galaxy
    return (mv.pk, fleet.tflite_216.pk, dl.pk, dm.pk), dict(model_version=mv, delegate=dl, device_model=dm)


def split_of(fleet, cell) -> dict:
    return {
        group: (t.sessions, t.inferences, t.devices, *t.histogram().quantiles((0.5, 0.95)))
        for group, t in thermal_split(cell=cell, days=7).items()
    }


def raw_split(fleet, where, **kwargs) -> dict:
    groups = raw_groups(fleet.now, lambda slug, state, group: group, **where, **kwargs)
    return {group: figures[:5] for group, figures in groups.items()}


def assert_all_match(fleet) -> None:
    assert_same(listed(thermal_list(filters={})), raw_groups(fleet.now, lambda slug, state, group: (slug, state)))
    assert_same(
        listed(thermal_list(filters={"model_version": "1.5.0"})),
        raw_groups(fleet.now, lambda slug, state, group: (slug, state), model_version__version="1.5.0"),
    )
    for args in (("1.4.0", "gpu", "google-pixel-8"), ("1.4.0", "cpu", "samsung-galaxy-a54")):
        cell, where = cell_of(fleet, *args)
        assert split_of(fleet, cell) == raw_split(fleet, where)
        assert_same(
            listed(thermal_list(filters={}, cell=cell)),
            raw_groups(fleet.now, lambda slug, state, group: (slug, state), **where),
        )


def snapshot() -> tuple:
    def rows(model, *columns):  # float sums to 9 digits: their order of addition is the rows' order in the scan
        return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                      for row in model.objects.values_list(*columns))  # fmt: skip

    sums = ("sessions", "inferences", "energy_sessions", "energy_inferences", "energy_weighted_sum")
    cell = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id", "thermal_state")

    def histograms(model):
        rows = model.objects.values_list("bucket_start", *cell, "latency_histogram")
        return sorted((row[:-1], json.dumps(row[-1], sort_keys=True)) for row in rows)

    return (
        rows(HourlyThermalRollup, "bucket_start", *cell, *sums), rows(DailyThermalRollup, "bucket_start", *cell, *sums),
        histograms(HourlyThermalRollup), histograms(DailyThermalRollup), rows(DailyThermalDevice, "day", *cell, "device_id"),
    )  # fmt: skip


# -- the tests ---------------------------------------------------------------------------------------------------


def test_the_figures_equal_the_raw_sessions(fleet):
    states = {row.state for row in thermal_list(filters={})}
    assert {"nominal", "serious", "critical", ""} <= states  # "Nominal" and "SERIOUS" counted lower-cased
    assert "Nominal" not in states and "SERIOUS" not in states
    assert_all_match(fleet)


def test_late_sessions_re_roll_their_hours_and_days(fleet):
    """Late sessions 2 and 5 days back, in hours already rolled up: a new device model state, new devices' states."""
    rng = random.Random(5)
    late = planted_sessions(rng, count=30, now=fleet.now - timedelta(days=2), days=0.2)
    late += planted_sessions(rng, count=20, now=fleet.now - timedelta(days=5), days=0.5)
    for session in late[:6]:
        session["state"] = "Shutdown"  # a state no session had: throttled by default
    before = raw_groups(fleet.now, lambda slug, state, group: (slug, state))
    ingest(late)
    after = raw_groups(fleet.now, lambda slug, state, group: (slug, state))
    assert sum(v[0] for v in after.values()) == sum(v[0] for v in before.values()) + len(late)
    assert any(state == "shutdown" for _, state in after)
    assert_all_match(fleet)


def test_rolling_up_again_changes_nothing_and_a_day_is_the_sum_of_its_hours(fleet):
    first = snapshot()
    hours = hour_floors(InferenceSession.objects.values_list("started_at", flat=True))
    rollup_hours_compute(hours=hours)
    assert snapshot() == first
    hour = max(hours)
    assert thermal_hour_replace(hour=hour) and snapshot() == first
    day = midnight(hour)
    hourly = HourlyThermalRollup.objects.filter(bucket_start__gte=day, bucket_start__lt=day + timedelta(days=1))
    daily = DailyThermalRollup.objects.filter(bucket_start=day)
    assert sum(hourly.values_list("sessions", flat=True)) == sum(daily.values_list("sessions", flat=True)) > 0
    assert_all_match(fleet)


def test_the_throttled_states_are_a_setting_read_at_query_time(fleet, settings):
    """The rows keep the state, not its group: a new LAB_FIELD_THROTTLED_STATES needs no re-roll."""
    settings.LAB_FIELD_THROTTLED_STATES = ["fair", "light"]
    cell, where = cell_of(fleet)
    assert split_of(fleet, cell) == raw_split(fleet, where, throttled=("fair", "light"))
    assert {row.state for row in thermal_list(filters={}) if row.throttled} == {"fair", "light"}


def test_no_read_touches_the_raw_sessions(fleet, client, viewer_user, read_client):
    from compat.models import CompatEntry

    cell, where = cell_of(fleet)
    entry, _ = CompatEntry.objects.get_or_create(runtime_version=fleet.tflite_216, **where)
    entry = CompatEntry.objects.select_related(*ENTRY_RELATED).get(pk=entry.pk)
    client.force_login(viewer_user)
    raw_table = InferenceSession._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert thermal_list(filters={}) and thermal_list(filters={"vendor": "google"}, cell=cell)
        assert thermal_split(cell=cell, days=7)
        gap = cell_gap_get(entry=entry)
        assert gap.thermal and gap.thermal_states
        assert read_client.get("/api/v1/lab-field/thermal/").status_code == 200
        assert client.get("/lab-field/thermal/").status_code == 200
        assert client.get("/lab-field/thermal.csv", {"cell": entry.pk}).status_code == 200
    assert len(captured) > 10
    assert not [query["sql"] for query in captured if raw_table in query["sql"]]


def test_the_query_count_does_not_grow_with_sessions_or_cells(fleet, django_assert_num_queries):
    cell, _ = cell_of(fleet)

    def reads():
        with django_assert_num_queries(2):  # the daily rows with their device model; devices per model and state
            rows = thermal_list(filters={})
        with django_assert_num_queries(2):  # the cell's daily rows; its devices per thermal group
            split = thermal_split(cell=cell, days=7)
        return len(rows), sum(t.sessions for t in split.values())

    before = reads()
    more = planted_sessions(random.Random(7), count=120, now=fleet.now)
    for session in more[:40]:
        session.update(model_version="1.5.0", delegate="cpu")  # a cell the fleet did not have
    for session in more[40:50]:
        session["state"] = "emergency"  # a state it did not have
    ingest(more)
    after = reads()
    assert after[0] > before[0] and after[1] > before[1]


def test_an_hour_past_raw_retention_keeps_its_rows_and_the_figures(fleet, settings):
    expected = listed(thermal_list(filters={}))
    settings.RAW_RETENTION_DAYS = 2
    old = HourlyThermalRollup.objects.filter(bucket_start__lt=midnight(fleet.now) - timedelta(days=3))
    hour = old.order_by("bucket_start").values_list("bucket_start", flat=True).first()
    kept = snapshot()
    assert hour is not None and kept[0]
    raw_retention_enforce()
    assert not InferenceSession.objects.filter(started_at__lt=fleet.now - timedelta(days=2)).exists()
    assert thermal_hour_replace(hour=hour) is False
    rollup_hours_compute(hours=[hour])  # the rollup run past retention: the hour's and its day's rows stay
    assert snapshot() == kept
    assert_same(listed(thermal_list(filters={})), expected)  # days whose raw sessions are gone still count


def test_the_backfill_fills_hours_rolled_up_before_the_rollups_existed(fleet):
    expected = snapshot()
    for model in (HourlyThermalRollup, DailyThermalRollup, DailyThermalDevice):
        model.objects.all().delete()
    assert not thermal_list(filters={})
    out = io.StringIO()
    call_command("thermal_rollups_backfill", stdout=out)
    assert "thermal hours" in out.getvalue()
    assert snapshot() == expected
    call_command("thermal_rollups_backfill", stdout=io.StringIO())  # idempotent: nothing left to fill
    assert snapshot() == expected
    assert_all_match(fleet)
