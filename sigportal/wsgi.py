import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sigportal.settings")

application = get_wsgi_application()

# Import every view (and what they import: sigstore, pydantic models, drf-spectacular) at
# start-up, not in each worker's first request: measured at 1-2 s of CPU per worker,
# paid inside a client's request and, under load, by everyone queued behind it.
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect

if settings.TASKS_IN_PROCESS:
    from sigportal.inprocess import start_beat_thread

    start_beat_thread()
