import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from .chunked import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")
# Bounded as Django bounds any body (the ingest view applies its own, smaller limit after decompression).
application = ChunkedBodyMiddleware(
    get_wsgi_application(), max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.INGEST_MAX_BODY_BYTES
)
# Django imports the URLconf, and with it every view module (SciPy for the benchmark comparisons: ~1 s), at the
# first request: do it now, so no device waits for it and those objects are frozen below with the rest.
import_module(settings.ROOT_URLCONF)

# An ingest batch allocates ~10k short-lived containers. With the default young-generation threshold (700) the
# collector ran ~15 times per batch and promoted the batch's live data, which set off full collections walking
# every object Django loaded (~150k, ~100 ms each): ~15 µs of the ~60 µs of web CPU per ingested event
# (perf/ingest_cpu.py). Startup objects live as long as the worker: freeze them out of every collection, and let
# reference counting free the batch's objects before the young generation is scanned.
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 10, 10)
