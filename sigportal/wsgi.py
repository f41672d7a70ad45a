import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sigportal.settings")

application = get_wsgi_application()

if settings.TASKS_IN_PROCESS:
    from sigportal.inprocess import start_beat_thread

    start_beat_thread()
