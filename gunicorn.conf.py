"""gunicorn reads this file from the working directory (`gunicorn edgeportal.wsgi` in the repository root).

No `Server: gunicorn` banner: it tells an attacker which server and which advisories to try. gunicorn has no
setting for it; its Response writes the line in default_headers(), so that is where it is dropped.
"""

import gunicorn.http.wsgi

_default_headers = gunicorn.http.wsgi.Response.default_headers


def _default_headers_without_banner(self):
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


gunicorn.http.wsgi.Response.default_headers = _default_headers_without_banner
