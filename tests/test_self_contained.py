"""The repository carries everything it needs: no tracked file reads anything beside the checkout."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What reading outside the clone looks like: a relative path up out of it, or a folder looked up beside it.
OUTSIDE = (".." + "/shared", '.parent / "shared"', 'parents[3] / "shared"', "parent.parent.parent /")


def test_no_tracked_file_reaches_beside_the_checkout():
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    offenders = []
    for name in filter(None, files):
        path = ROOT / name
        if path.suffix in {".png", ".sqlite3"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        offenders += [
            f"{name}: {needle}" for needle in OUTSIDE if needle in text and name != "tests/test_self_contained.py"
        ]
    assert offenders == []


def test_every_fixture_the_importer_tests_read_is_in_the_repository():
    fixtures = ROOT / "tests" / "benchmarks" / "fixtures"
    readme = (fixtures / "README.md").read_text()
    stored = {p.name for p in fixtures.iterdir() if p.suffix in {".log", ".json", ".txt", ".csv"}}
    assert stored, "no fixtures"
    missing_from_readme = sorted(name for name in stored if name not in readme)
    assert missing_from_readme == []
