"""The Celery app. Beat schedules live in code (STYLE.md habit 7)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sigportal.settings")

app = Celery("sigportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Seconds between runs. The same table drives the in-process scheduler of the embedded
# default (sigportal/inprocess.py), so both modes run the same tasks.
PERIODIC_TASKS: dict[str, float] = {
    "tlog.integrate_pending": 10.0,
    "tlog.publish_checkpoints": 15.0,
    "tlog.vacuum_pending": 30.0,
}

app.conf.beat_schedule = {
    name: {"task": name, "schedule": seconds} for name, seconds in PERIODIC_TASKS.items()
}
