"""The demo seed's progress bar: a redrawn line on a terminal, a line per quarter in a log."""

import io

from django.core.management.base import OutputWrapper

from core.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_the_bar_prints_a_line_per_quarter_and_the_last_one_once():
    out = io.StringIO()
    bar = ProgressBar(OutputWrapper(out), "devices posting", 8, "devices")
    for _ in range(8):
        bar.advance()
    bar.finish("8 devices posted")
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].split()[0] for line in lines[:-1]] == ["0%", "25%", "50%", "75%", "100%"]
    assert "8/8 devices" in lines[-2] and lines[-1] == "   8 devices posted"


def test_on_a_terminal_the_bar_redraws_one_line_and_ends_it():
    out = _Terminal()
    bar = ProgressBar(OutputWrapper(out), "rollups", 3, "days")
    for _ in range(3):
        bar.advance()
    bar.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 5  # drawn at 0, 1, 2, 3 and once more when finished
    assert text.rstrip("\n").split("\r")[-1].split("]")[0].endswith("#" * 30)


def test_an_empty_total_reads_as_done():
    out = io.StringIO()
    bar = ProgressBar(OutputWrapper(out), "nothing", 0)
    bar.finish()
    assert "100%" in out.getvalue()
