"""YAML workflows: what (steps) separate from when (schedules)."""
