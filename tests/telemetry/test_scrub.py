"""Secrets never reach the database: crash messages and frames are scrubbed before storage."""

import pytest

from telemetry.ingest.crashes import _CLEAN_FRAME_TEXTS, frames_scrub, secrets_scrub
from telemetry.models import CrashReport
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, crash, post


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("login failed password=hunter2 for user", "hunter2"),
        ('config {"api_key": "AbC123xyz987"} rejected', "AbC123xyz987"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-nature_x", "eyJhbGciOiJIUzI1NiJ9"),
        ("upload with token: 9f8e7d6c5b4a3f2e1d0c", "9f8e7d6c5b4a3f2e1d0c"),
        ("GET https://bob:s3cr3t@api.acme.io/v1 failed", "s3cr3t"),
        ("key ep_1a2b3c4d_Zx9yW8vU7tS6rQ5pO4nM3lK2 leaked", "Zx9yW8vU7tS6rQ5pO4nM3lK2"),
        ("aws AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
        ("charged card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
        ("charged card 5500-0000-0000-0004 ok", "5500-0000-0000-0004"),
        ("user jane.doe@example.com crashed", "jane.doe@example.com"),
    ],
)
def test_secret_is_removed_from_text(text, secret):
    scrubbed = secrets_scrub(text)
    assert secret not in scrubbed
    assert "[Filtered" in scrubbed or "[email]" in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Fatal signal 11 (SIGSEGV), code 1, fault addr 0x7b2c1a in tid 4242",
        "tensor 1234567890123 out of range",  # 13 digits, fails the Luhn check: not a card
        "tokenizer vocab missing",
    ],
)
def test_ordinary_crash_text_is_kept(text):
    assert secrets_scrub(text) == text


def test_frames_are_scrubbed_and_offsets_kept():
    frames = frames_scrub([{"function": "auth(password=pa55word)", "module": "libx.so", "offset": "0x10", "in_app": 1}])
    assert frames == [{"function": "auth(password=[Filtered])", "module": "libx.so", "offset": "0x10", "in_app": True}]


def test_clean_frame_texts_are_remembered_and_texts_with_a_secret_never_are():
    frames = [{"function": "Detector::run", "module": "libx.so"}, {"function": "auth(token=abcdef123456)"}]

    assert frames_scrub(frames) == frames_scrub(frames)
    assert frames_scrub(frames)[1]["function"] == "auth(token=[Filtered])"
    assert {"Detector::run", "libx.so"} <= set(_CLEAN_FRAME_TEXTS)
    assert not any("abcdef123456" in text for text in _CLEAN_FRAME_TEXTS)


@pytest.mark.django_db
def test_secrets_are_scrubbed_before_the_crash_is_stored(client, ingest_key):
    catalog_make()
    event = crash(
        message="sync failed: password=hunter2 card 4111111111111111 Bearer abcdefghijklmnop1234",
        frames=[{"function": "login(token=abcdef123456)", "module": "libapp.so", "offset": "0x4", "in_app": True}],
    )
    assert post(client, ingest_key[1], batch([event])).json()["accepted"] == 1
    stored = CrashReport.objects.get()
    text = stored.message + str(stored.frames) + stored.group.title
    for secret in ("hunter2", "4111111111111111", "abcdefghijklmnop1234", "abcdef123456"):
        assert secret not in text
