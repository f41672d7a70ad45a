"""The embedded default's Celery beat: periodic tasks on a thread of the web process.

Used when SIGPORTAL_TASKS_IN_PROCESS is on (no REDIS_URL). On-demand tasks already run
eagerly there (CELERY_TASK_ALWAYS_EAGER); this adds the beat schedule.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

from sigportal.celery import PERIODIC_TASKS, app

logger = logging.getLogger(__name__)
_started = threading.Event()


def _run_forever() -> None:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    due = dict.fromkeys(PERIODIC_TASKS, 0.0)
    while True:
        now = time.monotonic()
        for name, interval in PERIODIC_TASKS.items():
            if now < due[name]:
                continue
            due[name] = now + interval
            try:
                app.tasks[name].apply()
            except Exception:
                logger.exception("periodic task %s failed", name)
            finally:
                close_old_connections()
        time.sleep(1.0)


def start_beat_thread() -> None:
    """Start the scheduler once per process."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run_forever, name="sigportal-beat", daemon=True).start()
