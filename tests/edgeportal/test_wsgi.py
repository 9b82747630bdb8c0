"""The WSGI entry point gunicorn loads: the app, and a garbage collector tuned for ingest batches."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_worker_freezes_startup_objects_and_collects_the_young_generation_rarely():
    probe = (
        "import gc, json, sys, edgeportal.wsgi; "
        "print(json.dumps([gc.get_freeze_count(), gc.get_threshold(), 'telemetry.api.ingest_views' in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)

    frozen, (young, *_), views_loaded = json.loads(result.stdout.splitlines()[-1])
    assert frozen > 10_000  # Django and the project's modules are out of every collection
    assert young >= 10_000
    assert views_loaded  # the URLconf's views are imported before the freeze, not at the first request
