"""Celery tasks: thin, idempotent, safe to run twice (STYLE.md habit 7)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from tlog import services
from tlog.models import Log

logger = logging.getLogger(__name__)


_MAX_BATCHES_PER_RUN = 50


@shared_task(name="tlog.integrate_pending")
def integrate_pending() -> int:
    """Integrate entries left pending (an upload whose web worker died mid-way)."""
    total = 0
    # Bounded: under steady load there is always more pending; the next run (or the
    # uploads themselves) take it, and this task never pins a worker.
    for log_id in Log.objects.filter(state=Log.State.ACTIVE, fault="").values_list("id", flat=True):
        try:
            for _ in range(_MAX_BATCHES_PER_RUN):
                count = services.log_integrate(log_id=log_id)
                total += count
                if not count:
                    break
        except services.LogFaulty:
            logger.error("log %s is faulty; not integrating", log_id)
    return total


@shared_task(name="tlog.publish_checkpoints")
def publish_checkpoints() -> int:
    """Sign a fresh checkpoint for monitors and witnesses when the newest is stale."""
    published = 0
    for log_id in Log.objects.filter(state=Log.State.ACTIVE, fault="").values_list("id", flat=True):
        try:
            if services.checkpoint_publish(
                log_id=log_id, min_age_seconds=settings.TLOG_CHECKPOINT_INTERVAL_SECONDS
            ):
                published += 1
        except services.LogFaulty:
            logger.error("log %s is faulty; not publishing", log_id)
    return published


@shared_task(name="tlog.vacuum_pending")
def vacuum_pending() -> None:
    """Keep the pending table's index free of deleted rows (see services.pending_vacuum)."""
    services.pending_vacuum()
