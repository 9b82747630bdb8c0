"""False failures (A/A) and power of the rollout guardrails, on synthetic arm data at the statistics level.

    .venv/bin/python perf/rollout_eval.py [--rollouts 1000] [--power-sims 100] [--seed 2027] [--jobs 4]

Every simulated evaluation calls rollouts.verdict.verdict_compute — the function the Celery task and
`POST …/evaluate/` call on the arms read from telemetry — on arms from rollouts.synthetic: three device models with
device and session effects (inferences within a session are correlated), overdispersed errors, per-session latency
histograms on the SDK's bucket grid. Guardrails: all five KPIs at their default max_regression, each per device model,
so one evaluation runs 5 × (1 + 3) = 20 tests; the rollout's false-failure budget is 1 % over 3 stages.

A/A: candidate = control in behaviour. Each rollout runs 3 stages of min_sessions N_s = 1,000 / 2,000 / 3,000 per arm
and is evaluated at 100 %, 150 % and 200 % of each stage's minimum (evaluations below the minimum decide nothing, so
they are not simulated). A false failure is any `fail` verdict in any stage.

Power: one stage, the candidate regressed on one device model only (a third of the sessions); a cell is the share of
simulated stages whose first evaluation at the stage minimum (N sessions per arm) fails the candidate.

Tuning protocol: TAU_FACTOR, the practical floor and MIN_TEST_SESSIONS were set by reasoning and tried on --seed 7
(short runs) only; the reported tables come from the default --seed 2027, run once after those constants were fixed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rollouts.guardrails import KPI_SPECS  # noqa: E402
from rollouts.synthetic import DEVICE_MODELS, DeviceFleet, FleetProfile, arm_generate  # noqa: E402
from rollouts.verdict import Decision, guardrail_alpha, verdict_compute  # noqa: E402

GUARDRAILS = [
    {"kpi": kpi, "max_regression": spec.default_max_regression, "per_device_model": True}
    for kpi, spec in KPI_SPECS.items()
]
FALSE_FAILURE_BUDGET = 0.01
AA_STAGES = ((1000, 1), (2000, 1), (3000, 1))  # (min_sessions per arm, candidate sessions per control session)
AA_LOOKS = (1.0, 1.5, 2.0)
POWER_SAMPLES = (1000, 2000, 5000, 10000, 20000)
AFFECTED = (DEVICE_MODELS[1],)
BASE = FleetProfile()
EFFECTS = {
    "crash-free −1 point (0.5 % → 1.5 % crashes)": replace(BASE, affected=AFFECTED, crash_rate_affected=0.015),
    "p95 latency +15 %": replace(BASE, affected=AFFECTED, latency_factor=1.15),
    "errors +0.5 per 1k (1.0 → 1.5)": replace(BASE, affected=AFFECTED, errors_per_inference_affected=0.0015),
    "crash-free −1 point, whole fleet": replace(BASE, affected=DEVICE_MODELS, crash_rate_affected=0.015),
}
# A rollout's arms are disjoint sets of devices (each device's sessions share its effects): half the fleet each.
CANDIDATE_DEVICES, CONTROL_DEVICES = np.arange(0, BASE.devices, 2), np.arange(1, BASE.devices, 2)
ALPHA = guardrail_alpha(
    false_failure_budget=FALSE_FAILURE_BUDGET,
    stages=len(AA_STAGES),
    guardrails=GUARDRAILS,
    device_models=len(DEVICE_MODELS),
)


def _decide(candidate, control, min_sessions: int) -> str:
    stage = {"percent": 5, "min_hours": 0, "min_sessions": min_sessions}
    verdict = verdict_compute(
        stage=stage, stage_hours=24.0, candidate=candidate, control=control, guardrails=GUARDRAILS, alpha=ALPHA
    )
    return verdict.decision


def aa_rollout(rng: np.random.Generator) -> tuple[bool, bool]:
    """(a false failure happened, every stage ended proceeding)."""
    fleet = DeviceFleet(rng, BASE)
    proceeded = True
    for min_sessions, ratio in AA_STAGES:
        size = int(min_sessions * AA_LOOKS[-1])
        control = arm_generate(rng=rng, fleet=fleet, profile=BASE, sessions=size, devices=CONTROL_DEVICES)
        candidate = arm_generate(rng=rng, fleet=fleet, profile=BASE, sessions=size * ratio, devices=CANDIDATE_DEVICES)
        decision = None
        for look in AA_LOOKS:
            n = int(min_sessions * look)
            decision = _decide(candidate.subset(slice(0, n * ratio)), control.subset(slice(0, n)), min_sessions)
            if decision == Decision.FAIL:
                return True, False
        proceeded &= decision == Decision.PROCEED
    return False, proceeded


def aa_chunk(job: tuple[np.random.SeedSequence, int]) -> tuple[int, int]:
    """(false failures, rollouts whose every stage proceeded) over `count` A/A rollouts from one seed stream."""
    seed, count = job
    rng = np.random.default_rng(seed)
    failures = proceeded = 0
    for done in range(1, count + 1):
        failed, ok = aa_rollout(rng)
        failures += failed
        proceeded += ok
        if done % 10 == 0:  # progress, so a run stopped early still says what it saw
            print(
                f"  A/A job {seed.spawn_key}: {done} rollouts, {failures} false failures, {proceeded} proceeded",
                flush=True,
            )
    return failures, proceeded


def power_row(rng: np.random.Generator, profile: FleetProfile, sims: int) -> list[float]:
    caught = np.zeros(len(POWER_SAMPLES))
    for _ in range(sims):
        fleet = DeviceFleet(rng, BASE)
        n = POWER_SAMPLES[-1]
        control = arm_generate(rng=rng, fleet=fleet, profile=BASE, sessions=n, devices=CONTROL_DEVICES)
        candidate = arm_generate(rng=rng, fleet=fleet, profile=profile, sessions=n, devices=CANDIDATE_DEVICES)
        for column, n in enumerate(POWER_SAMPLES):
            caught[column] += _decide(candidate.subset(slice(0, n)), control.subset(slice(0, n)), n) == Decision.FAIL
    return list(caught / sims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--power-sims", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--skip-power", action="store_true")
    parser.add_argument("--skip-aa", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="A/A rollouts in this many processes")
    parser.add_argument("--samples", help="comma-separated N for the power table (default 1000,2000,5000,10000,20000)")
    parser.add_argument("--effects", help="only power rows whose label contains this text")
    args = parser.parse_args()
    global POWER_SAMPLES
    if args.samples:
        POWER_SAMPLES = tuple(int(n) for n in args.samples.split(","))
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    print(
        f"seed {args.seed}, {args.jobs} A/A job(s); per-test α = {FALSE_FAILURE_BUDGET} / (3 × 20 tests) = {ALPHA:.2e}\n"
    )
    failures = proceeded = 0
    if not args.skip_aa:
        # One seed stream per job (SeedSequence.spawn): the result depends on --seed and --jobs only.
        streams = np.random.SeedSequence(args.seed).spawn(args.jobs)
        counts = [args.rollouts // args.jobs + (i < args.rollouts % args.jobs) for i in range(args.jobs)]
        with multiprocessing.Pool(args.jobs) as pool:
            for chunk_failures, chunk_proceeded in pool.map(aa_chunk, list(zip(streams, counts, strict=True))):
                failures += chunk_failures
                proceeded += chunk_proceeded
    if args.skip_aa:
        args.rollouts = 0
    rate = failures / max(args.rollouts, 1)
    if args.rollouts:
        _print_aa(args.rollouts, failures, proceeded, rate, started)
    if args.skip_power:
        return
    _print_power(args, rng, started)


def _print_aa(rollouts: int, failures: int, proceeded: int, rate: float, started: float) -> None:
    # one-sided 95 % upper bound: the rule of three when nothing failed, else the normal approximation
    upper = 3 / rollouts if failures == 0 else rate + 1.645 * np.sqrt(rate * (1 - rate) / rollouts)
    print("A/A (candidate = baseline), 3 stages, 3 evaluations each")
    print("| rollouts | false failures | rate | 95 % upper bound | all stages proceed | target |")
    print("|---|---|---|---|---|---|")
    print(f"| {rollouts} | {failures} | {rate:.2%} | {upper:.2%} | {proceeded / rollouts:.1%} | ≤ 1 % |\n")
    print(f"A/A took {time.monotonic() - started:.0f} s\n", flush=True)


def _print_power(args, rng: np.random.Generator, started: float) -> None:
    header = " | ".join(f"N={n:,}" for n in POWER_SAMPLES)
    print(f"Power: regression on {AFFECTED[0]} only (1/3 of sessions), {args.power_sims} simulated stages per row;")
    print("cell = share caught by the first evaluation at the stage minimum of N sessions per arm")
    print(f"| effect | {header} |")
    print("|---|" + "---|" * len(POWER_SAMPLES))
    for label, profile in EFFECTS.items():
        if args.effects and args.effects not in label:
            continue
        cells = " | ".join(f"{share:.0%}" for share in power_row(rng, profile, args.power_sims))
        print(f"| {label} | {cells} |", flush=True)
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
