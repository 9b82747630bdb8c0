"""The per-request memo of KPI reads: a page asks for several figures of the same rows (the KPIs, the breakdowns,
the cohorts, lab coverage, the release cards), so within one HTTP request those rows are read once.

Request signals open and drop the memo; outside a request (tasks, management commands) there is none and every
read reads. Nothing outlives its request: a first request after a rollup run reads what that run wrote.
"""

from contextvars import ContextVar

from django.core.signals import request_finished, request_started

_request_memo: ContextVar[dict | None] = ContextVar("kpi_request_memo", default=None)


def request_memo() -> dict | None:
    """The current request's memo (a dict), or None outside a request."""
    return _request_memo.get()


def _memo_open(**kwargs) -> None:
    _request_memo.set({})


def _memo_close(**kwargs) -> None:
    _request_memo.set(None)


request_started.connect(_memo_open, dispatch_uid="telemetry.kpi.selectors.memo_open")
request_finished.connect(_memo_close, dispatch_uid="telemetry.kpi.selectors.memo_close")
