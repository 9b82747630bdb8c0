"""Precision and recall of benchmarks.detection.detect_regressions on a synthetic suite with known change points.

    .venv/bin/python perf/regression_eval.py [--series 400] [--seed 2]

Suite (fixed seed): each series has 30–120 runs, a base level of 1–1000 (log-uniform), Gaussian noise with
a constant coefficient of variation drawn from {0.5, 1, 2} %, and 0 (pure noise, 30 %), 1 (40 %) or 2 (30 %)
change points of 5–30 % (uniform) up or down, each regime at least MIN_REGIME runs long. The same number of
series at CV 4 % is a stress line with no target. A "newest runs" suite puts the shift in the last
1 … min_segment − 1 runs only, which only the lookback test can see. The "sequential" suites re-run detection
after every new run, as the Celery task will, and count distinct alerts that match no real change.

A detection matches a true change point when it is within ±2 runs and moves the same way (one-to-one,
nearest first). Precision = matched / detections, recall = matched / true change points. Unmatched
detections are put in a shift-size bin by their estimated |change_pct| (< 10 % counts as 5–10 %).

Tuning protocol: defaults in benchmarks/detection.py were chosen with --seed 1; the printed report uses
the default --seed 2, which was not used for tuning.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import detection  # noqa: E402
from benchmarks.detection import Direction, detect_regressions  # noqa: E402

TARGET_CVS_PCT = (0.5, 1.0, 2.0)
STRESS_CV_PCT = 4.0
MIN_REGIME = 5
MATCH_TOLERANCE = 2
CHANGE_COUNT_WEIGHTS = {0: 0.3, 1: 0.4, 2: 0.3}
SHIFT_BINS = (("5–10 %", 0.0, 10.0), ("10–20 %", 10.0, 20.0), ("≥20 %", 20.0, float("inf")))


@dataclass(frozen=True)
class TrueChange:
    index: int
    shift_pct: float  # signed


@dataclass(frozen=True)
class Series:
    values: np.ndarray
    cv_pct: float
    direction: Direction
    changes: tuple[TrueChange, ...]


@dataclass
class Tally:
    matched: int = 0
    missed: int = 0
    false: int = 0

    @property
    def precision(self) -> float:
        detections = self.matched + self.false
        return self.matched / detections if detections else float("nan")

    @property
    def recall(self) -> float:
        truths = self.matched + self.missed
        return self.matched / truths if truths else float("nan")


@dataclass
class Report:
    by_key: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    noise_series: int = 0
    noise_detections: int = 0
    seconds: float = 0.0
    series: int = 0


def shift_bin(magnitude_pct: float) -> str:
    return next(name for name, low, high in SHIFT_BINS if low <= magnitude_pct < high)


def change_indices(rng: np.random.Generator, *, length: int, count: int) -> list[int]:
    while True:
        indices = sorted(int(i) for i in rng.choice(np.arange(MIN_REGIME, length - MIN_REGIME + 1), count, False))
        gaps = np.diff([0, *indices, length])
        if count == 0 or gaps.min() >= MIN_REGIME:
            return indices


def make_series(
    rng: np.random.Generator, *, cv_pct: float, change_count: int, length: int, tail: bool = False
) -> Series:
    level = 10 ** rng.uniform(0.0, 3.0)
    if tail:  # shift only in the newest 1 … min_segment − 1 runs
        indices = [length - int(rng.integers(1, detection.DEFAULT_MIN_SEGMENT))]
    else:
        indices = change_indices(rng, length=length, count=change_count)
    levels = np.full(length, level)
    changes = []
    for index in indices:
        shift_pct = rng.uniform(5.0, 30.0) * rng.choice([-1.0, 1.0])
        levels[index:] *= 1.0 + shift_pct / 100.0
        changes.append(TrueChange(index, shift_pct))
    values = levels + rng.normal(0.0, 1.0, length) * levels * cv_pct / 100.0
    direction = Direction.LOWER_IS_BETTER if rng.random() < 0.5 else Direction.HIGHER_IS_BETTER
    return Series(values, cv_pct, direction, tuple(changes))


def evaluate(suite: list[Series]) -> Report:
    report = Report()
    for series in suite:
        started = time.perf_counter()
        found = detect_regressions(values=series.values, direction=series.direction)
        report.seconds += time.perf_counter() - started
        report.series += 1
        if not series.changes:
            report.noise_series += 1
            report.noise_detections += len(found)
        pairs = sorted(
            (abs(cp.index - truth.index), d, t)
            for d, cp in enumerate(found)
            for t, truth in enumerate(series.changes)
            if abs(cp.index - truth.index) <= MATCH_TOLERANCE and (cp.change_pct > 0) == (truth.shift_pct > 0)
        )
        matched_detections: set[int] = set()
        matched_truths: set[int] = set()
        for _, d, t in pairs:
            if d not in matched_detections and t not in matched_truths:
                matched_detections.add(d)
                matched_truths.add(t)
        cv_key = f"CV {series.cv_pct:g} %"
        for t, truth in enumerate(series.changes):
            outcome = "matched" if t in matched_truths else "missed"
            for key in ("all", cv_key, shift_bin(abs(truth.shift_pct))):
                setattr(report.by_key[key], outcome, getattr(report.by_key[key], outcome) + 1)
        for d, cp in enumerate(found):
            if d not in matched_detections:
                for key in ("all", cv_key, shift_bin(abs(cp.change_pct))):
                    report.by_key[key].false += 1
    return report


def evaluate_sequential(suite: list[Series], *, first_run: int) -> None:
    """Re-run detection after every new run, as the Celery task does; alerts are deduplicated (±2, same way)."""
    spurious, delays, noise_series, changed = 0, [], 0, 0
    for series in suite:
        alerts: list[tuple[int, bool]] = []
        detected_at = None
        for length in range(first_run, len(series.values) + 1):
            for cp in detect_regressions(values=series.values[:length], direction=series.direction):
                key = (cp.index, cp.change_pct > 0)
                if any(abs(key[0] - i) <= MATCH_TOLERANCE and key[1] == up for i, up in alerts):
                    continue
                alerts.append(key)
                truth = series.changes[0] if series.changes else None
                if truth and abs(key[0] - truth.index) <= MATCH_TOLERANCE and key[1] == (truth.shift_pct > 0):
                    detected_at = length if detected_at is None else detected_at
                else:
                    spurious += 1
        if series.changes:
            changed += 1
            if detected_at is not None:
                delays.append(detected_at - series.changes[0].index)
        else:
            noise_series += 1
    runs = sum(len(series.values) - first_run + 1 for series in suite)
    print(f"  spurious alerts: {spurious} over {runs} analyses ({1000.0 * spurious / runs:.1f} per 1,000 runs);")
    print(f"  {100.0 * spurious / len(suite):.1f} per 100 series ({noise_series} noise-only, {changed} with a change)")
    if delays:
        print(
            f"  real changes detected by the last run: {len(delays)}/{changed}; runs of the new level needed "
            f"(1 = its first run): median {np.median(delays):g}, 90th percentile {np.percentile(delays, 90):g}"
        )


def print_report(title: str, report: Report, keys: list[str]) -> None:
    print(f"\n{title}")
    print(f"  {'group':<10} {'precision':>9} {'recall':>7} {'matched':>8} {'missed':>7} {'false':>6}")
    for key in keys:
        tally = report.by_key.get(key)
        if tally is None:
            continue
        print(
            f"  {key:<10} {tally.precision:>9.3f} {tally.recall:>7.3f} "
            f"{tally.matched:>8} {tally.missed:>7} {tally.false:>6}"
        )
    if report.noise_series:
        per_100 = 100.0 * report.noise_detections / report.noise_series
        print(f"  false positives per 100 noise-only series: {per_100:.1f} ({report.noise_series} series)")
    print(
        f"  runtime: {report.seconds:.2f} s for {report.series} series ({1e3 * report.seconds / report.series:.1f} ms each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2, help="defaults were tuned on seed 1; report on another")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts, weights = zip(*CHANGE_COUNT_WEIGHTS.items(), strict=True)

    def suite(cvs: tuple[float, ...], *, tail: bool = False, count: int = args.series) -> list[Series]:
        return [
            make_series(
                rng,
                cv_pct=float(rng.choice(cvs)),
                change_count=1 if tail else int(rng.choice(counts, p=weights)),
                length=int(rng.integers(30, 121)),
                tail=tail,
            )
            for _ in range(count)
        ]

    print(
        f"seed {args.seed}, {args.series} series per suite; defaults: min_effect_pct="
        f"{detection.DEFAULT_MIN_EFFECT_PCT}, max_p_value={detection.DEFAULT_MAX_P_VALUE}, min_segment="
        f"{detection.DEFAULT_MIN_SEGMENT}, z_threshold={detection.DEFAULT_Z_THRESHOLD}, lookback_window="
        f"{detection.DEFAULT_LOOKBACK_WINDOW}, min_history={detection.DEFAULT_MIN_HISTORY}"
    )
    detect_regressions(values=np.ones(40), direction=Direction.LOWER_IS_BETTER)  # warm imports
    cv_keys = [f"CV {cv:g} %" for cv in TARGET_CVS_PCT]
    bin_keys = [name for name, _, _ in SHIFT_BINS]
    print_report("Target suite: CV ≤ 2 %, shifts 5–30 %", evaluate(suite(TARGET_CVS_PCT)), ["all", *bin_keys, *cv_keys])
    print_report(f"Stress: CV {STRESS_CV_PCT:g} % (no target)", evaluate(suite((STRESS_CV_PCT,))), ["all", *bin_keys])
    print_report(
        "Newest runs: shift only in the last 1 … min_segment − 1 runs, CV ≤ 2 % (lookback test)",
        evaluate(suite(TARGET_CVS_PCT, tail=True, count=max(args.series // 4, 1))),
        ["all", *bin_keys, *cv_keys],
    )
    for cvs, label in ((TARGET_CVS_PCT, "CV ≤ 2 %"), ((STRESS_CV_PCT,), f"CV {STRESS_CV_PCT:g} % (stress)")):
        sequential = [
            make_series(rng, cv_pct=float(rng.choice(cvs)), change_count=int(rng.integers(0, 2)), length=60)
            for _ in range(max(args.series // 4, 1))
        ]
        print(f"\nSequential, {label}: 60-run series with 0 or 1 change, re-analysed after every run from run 10")
        evaluate_sequential(sequential, first_run=10)
    long_series = np.random.default_rng(args.seed).normal(100.0, 2.0, 500)
    long_series[250:] *= 1.1
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        detect_regressions(values=long_series, direction=Direction.LOWER_IS_BETTER)
        timings.append(time.perf_counter() - started)
    print(f"\n500-run series with one 10 % step: median {1e3 * float(np.median(timings)):.1f} ms")


if __name__ == "__main__":
    main()
