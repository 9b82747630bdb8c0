"""Assignment: a pure function of (rollout, device uid), monotone in percent, control disjoint, rollback to baseline."""

import pytest

from rollouts.assignment import BUCKETS, Arm, arm_for_bucket, device_arm, device_bucket
from rollouts.models import Rollout

from .factories import devices_make

UIDS = [f"pixel8-{i:06d}" for i in range(5000)]


def test_the_bucket_is_a_stable_hash_of_rollout_and_device():
    assert device_bucket(rollout_id=3, device_uid="pixel8-000042") == device_bucket(
        rollout_id=3, device_uid="pixel8-000042"
    )
    # sha256("rollout:3:pixel8-000042")[:8] mod 10,000, pinned so a refactor cannot silently reshuffle the fleet
    assert device_bucket(rollout_id=3, device_uid="pixel8-000042") == 4804
    buckets = [device_bucket(rollout_id=3, device_uid=uid) for uid in UIDS]
    assert all(0 <= b < BUCKETS for b in buckets)
    # roughly uniform: each tenth of the range holds 10 % ± 2 % of 5,000 devices
    assert all(400 <= sum(b // 1000 == decile for b in buckets) <= 600 for decile in range(10))


def test_rollouts_hash_devices_independently():
    first = {
        uid for uid in UIDS if device_arm(rollout_id=1, device_uid=uid, percent=10, control_percent=5) == Arm.CANDIDATE
    }
    second = {
        uid for uid in UIDS if device_arm(rollout_id=2, device_uid=uid, percent=10, control_percent=5) == Arm.CANDIDATE
    }
    assert 0 < len(first & second) < 0.05 * len(UIDS)


def test_a_larger_percent_only_adds_candidates_and_control_never_moves():
    previous, control = set(), None
    for percent in (1, 5, 25, 50, 100):
        arms = {uid: device_arm(rollout_id=7, device_uid=uid, percent=percent, control_percent=5) for uid in UIDS}
        candidates = {uid for uid, arm in arms.items() if arm == Arm.CANDIDATE}
        this_control = {uid for uid, arm in arms.items() if arm == Arm.CONTROL}
        assert previous <= candidates
        assert not candidates & this_control
        assert control is None or control == this_control
        previous, control = candidates, this_control
    assert abs(len(control) - 0.05 * len(UIDS)) < 0.015 * len(UIDS)
    assert len(previous) + len(control) == len(UIDS)  # at 100 % everyone outside the control runs the candidate


@pytest.mark.parametrize(
    ("bucket", "arm"),
    [(0, "candidate"), (499, "candidate"), (500, "none"), (9499, "none"), (9500, "control"), (9999, "control")],
)
def test_bucket_boundaries(bucket, arm):
    assert arm_for_bucket(bucket=bucket, percent=5, control_percent=5) == arm


# -- through the API -------------------------------------------------------------------------------------------


@pytest.fixture
def ingest_client(ingest_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key[1]}")
    return client


def ask(client, device, model="yolov8n"):
    response = client.get("/api/v1/rollouts/assignment/", {"model": model, "device": device})
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.django_db
def test_api_answers_by_arm_and_stays_put_while_the_rollout_runs(catalog, make_rollout, admin_client, ingest_client):
    devices = devices_make(catalog, count=100)
    rollout = make_rollout(stages=[{"percent": 20}, {"percent": 60}, {"percent": 100}], control_percent=20)
    admin_client.post(f"/api/v1/rollouts/{rollout['id']}/start/", format="json")
    first = {d.uid: ask(ingest_client, d.uid) for d in devices}
    sample = next(iter(first.values()))
    assert set(sample) == {"model", "version", "rollout", "arm", "stage", "ttl_s"}
    assert sample["rollout"] == rollout["id"] and sample["stage"] == 0 and sample["ttl_s"] == 3600
    for answer in first.values():
        assert answer["version"] == ("1.5.0" if answer["arm"] == "candidate" else "1.4.0")
    assert {a["arm"] for a in first.values()} == {"candidate", "control", "none"}
    assert first == {d.uid: ask(ingest_client, d.uid) for d in devices}  # stable
    admin_client.post(f"/api/v1/rollouts/{rollout['id']}/advance/", {"reason": "ok"}, format="json")
    second = {d.uid: ask(ingest_client, d.uid) for d in devices}
    was = {uid for uid, a in first.items() if a["arm"] == "candidate"}
    now = {uid for uid, a in second.items() if a["arm"] == "candidate"}
    assert was < now
    assert {u for u, a in first.items() if a["arm"] == "control"} == {
        u for u, a in second.items() if a["arm"] == "control"
    }


@pytest.mark.django_db
def test_pause_keeps_arms_and_rollback_sends_everyone_to_the_baseline(
    catalog, make_rollout, admin_client, ingest_client
):
    devices = devices_make(catalog, count=80)
    rollout = make_rollout(stages=[{"percent": 50}, {"percent": 100}])
    base = f"/api/v1/rollouts/{rollout['id']}"
    admin_client.post(f"{base}/start/", format="json")
    running = {d.uid: ask(ingest_client, d.uid) for d in devices}
    admin_client.post(f"{base}/pause/", {"reason": "look"}, format="json")
    assert {d.uid: ask(ingest_client, d.uid) for d in devices} == running
    admin_client.post(f"{base}/rollback/", {"reason": "bad"}, format="json")
    after = [ask(ingest_client, d.uid) for d in devices]
    assert {(a["version"], a["arm"], a["rollout"]) for a in after} == {("1.4.0", "none", rollout["id"])}


@pytest.mark.django_db
def test_several_models_at_once_and_devices_outside_every_scope(catalog, make_rollout, admin_client, ingest_client):
    pixel, galaxy = devices_make(catalog, count=1)[0], devices_make(catalog, count=1, device_model=catalog.galaxy)[0]
    done = make_rollout(name="all", scope={}, stages=[{"percent": 100}])
    admin_client.post(f"/api/v1/rollouts/{done['id']}/start/", format="json")
    admin_client.post(f"/api/v1/rollouts/{done['id']}/complete/", format="json")
    tier1 = make_rollout(
        name="1.6 tier 1", baseline_version="1.5.0", candidate_version="1.6.0", stages=[{"percent": 100}]
    )
    admin_client.post(f"/api/v1/rollouts/{tier1['id']}/start/", format="json")
    other = make_rollout(
        model="mobilenet-v3", baseline_version="1.0", candidate_version="2.0", scope={}, stages=[{"percent": 100}]
    )
    admin_client.post(f"/api/v1/rollouts/{other['id']}/start/", format="json")
    answer = ask(ingest_client, pixel.uid)
    assert answer["rollout"] == tier1["id"] and answer["version"] in ("1.6.0", "1.5.0")
    # the galaxy is outside the 1.6 scope: the newest completed version, from the rollout that covered it
    assert ask(ingest_client, galaxy.uid) == {
        "model": "yolov8n", "version": "1.5.0", "rollout": done["id"], "arm": "none", "stage": 0, "ttl_s": 3600
    }  # fmt: skip
    assert ask(ingest_client, galaxy.uid, model="mobilenet-v3")["rollout"] == other["id"]
    unknown = ask(ingest_client, "never-seen-device")
    assert (unknown["version"], unknown["arm"], unknown["rollout"]) == ("1.5.0", "none", done["id"])
    assert Rollout.objects.count() == 3


@pytest.mark.django_db
def test_a_device_key_asks_for_itself_only(catalog, make_api_key):
    from rest_framework.test import APIClient

    device = devices_make(catalog, count=1)[0]
    _, raw = make_api_key(scopes=["ingest"], device_uid=device.uid)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/rollouts/assignment/", {"model": "yolov8n"}).json()["version"] == "1.6.0"
    assert client.get("/api/v1/rollouts/assignment/", {"model": "yolov8n", "device": "someone-else"}).status_code == 403


@pytest.mark.django_db
def test_assignment_input_errors(catalog, ingest_client, read_client):
    assert ingest_client.get("/api/v1/rollouts/assignment/", {"device": "x"}).json()["detail"].keys() == {"model"}
    assert "device" in ingest_client.get("/api/v1/rollouts/assignment/", {"model": "yolov8n"}).json()["detail"]
    assert ingest_client.get("/api/v1/rollouts/assignment/", {"model": "nope", "device": "x"}).status_code == 400
    assert read_client.get("/api/v1/rollouts/assignment/", {"model": "yolov8n", "device": "x"}).status_code == 403
