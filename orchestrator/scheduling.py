"""Scheduling: APScheduler 3 jobs built from config, each fire claimed once across replicas."""

from __future__ import annotations
