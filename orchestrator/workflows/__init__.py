"""YAML workflows: what (steps) separate from when (schedules), guard-railed, with dry run,
operator approval and a kill switch.

    spec        pydantic models of config/workflows/*.yaml (unknown keys refused)
    loader      files -> WorkflowCatalog; errors name file:line:column and field
    conditions  the declared `when:` vocabulary (data, never evaluated as code)
    pricing     KRX ticks, lots, limit prices at an offset from the last quote
    rebalance   pure rebalance maths
    guardrails  per-order/per-day caps, orders per run, symbols, collar, session, kill switch
    steps       the step registry: one planner per step kind
    plan        plan / decisions / outcome as stored on the run row (JSON)
    runner      claim a fire, plan, approve, execute at most once, resume after a crash
    killswitch  the persisted, audited switch that stops every order and transfer
    control     operator reads and decisions (API), scheduler job specs
    commands    plain functions behind the `workflows` and `killswitch` CLI commands

Ports live in orchestrator.ports.workflows; the SQL store in adapters.db.workflows.
"""
