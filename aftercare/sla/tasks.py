"""The SLA sweeper as a periodic job. Huey's schedule has minute resolution, so each run
sweeps several times within its minute: a warning is fired at most SWEEP_INTERVAL seconds
after its instant. Any number of workers may run it; clocks are claimed, never shared."""

import time

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import engine

SWEEP_INTERVAL = getattr(settings, "AFTERCARE_SLA_SWEEP_SECONDS", 10)


# No task lock: sweeps running side by side claim disjoint clocks (see engine.sweep), so a
# worker killed mid-sweep cannot leave a lock behind that stops sweeping.
@db_periodic_task(crontab(minute="*"))
def sweep_sla_clocks() -> int:
    fired = 0
    started = time.monotonic()
    # Sweep at 0, 10, … 50 s; the next run starts at 60 s.
    while True:
        result = engine.sweep()
        fired += result.warnings + result.breaches + result.escalations
        if time.monotonic() - started + SWEEP_INTERVAL >= 60:
            return fired
        time.sleep(SWEEP_INTERVAL)


@db_task()
def reevaluate_policy(policy_id: int) -> int:
    return engine.reevaluate_policy_tickets(policy_id)
