"""The task engine on PostgreSQL: procrastinate (tasks, periodic de-duplication, locks, retries)."""

from adapters.tasks.engine import (
    BackoffRetry,
    ProcrastinateEngine,
    TaskHost,
    apply_schema,
    conninfo,
    create_task_app,
    run_worker,
)

__all__ = [
    "BackoffRetry",
    "ProcrastinateEngine",
    "TaskHost",
    "apply_schema",
    "conninfo",
    "create_task_app",
    "run_worker",
]
