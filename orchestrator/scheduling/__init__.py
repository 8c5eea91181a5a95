"""Scheduling: APScheduler 3 jobs built from config, each fire claimed once across replicas.

jobs.py       the `scheduler:` section (JobSpec, CronFields, SchedulerSettings, DEFAULT_JOBS)
fires.py      what a job receives (JobFire) and what the operator sees (JobInfo); claim keys
triggers.py   cron / anchored interval triggers, filtered by the KRX calendar
executor.py   the APScheduler executor that hands each nominal run time to the claim
scheduler.py  the Scheduler facade: start/stop, fire (claim, run, record), operator controls
"""

from orchestrator.scheduling.executor import ClaimingExecutor
from orchestrator.scheduling.fires import (
    Action,
    JobFire,
    JobInfo,
    default_replica_id,
    nominal,
    resolve_action,
)
from orchestrator.scheduling.jobs import DEFAULT_JOBS, CronFields, JobSpec, SchedulerSettings
from orchestrator.scheduling.scheduler import Scheduler
from orchestrator.scheduling.triggers import CalendarTrigger, build_trigger

__all__ = [
    "DEFAULT_JOBS",
    "Action",
    "CalendarTrigger",
    "ClaimingExecutor",
    "CronFields",
    "JobFire",
    "JobInfo",
    "JobSpec",
    "Scheduler",
    "SchedulerSettings",
    "build_trigger",
    "default_replica_id",
    "nominal",
    "resolve_action",
]
