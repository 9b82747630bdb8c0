"""Which model version this device should run: ``GET /api/v1/rollouts/assignment/`` with a cache (API.md Rollouts).

The answer is kept for its ``ttl_s``; when the portal cannot be reached (network error, 429/5xx) the last answer is
returned however old it is, so a device offline keeps running what it was told. With ``cache_path`` the answers
survive a restart (written atomically).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from threading import Lock
from typing import Any

import requests

ASSIGNMENT_PATH = "/api/v1/rollouts/assignment/"
UNREACHABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class AssignmentClient:
    """Asks for and caches assignments; thread safe."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        device_uid: str | None = None,
        cache_path: Path | str | None = None,
        timeout: float = 10,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.url = base_url.rstrip("/") + ASSIGNMENT_PATH
        self.device_uid = device_uid
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._session = session or requests.Session()
        self._clock = clock
        self._path = Path(cache_path) if cache_path is not None else None
        self._lock = Lock()
        self._cache: dict[str, dict[str, Any]] = self._load()
        self.last_error: str | None = None

    def assigned_version(self, model: str) -> str | None:
        """The version of `model` to run: cached while fresh, asked otherwise, the last answer when unreachable;
        None only if the portal was never reached for this model (the app keeps its bundled version)."""
        with self._lock:
            cached = self._cache.get(model)
            if cached is not None and cached["expires_at"] > self._clock():
                return cached["answer"]["version"]
            answer = self._ask(model)
            if answer is not None:
                self._cache[model] = {"answer": answer, "expires_at": self._clock() + float(answer.get("ttl_s", 3600))}
                self._save()
                return answer["version"]
            return cached["answer"]["version"] if cached is not None else None

    def assignment(self, model: str) -> dict[str, Any] | None:
        """The last full answer for `model` (version, rollout, arm, stage, ttl_s), if any."""
        with self._lock:
            cached = self._cache.get(model)
            return dict(cached["answer"]) if cached else None

    def _ask(self, model: str) -> dict[str, Any] | None:
        params = {"model": model}
        if self.device_uid:
            params["device"] = self.device_uid
        try:
            response = self._session.get(self.url, params=params, headers=self._headers, timeout=self.timeout)
        except requests.RequestException as exc:
            self.last_error = f"network error: {type(exc).__name__}: {exc}"
            return None
        if response.status_code != 200:
            # 4xx other than 429 will not heal by itself, but a device still needs a version to run: keep the last one
            self.last_error = f"HTTP {response.status_code}: {response.text[:300]}"
            return None
        try:
            answer = response.json()
        except ValueError:
            self.last_error = "answer is not JSON"
            return None
        if not isinstance(answer, dict) or "version" not in answer:
            self.last_error = "answer has no version"
            return None
        self.last_error = None
        return answer

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        if self._path is None:
            return
        temporary = self._path.with_suffix(self._path.suffix + ".tmp")
        temporary.write_text(json.dumps(self._cache))
        os.replace(temporary, self._path)
