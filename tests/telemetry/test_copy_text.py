"""The COPY text encoder of the ingest path: exact escaping, NULLs, strict types, and a byte-exact database round trip."""

import uuid
from datetime import UTC, datetime

import pytest

from telemetry.ingest.copy_text import copy_text
from telemetry.models import ClockFlag, CrashReport, Device, InferenceSession
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, crash, post, session

EVENT_ID = uuid.UUID("0d9e0b4c-8a0e-4f4e-9f7a-2b1c3d4e5f60")
AT = datetime(2026, 11, 20, 10, 15, 0, 123456, tzinfo=UTC)
# Every character COPY's text format treats specially, the NULL marker and end-of-data marker spelled as data,
# non-ASCII text, and what JSON escapes on its own.
HOSTILE = 'tab\there nl\nthere cr\rthere bs\\there \\N \\. \\\\ "q" é 漢字 🙂 end'


def _fields(model, *names):
    return [model._meta.get_field(name) for name in names]


SESSION_FIELDS = _fields(
    InferenceSession, "event_id", "session_id", "started_at", "accelerated_fraction", "fallback_ops", "has_crash",
    "inferences",
)  # fmt: skip


def test_every_column_kind_is_written_in_copy_text_format():
    row = (EVENT_ID, HOSTILE, AT, 0.97, [HOSTILE, 1], False, 1200)

    assert copy_text(fields=SESSION_FIELDS, rows=[row]) == (
        "0d9e0b4c-8a0e-4f4e-9f7a-2b1c3d4e5f60\t"
        'tab\\there nl\\nthere cr\\rthere bs\\\\there \\\\N \\\\. \\\\\\\\ "q" é 漢字 🙂 end\t'
        "2026-11-20T10:15:00.123456Z\t0.97\t"
        '["tab\\\\there nl\\\\nthere cr\\\\rthere bs\\\\\\\\there \\\\\\\\N \\\\\\\\. \\\\\\\\\\\\\\\\ \\\\"q\\\\" '
        'é 漢字 🙂 end",1]\tf\t1200\n'
    )


def test_json_of_every_control_character_stays_on_one_field_of_one_line():
    controls = "".join(map(chr, range(32)))
    text = copy_text(fields=_fields(InferenceSession, "fallback_ops"), rows=[([controls, {controls: 1}],)])

    assert text.count("\n") == 1 and text.endswith("\n") and "\t" not in text and "\r" not in text


def test_a_json_column_of_many_rows_keeps_one_value_per_line_whatever_its_strings_hold():
    controls = "".join(map(chr, range(32)))
    values = [[controls], {"k\nv": controls}, None, [HOSTILE], [], {"counts": {"3": 1}}, "\\n"]
    fields = _fields(InferenceSession, "fallback_ops")
    text = copy_text(fields=fields, rows=[(value,) for value in values])

    assert text == "".join(copy_text(fields=fields, rows=[(value,)]) for value in values)
    assert text.count("\n") == len(values)


def test_none_is_null_in_a_nullable_column_and_refused_in_another():
    fields = _fields(InferenceSession, "accelerated_fraction", "peak_rss_mb", "inferences")

    assert copy_text(fields=fields, rows=[(None, 212.5, 7), (0.5, None, 8)]) == "\\N\t212.5\t7\n0.5\t\\N\t8\n"
    with pytest.raises(TypeError):
        copy_text(fields=fields, rows=[(None, None, None), (0.5, 1.0, 8)])


RIGHT = {"inferences": 7, "event_id": EVENT_ID, "started_at": AT, "session_id": "s-1", "peak_rss_mb": 212.5}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("inferences", "7\t8"), ("inferences", True), ("inferences", 7.5), ("event_id", "not-a-uuid\t"),
        ("started_at", "2026-11-20"), ("session_id", 42), ("peak_rss_mb", "1"), ("peak_rss_mb", False),
    ],
)  # fmt: skip
def test_value_of_another_type_raises_instead_of_reaching_the_stream(name, value):
    fields = _fields(InferenceSession, name, "errors")
    for rows in ([(value, 1), (value, 2)], [(RIGHT[name], 1), (value, 2)]):  # alone, and among right values
        with pytest.raises(TypeError):
            copy_text(fields=fields, rows=rows)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_float_without_a_finite_value_raises(value):
    with pytest.raises(ValueError, match="NaN or infinity"):
        copy_text(fields=_fields(InferenceSession, "peak_rss_mb"), rows=[(212.5,), (value,)])


def test_a_nul_character_in_text_raises_instead_of_shifting_the_column():
    with pytest.raises(ValueError, match="NUL"):
        copy_text(fields=_fields(InferenceSession, "session_id", "errors"), rows=[("a\x00b", 1), ("c", 2)])


def test_text_choices_members_are_written_as_their_value():
    text = copy_text(fields=_fields(InferenceSession, "clock_flag"), rows=[(ClockFlag.CLAMPED,), ("ok",)])

    assert text == f"{ClockFlag.CLAMPED.value}\nok\n"


def test_batch_wide_values_encode_like_row_by_row():
    rows = [
        (uuid.uuid4(), "same", AT, 0.5, [1], True, 3),
        (uuid.uuid4(), "same", AT, 0.5, [True], True, 3),  # [True] == [1], but they are not the same JSON
        (uuid.uuid4(), "same", AT, 1, [1], True, 3),
    ]

    assert copy_text(fields=SESSION_FIELDS, rows=rows) == "".join(
        copy_text(fields=SESSION_FIELDS, rows=[row]) for row in rows
    )
    assert "[true]" in copy_text(fields=SESSION_FIELDS, rows=rows)


@pytest.mark.postgres
@pytest.mark.django_db
def test_hostile_text_round_trips_through_the_database_byte_for_byte(client, ingest_key):
    catalog_make()
    first = session(fallback_ops=[HOSTILE, "RESIZE_BILINEAR"], thermal_state="t\tn\\N\r\n", session_id=HOSTILE[:64])
    frames = [
        {"function": HOSTILE, "module": "lib\\x\t.so", "offset": "0x1\n", "in_app": True},
        {"function": None, "module": HOSTILE, "offset": "0x7", "in_app": False},
    ]
    broken = crash(
        session_id=HOSTILE[:64], message=HOSTILE, frames=frames, signal="SIG\tSEGV\\N", exception_type=HOSTILE
    )
    payload = batch([first, broken])
    payload["device"].update(os_version=HOSTILE, app_version="3.2\t\\N\n")

    assert post(client, ingest_key[1], payload, gzipped=True).json() == {"accepted": 2, "duplicates": 0, "rejected": []}

    stored = InferenceSession.objects.get(event_id=first["event_id"])
    assert (stored.session_id, stored.os_version, stored.app_version) == (HOSTILE[:64], HOSTILE, "3.2\t\\N\n")
    assert (stored.fallback_ops, stored.thermal_state) == ([HOSTILE, "RESIZE_BILINEAR"], "t\tn\\N\r\n")
    assert stored.latency_histogram == first["latency_histogram"]
    report = CrashReport.objects.get(event_id=broken["event_id"])
    assert (report.message, report.signal, report.exception_type) == (HOSTILE, "SIG\tSEGV\\N", HOSTILE)
    assert (report.os_version, report.session_id) == (HOSTILE, HOSTILE[:64])
    assert report.frames == frames
    assert report.inference_session_id == stored.id  # linked by the hostile session id
    assert Device.objects.get().os_version == HOSTILE
