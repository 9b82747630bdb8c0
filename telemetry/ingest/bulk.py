"""Set-based writes of the ingest path: the PostgreSQL fast path (COPY + ON CONFLICT) and its portable fallback.

Every function here issues a fixed number of statements whatever the batch size, so the ingest path's
query count is pinned by a test. Raw SQL (S608): identifiers come from model meta, every value is a parameter.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, models

from core.models import ApiKey

from ..models import (
    CrashGroup,
    CrashGroupAlias,
    CrashGroupDevice,
    CrashGroupStatus,
    CrashReport,
    Device,
    InferenceSession,
)
from ..models.rollups import COHORT_FIELDS
from .copy_text import copy_text
from .statements import any_of, prepared_cursor, rows_cte


@cache  # ~80 names quoted per batch, each through the connection proxy's thread-local lookup
def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if connection.vendor == "postgresql" else f"MAX({a}, {b})"


def _least(a: str, b: str) -> str:
    return f"LEAST({a}, {b})" if connection.vendor == "postgresql" else f"MIN({a}, {b})"


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def rows_insert(*, model: type[models.Model], columns: Sequence[str], rows: list[tuple]) -> None:
    """Inserts rows (values in `columns` order) that cannot conflict: PostgreSQL COPYs them (a multi-row INSERT
    formats each parameter in Python: ~40 µs per row of 18 values), other databases take one executemany."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        cols = ", ".join(_quote(column) for column in columns)
        payload = copy_text(fields=_fields(model, columns), rows=rows)
        _copy(f"COPY {_quote(model._meta.db_table)} ({cols}) FROM STDIN", payload)
        return
    _insert_many(model=model, columns=columns, rows=rows)


def _insert_many(*, model: type[models.Model], columns: Sequence[str], rows: list[tuple], suffix: str = "") -> None:
    """One executemany INSERT (the portable path), each value prepared by its field; `suffix`: an ON CONFLICT."""
    fields = _fields(model, columns)
    cols = ", ".join(_quote(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_quote(model._meta.db_table)} ({cols}) VALUES ({', '.join(['%s'] * len(columns))}){suffix}",  # noqa: S608
            [
                [field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True)]
                for row in rows
            ],
        )


def _fields(model: type[models.Model], columns: Sequence[str]) -> list[models.Field]:
    by_column = {field.column: field for field in model._meta.concrete_fields}
    return [by_column[column] for column in columns]


def _copy(statement: str, payload: str) -> None:
    # cursor.copy is psycopg's own: without Django's wrapper its errors would escape as psycopg exceptions (a
    # database dying mid-COPY would be a 500, not the view's 503).
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(payload)


@dataclass(frozen=True, slots=True)
class GroupSeed:
    """What a batch knows about one fingerprint before its crashes are stored."""

    fingerprint: str
    title: str
    culprit: str
    kind: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class GroupState:
    id: int
    fingerprint: str  # the group's own: differs from the crash's when that fingerprint was merged into this group
    status: str
    resolved_in_version: str


def _aliases_resolve(fingerprints: set[str]) -> dict[str, str]:
    """{merged-away fingerprint: fingerprint of the group it was merged into} for those of ``fingerprints``."""
    aliases, groups = _quote(CrashGroupAlias._meta.db_table), _quote(CrashGroup._meta.db_table)
    matching, params = any_of(sorted(fingerprints))
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT a.fingerprint, g.fingerprint FROM {aliases} a JOIN {groups} g ON g.id = a.group_id "  # noqa: S608
            f"WHERE a.fingerprint {matching}",
            params,
        )
        return dict(cursor.fetchall())


def crash_groups_resolve(*, seeds: list[GroupSeed]) -> dict[str, GroupState]:
    """Each crash fingerprint's group, created (counters at 0) if missing; by crash fingerprint.

    The groups found are share-locked (FOR KEY SHARE) until commit: a merge or a triage change waits for the batch,
    so the status read here still holds when crash_groups_count decides a regression, while other batches go on
    (their counter updates do not conflict with that lock). Batches wait on each other for a group only in
    crash_groups_count, at the end of the transaction: locking the groups here held every batch with a crash behind
    the one before it for the rest of its transaction. A fingerprint merged into another group (CrashGroupAlias)
    resolves to that group.
    """
    if not seeds:
        return {}
    aliases = _aliases_resolve({seed.fingerprint for seed in seeds})
    by_group: dict[str, GroupSeed] = {}
    for seed in seeds:
        fingerprint = aliases.get(seed.fingerprint, seed.fingerprint)
        other = by_group.get(fingerprint)
        by_group[fingerprint] = GroupSeed(
            fingerprint, seed.title, seed.culprit, seed.kind,
            min(seed.first_seen_at, other.first_seen_at) if other else seed.first_seen_at,
            max(seed.last_seen_at, other.last_seen_at) if other else seed.last_seen_at,
        )  # fmt: skip
    found = _groups_share_lock(sorted(by_group))
    missing = [by_group[fingerprint] for fingerprint in sorted(by_group) if fingerprint not in found]
    if missing:  # new groups (or ones created by a batch that committed since): created, or locked if they exist now
        found.update(_groups_upsert(missing))
    return {seed.fingerprint: found[aliases.get(seed.fingerprint, seed.fingerprint)] for seed in seeds}


def _groups_share_lock(fingerprints: list[str]) -> dict[str, GroupState]:
    matching, params = any_of(fingerprints)
    # SQLite has no row locks: a batch holds its write lock from its first statement (transaction_mode IMMEDIATE).
    lock = " ORDER BY id FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT id, fingerprint, status, resolved_in_version FROM {_quote(CrashGroup._meta.db_table)} "  # noqa: S608
            f"WHERE fingerprint {matching}{lock}",
            params,
        )
        return {
            fp: GroupState(id=pk, fingerprint=fp, status=status, resolved_in_version=rv)
            for pk, fp, status, rv in cursor.fetchall()
        }


def _groups_upsert(seeds: list[GroupSeed]) -> dict[str, GroupState]:
    # Sorted by fingerprint by the caller: same lock order in every batch, no deadlock. The no-op DO UPDATE returns
    # (and locks) a group another batch created meanwhile.
    seeded, params = rows_cte(
        "s",
        [("fingerprint", "text"), ("title", "text"), ("culprit", "text"), ("kind", "text"), ("status", "text"),
         ("first_seen", "timestamptz"), ("last_seen", "timestamptz")],
        [(seed.fingerprint, seed.title, seed.culprit, seed.kind, CrashGroupStatus.NEW,
          _db_datetime(seed.first_seen_at), _db_datetime(seed.last_seen_at)) for seed in seeds],
    )  # fmt: skip
    table = _quote(CrashGroup._meta.db_table)
    sql = (
        f"WITH {seeded} INSERT INTO {table} (fingerprint, title, culprit, kind, status, resolved_in_version, "  # noqa: S608
        f"first_seen_at, last_seen_at, event_count, device_count) "
        # WHERE true: SQLite's parser needs it between an INSERT's SELECT and ON CONFLICT.
        f"SELECT fingerprint, title, culprit, kind, status, '', first_seen, last_seen, 0, 0 FROM s WHERE true "
        # A non-key column: the row lock taken is FOR NO KEY UPDATE, which the other batches' share locks do not block.
        f"ON CONFLICT (fingerprint) DO UPDATE SET kind = {table}.kind "
        f"RETURNING id, fingerprint, status, resolved_in_version"
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return {
            fp: GroupState(id=pk, fingerprint=fp, status=status, resolved_in_version=rv)
            for pk, fp, status, rv in cursor.fetchall()
        }


@dataclass(frozen=True, slots=True)
class GroupCount:
    """Counter increments for one group from the crashes a batch actually inserted."""

    group_id: int
    events: int
    first_seen_at: datetime
    last_seen_at: datetime
    regressed: bool


def crash_groups_count(*, device_id: int, counts: list[GroupCount], seen_at: datetime) -> None:
    """Adds event counts, exact affected-device counts and first/last seen; re-opens regressed groups.

    Row-locks the groups until commit: call it last in the batch's transaction (see crash_groups_resolve).
    """
    if not counts:
        return
    counts = sorted(counts, key=lambda count: count.group_id)  # same row-lock order in every batch
    pair_table, table = _quote(CrashGroupDevice._meta.db_table), _quote(CrashGroup._meta.db_table)
    seen = _db_datetime(seen_at)
    rows = [
        (count.group_id, count.events, _db_datetime(count.first_seen_at), _db_datetime(count.last_seen_at),
         1 if count.regressed else 0)
        for count in counts
    ]  # fmt: skip
    # A (group, device) pair inserted now is a device this group never had: that is the exact increment.
    update = (
        f"UPDATE {table} SET event_count = event_count + v.events, device_count = device_count + v.devices, "  # noqa: S608
        f"first_seen_at = {_least('first_seen_at', 'v.first_seen')}, "
        f"last_seen_at = {_greatest('last_seen_at', 'v.last_seen')}, "
        f"status = CASE WHEN v.regressed = 1 THEN %s ELSE status END "
    )
    if connection.vendor == "postgresql":  # one round trip: the pairs' insert feeds the update
        counted, count_params = rows_cte(
            "c", [("id", "bigint"), ("events", "bigint"), ("first_seen", "timestamptz"), ("last_seen", "timestamptz"),
                  ("regressed", "int")], rows,
        )  # fmt: skip
        with prepared_cursor() as cursor:
            cursor.execute(
                f"WITH {counted}, "  # noqa: S608
                f"new_pairs AS (INSERT INTO {pair_table} (group_id, device_id, first_seen_at) "
                f"SELECT id, %s::bigint, %s::timestamptz FROM c ORDER BY id ON CONFLICT (group_id, device_id) DO NOTHING "
                f"RETURNING group_id), "
                f"v AS (SELECT c.*, (SELECT COUNT(*) FROM new_pairs p WHERE p.group_id = c.id) AS devices FROM c) "
                f"{update} FROM v WHERE {table}.id = v.id",
                [*count_params, device_id, seen, CrashGroupStatus.REGRESSED],
            )
        return
    with connection.cursor() as cursor:
        # SQLite has no data-modifying WITH: the pairs first, then the counters.
        cursor.execute(
            f"INSERT INTO {pair_table} (group_id, device_id, first_seen_at) VALUES "  # noqa: S608
            + ", ".join(["(%s, %s, %s)"] * len(counts))
            + " ON CONFLICT (group_id, device_id) DO NOTHING RETURNING group_id",
            [value for count in counts for value in (count.group_id, device_id, seen)],
        )
        new_device_groups = {group_id for (group_id,) in cursor.fetchall()}
        counted = [(*row, int(row[0] in new_device_groups)) for row in rows]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(counted))
        cursor.execute(
            f"WITH v (id, events, first_seen, last_seen, regressed, devices) AS (VALUES {values}) "  # noqa: S608
            f"{update} FROM v WHERE {table}.id = v.id",
            [*(value for row in counted for value in row), CrashGroupStatus.REGRESSED],
        )


def device_upsert(
    *,
    uid: str,
    device_model_id: int,
    os_version: str,
    app_version: str,
    firmware: str,
    fleet: str,
    first_seen_at: datetime,
    last_seen_at: datetime,
    device_bound: bool = False,
) -> int | None:
    """Creates or refreshes the batch's Device in one statement (no model instance on the hot path); its id.

    First/last seen widen to the batch's earliest/latest event time (a buffered batch carries days-old events).
    None when the key may not speak for the device: it is bound to a fleet and the device is another fleet's, or
    it is not the device's own key while the device has one (an active key bound to its uid). A device takes
    the fleet of the first fleet-bound key that posts for it.
    """
    table, keys = _quote(Device._meta.db_table), _quote(ApiKey._meta.db_table)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS d (uid, device_model_id, os_version, app_version, firmware, fleet, "  # noqa: S608
            f"first_seen_at, last_seen_at) SELECT %s, %s, %s, %s, %s, %s, %s, %s "
            f"WHERE %s OR NOT EXISTS (SELECT 1 FROM {keys} WHERE device_uid = %s AND revoked_at IS NULL) "
            f"ON CONFLICT (uid) DO UPDATE SET "
            f"device_model_id = EXCLUDED.device_model_id, os_version = EXCLUDED.os_version, "
            f"app_version = EXCLUDED.app_version, firmware = EXCLUDED.firmware, "
            f"first_seen_at = {_least('d.first_seen_at', 'EXCLUDED.first_seen_at')}, "
            f"last_seen_at = {_greatest('d.last_seen_at', 'EXCLUDED.last_seen_at')}, "
            f"fleet = CASE WHEN d.fleet = '' THEN EXCLUDED.fleet ELSE d.fleet END "
            f"WHERE EXCLUDED.fleet = '' OR d.fleet = '' OR d.fleet = EXCLUDED.fleet "
            f"RETURNING id",
            [uid, device_model_id, os_version, app_version, firmware, fleet, _db_datetime(first_seen_at),
             _db_datetime(last_seen_at), device_bound, uid],
        )  # fmt: skip
        row = cursor.fetchone()
        return row[0] if row else None


def session_ids_by_event(*, device_id: int, sessions: list[tuple[uuid.UUID, str, datetime]]) -> dict[str, int]:
    """{session_id: id} of the stored sessions among (event_id, session_id, started_at) of this device.

    One probe of the (device, session_id) index per session, within the sessions' started_at range: on PostgreSQL
    that range prunes the day partitions to those the batch wrote (event_id has no index of its own:
    SessionEventKey is its dedupe). A lateral probe, because given the ids as one `= ANY` list PostgreSQL scanned
    the whole range by the (device, started_at) index instead (the batch's rows are newer than the table's
    statistics, so it counts the range as near empty): the batch's every row, not its crashed sessions.
    """
    event_id = InferenceSession._meta.get_field("event_id")
    keys, key_params = rows_cte(
        "k", [("session_id", "text"), ("event_id", "uuid")],
        [(session_id, event_id.get_db_prep_value(value, connection)) for value, session_id, _ in sessions],
    )  # fmt: skip
    table = _quote(InferenceSession._meta.db_table)
    match = (
        "s.device_id = %s AND s.session_id = k.session_id AND s.event_id = k.event_id "
        "AND s.started_at >= %s AND s.started_at <= %s"
    )
    if connection.vendor == "postgresql":  # LIMIT 1 changes nothing (event_id is unique); it keeps the plan a probe
        sql = f"WITH {keys} SELECT k.session_id, f.id FROM k CROSS JOIN LATERAL (SELECT s.id FROM {table} s WHERE {match} LIMIT 1) f"  # noqa: E501,S608
    else:  # SQLite probes the index for each row of k by itself
        sql = f"WITH {keys} SELECT k.session_id, s.id FROM k JOIN {table} s ON {match}"  # noqa: S608
    started = [at for *_, at in sessions]
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*key_params, device_id, _db_datetime(min(started)), _db_datetime(max(started))])
        return dict(cursor.fetchall())


def session_crash_link(*, device_id: int) -> list[tuple[datetime, tuple, bool]]:
    """Marks sessions that have a crash and links crashes to their session, whichever arrived first (crashes of
    sessions stored in their own batch are stored linked: see session_ids_by_event).

    No ORM compilation. Returns (started_at, cohort in COHORT_FIELDS order, in_partial) of each session whose
    has_crash flipped: its (maybe older) hour needs a new rollup, and its batch's partial a crashed session more.
    (Sessions whose crash came in the same batch were stored flagged: they do not flip here.)
    """
    sessions, crashes = _quote(InferenceSession._meta.db_table), _quote(CrashReport._meta.db_table)
    match = f"s.device_id = %s AND s.session_id = {crashes}.session_id"
    link = (
        f"UPDATE {crashes} SET inference_session_id = (SELECT s.id FROM {sessions} s WHERE {match} LIMIT 1) "  # noqa: S608
        f"WHERE device_id = %s AND inference_session_id IS NULL AND EXISTS (SELECT 1 FROM {sessions} s WHERE {match})"
    )
    flag = (
        f"UPDATE {sessions} SET has_crash = %s WHERE device_id = %s AND has_crash = %s AND session_id IN "  # noqa: S608
        f"(SELECT session_id FROM {crashes} WHERE device_id = %s AND inference_session_id IS NULL) "
        f"RETURNING started_at, {', '.join(_quote(column) for column in COHORT_FIELDS)}, in_partial"
    )
    link_params, flag_params = [device_id] * 3, [True, device_id, False, device_id]
    with prepared_cursor() as cursor:
        if connection.vendor == "postgresql":
            # One round trip: both updates read the statement's snapshot, so `flag` still sees the crashes `link` links.
            cursor.execute(f"WITH linked AS ({link}) {flag}", link_params + flag_params)
            flipped = cursor.fetchall()
        else:  # SQLite has no data-modifying WITH: flag first, while the crashes are still unlinked
            cursor.execute(flag, flag_params)
            flipped = cursor.fetchall()
            cursor.execute(link, link_params)
    field = InferenceSession._meta.get_field("started_at")
    return [
        (
            started
            if isinstance(started, datetime)
            else connection.ops.convert_datetimefield_value(started, field, connection),
            tuple(cohort),
            bool(in_partial),
        )
        for started, *cohort, in_partial in flipped
    ]
