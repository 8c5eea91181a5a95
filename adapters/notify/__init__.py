"""Notifier implementations: structured log, webhook, and a de-duplicating wrapper."""

from __future__ import annotations

from adapters.notify.dedup import DedupNotifier
from adapters.notify.log import LogNotifier
from adapters.notify.webhook import WebhookNotifier

__all__ = ["DedupNotifier", "LogNotifier", "WebhookNotifier"]
