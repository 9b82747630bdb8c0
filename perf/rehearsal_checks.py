"""What perf/scale_rehearsal.py measures and decides: the replica's lag, the merged ledgers, the workers, the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from perf.stack import ROOT

# On the standby: seconds behind as edgeportal/replica.py measures them (0 when everything received is replayed),
# and the WAL bytes between a primary position read just before (the parameter) and what the standby replayed.
LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END,
       pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())
"""


def lag_summary(samples: list[tuple[float, float, int]], *, load_stopped_at: float) -> dict:
    """The standby's lag while the devices posted (p50, p95, max and when), and the largest after the load stopped.

    Apart because the seconds formula over-reads once commits thin out: a commit being replayed then counts from the
    previous commit's time, seconds ago (the replica section of docs/scaling.md).
    """
    during = [sample for sample in samples if sample[0] < load_stopped_at]
    seconds = sorted(sample[1] for sample in during) or [0.0]
    worst = max(during, key=lambda sample: sample[1], default=(0.0, 0.0, 0))
    return {"lag_samples": len(during), "lag_p50_s": round(seconds[len(seconds) // 2], 3),
            "lag_p95_s": round(seconds[int(0.95 * (len(seconds) - 1))], 3), "lag_max_s": round(worst[1], 3),
            "lag_max_at_s": round(worst[0], 1), "lag_max_bytes": max((s[2] for s in during), default=0),
            "lag_max_after_load_s": round(max((s[1] for s in samples if s[0] >= load_stopped_at), default=0.0), 3)}  # fmt: skip


def merge_ledgers(paths: list[Path], *, expected: int) -> dict:
    """Every device process's ledger in one: id sets, answers, 5xx bodies; `missing` counts processes that wrote none."""
    sent: list[str] = []
    acknowledged, rejected, statuses, errors_500 = set(), set(), Counter(), []
    slowest, dead_letters = 0.0, 0
    for path in paths:
        ledger = json.loads(path.read_text())
        sent.extend(ledger["sent"])
        acknowledged.update(ledger["acknowledged"])
        rejected.update(ledger["rejected"])
        statuses.update(ledger["statuses"])
        errors_500.extend(ledger["errors_500"])
        slowest, dead_letters = max(slowest, ledger["slowest_s"]), dead_letters + ledger["dead_letters"]
    return {"sent": set(sent), "sent_recorded": len(sent), "acknowledged": acknowledged, "rejected": rejected,
            "statuses": statuses, "errors_500": errors_500, "slowest_s": slowest, "dead_letters": dead_letters,
            "missing": expected - len(paths)}  # fmt: skip


def worker_stats(env: dict[str, str], names: list[str]) -> dict:
    """`celery inspect stats` of the named workers: each one's pid and tasks run since it started (absent: no answer)."""
    run = subprocess.run([sys.executable, "-m", "celery", "-A", "edgeportal", "inspect", "stats", "--json",
                          "--timeout", "5", "-d", ",".join(names)], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    try:
        answers = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}
    return {name: {"pid": stats.get("pid"), "tasks": sum((stats.get("total") or {}).values())}
            for name, stats in answers.items()}  # fmt: skip


def verdict(ledger: dict, counts: dict, figures: dict, events: list, *, wall_s: float) -> bool:
    """Prints the table and the REHEARSAL_JSON line; True when every check holds."""
    stored_ids = counts.pop("stored_ids")
    sent = ledger["sent"]
    lost = len(sent - stored_ids)
    duplicated = (counts["sessions_rows"] - counts["sessions_distinct"]) + (
        counts["crashes_rows"] - counts["crashes_distinct"]
    )
    one, two, faults, replica = figures["one_node"], figures["two_nodes"], figures["faults"], figures["replica"]
    worker1 = figures["workers"].get("worker1@stack", {})
    checks = {
        "every device wrote its ledger": ledger["missing"] == 0,
        "each event id sent once": ledger["sent_recorded"] == len(sent),
        "0 lost": lost == 0,
        "0 duplicated": duplicated == 0,
        "acknowledged = sent": ledger["acknowledged"] == sent,
        "stored = sent": stored_ids == sent,
        "no 500": not ledger["errors_500"],
        "rollup sessions = raw": counts["rollup_sessions"] == counts["sessions_rows"],
        "rollup crashes = raw": counts["rollup_crashes"] == counts["crashes_rows"],
        "one-node phase: node2 took nothing": one["requests_by_node"].get("node2") == 0,
        "two-node phase: both nodes served": all(n > 0 for n in two["requests_by_node"].values()),
        "node2 carried the load while node1 was down": faults["node2_served_while_node1_down"] > 0,
        "node1 served again after its restart": faults["node1_served_after_restart"] > 0,
        "worker1 answered with its new pid": worker1.get("pid") == faults["worker1_pid"],
        "events accepted after the primary restart": faults["accepted_after_primary_restart"] > 0,
        "replica holds the primary's rows": replica["rows_replica"] == replica["rows_primary"],
    }
    summary = {
        "sent": len(sent),
        "acknowledged": len(ledger["acknowledged"]),
        "rejected": len(ledger["rejected"]),
        "stored": len(stored_ids),
        "lost": lost,
        "duplicated": duplicated,
        "dead_letters": ledger["dead_letters"],
        "raw_sessions": counts["sessions_rows"],
        "raw_crashes": counts["crashes_rows"],
        "rollup_sessions": counts["rollup_sessions"],
        "rollup_crashes": counts["rollup_crashes"],
        "answers": dict(sorted(ledger["statuses"].items())),
        "slowest_answer_s": round(ledger["slowest_s"], 2),
        **figures,
        "wall_s": round(wall_s),
        "checks_failed": [name for name, ok in checks.items() if not ok],
    }
    print(f"\nrehearsal: {wall_s:.0f} s wall")
    for label in ("sent", "acknowledged", "rejected", "stored", "lost", "duplicated", "dead_letters"):
        print(f"  events {label:<34} {summary[label]}")
    print(f"  rollup sessions / raw sessions           {counts['rollup_sessions']} / {counts['sessions_rows']}")
    print(f"  rollup crashes / raw crashes             {counts['rollup_crashes']} / {counts['crashes_rows']}")
    print(f"  accepted events/s, one web node          {one['events_per_s']:,} {one['requests_by_node']}")
    print(f"  accepted events/s, two web nodes         {two['events_per_s']:,} {two['requests_by_node']}")
    print(f"  two nodes / one node                     {figures['two_over_one']}")
    print(
        f"  web CPU per accepted event, one / two    {one['web_cpu_us_per_event']} / {two['web_cpu_us_per_event']} µs"
    )
    print(f"  primary CPU per event, one / two         {one['primary_cpu_us_per_event']} / "
          f"{two['primary_cpu_us_per_event']} µs")  # fmt: skip
    print(f"  load average at the end, one / two       {one['load_average']} / {two['load_average']}")
    print(f"  cores busy, one node                     {one['cores_busy']}")
    print(f"  cores busy, two nodes                    {two['cores_busy']}")
    print(f"  replica lag under load p50 / p95 / max   {replica['lag_p50_s']} / {replica['lag_p95_s']} / "
          f"{replica['lag_max_s']} s (the max at {replica['lag_max_at_s']} s on the timeline; "
          f"{replica['lag_max_bytes']:,} WAL bytes at most; {replica['lag_samples']} samples)")  # fmt: skip
    print(f"  replica lag after the load, max          {replica['lag_max_after_load_s']} s (idle over-read)")
    print(f"  replica caught up after the load in      {replica['caught_up_in_s']} s")
    print(f"  /readyz replica status seen              {replica['readyz_replica_status']}")
    print(f"  slowest answer                           {summary['slowest_answer_s']} s")
    print("  answers and client events seen:")
    for label, count in summary["answers"].items():
        print(f"    {label:<38} {count}")
    print("  timeline:")
    for at, text in events:
        print(f"    {at:6.1f} s  {text}")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    for body in ledger["errors_500"][:3]:
        print(f"  a 5xx body: {body}")
    passed = not summary["checks_failed"]
    print("REHEARSAL OK: 0 lost, 0 duplicated, no 500, rollups = raw, both nodes served, node/worker/primary came back"
          if passed else "REHEARSAL FAILED")  # fmt: skip
    print("REHEARSAL_JSON " + json.dumps(summary, default=str), flush=True)
    return passed
