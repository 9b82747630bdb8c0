"""Worst-case crash-scrub cost per KB of message, per pattern: `python perf/scrub_bench.py`.

Each pattern runs over the worst inputs of tests/telemetry/test_scrub_bounded.py, cut to the stored limit as
ingest cuts them; the cost is given per KB and as a ratio to `str.lower()` of the same text in the same run, so
the figures compare across machines. A linear pattern costs the same per KB at 1 KB and at the full limit.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")

from telemetry.ingest import crashes  # noqa: E402
from tests.telemetry.test_scrub_bounded import WORST_INPUTS  # noqa: E402


def _best_of(function, text: str, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    patterns = {**crashes.SEARCHED_PATTERNS, **crashes.ANCHORED_PATTERNS}
    print(f"{'pattern':28} {'worst input':14} {'µs/KB @1KB':>11} {'µs/KB @limit':>13} {'× lower()':>10}")
    whole_worst = 0.0
    for name, pattern in patterns.items():
        run = pattern.match if name in crashes.ANCHORED_PATTERNS else pattern.findall
        worst = (0.0, "", 0.0, 0.0)
        for input_name, text in WORST_INPUTS.items():
            text = text[: crashes.MAX_MESSAGE_CHARS]
            small = _best_of(run, text[:1024]) / 1.0 * 1e6
            full = _best_of(run, text) / (len(text) / 1024) * 1e6
            ratio = _best_of(run, text) / max(_best_of(str.lower, text), 1e-9)
            if ratio > worst[0]:
                worst = (ratio, input_name, small, full)
        ratio, input_name, small, full = worst
        print(f"{name:28} {input_name:14} {small:11.1f} {full:13.1f} {ratio:10.0f}")
    for input_name, text in WORST_INPUTS.items():
        cost = _best_of(crashes.secrets_scrub, text, 3)  # the whole scrub, on the uncut 50 KB input
        whole_worst = max(whole_worst, cost)
        print(f"secrets_scrub({input_name!r}, {len(text) // 1024} KB sent): {cost * 1e3:.2f} ms")
    print(f"worst whole scrub of a 50 KB message: {whole_worst * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
