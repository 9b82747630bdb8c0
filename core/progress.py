"""A progress bar for long management commands (the demo seed): a redrawn line on a terminal, a few lines in a log."""

from __future__ import annotations

import time
from typing import Protocol, TextIO

BAR_WIDTH = 30
LOG_STEPS = 4  # without a terminal (CI logs, `make demo | tee`), one line per quarter instead of a redrawn bar


class Writer(Protocol):
    def write(self, msg: str, style_func=None, ending: str | None = None) -> None: ...


class ProgressBar:
    """`label [#####.....]  45 %  135/300 devices  12 s`, advanced by `advance(n)` and closed by `finish(summary)`."""

    def __init__(self, stdout: Writer, label: str, total: int, unit: str = "") -> None:
        self.stdout, self.label, self.total, self.unit = stdout, label, max(total, 0), unit
        self.done = 0
        self.started = time.monotonic()
        self._interactive = _is_terminal(getattr(stdout, "_out", stdout))
        self._last_logged_step = -1
        self._draw()

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count) if self.total else self.done + count
        self._draw()

    def finish(self, summary: str = "") -> None:
        self.done = self.total or self.done
        line = self._line()
        if self._interactive:
            self.stdout.write(f"\r{line}", ending="\n")
        elif self._last_logged_step < LOG_STEPS:
            self.stdout.write(line)
        if summary:
            self.stdout.write(f"   {summary}")

    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def _line(self) -> str:
        filled = round(BAR_WIDTH * self.fraction())
        unit = f" {self.unit}" if self.unit else ""
        seconds = time.monotonic() - self.started
        return (
            f"   {self.label:<22} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.fraction():4.0%}"
            f"  {self.done}/{self.total}{unit}  {seconds:.0f} s"
        )

    def _draw(self) -> None:
        if self._interactive:
            self.stdout.write(f"\r{self._line()}", ending="")
            flush = getattr(getattr(self.stdout, "_out", self.stdout), "flush", None)
            if flush:
                flush()
            return
        step = int(self.fraction() * LOG_STEPS)
        if step > self._last_logged_step:
            self._last_logged_step = step
            self.stdout.write(self._line())


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Silent:
    def advance(self, count: int = 1) -> None:
        pass

    def finish(self, summary: str = "") -> None:
        pass


def no_progress(label: str, total: int, unit: str = "") -> _Silent:
    """The progress factory for callers that show none (tests, the API)."""
    return _Silent()
