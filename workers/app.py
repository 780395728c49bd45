"""The worker's Celery application, for ``cascade worker`` and ``celery -A workers.app``."""

from __future__ import annotations

from broker.celery_app import create_celery
from broker.settings import Settings
from workers.tasks import register_tasks

__all__ = ["app", "settings"]

settings = Settings()
app = create_celery(settings)
register_tasks(app, settings)
