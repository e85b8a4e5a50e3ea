"""Run in a child process by test_task_queue.py with the environment under test.

Opens a ticket (which queues its acknowledgement on commit), then plays the worker: takes the
task off the configured queue and runs it, then the mail delivery it queued, each twice.
Prints the queue class and the outcome as JSON.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
sys.path.insert(0, os.getcwd())
django.setup()

from django.core.management import call_command  # noqa: E402
from huey.contrib.djhuey import HUEY  # noqa: E402

from aftercare.customers.services import find_or_create_customer  # noqa: E402
from aftercare.tickets.models import Ticket  # noqa: E402
from aftercare.tickets.services import open_ticket  # noqa: E402

call_command("migrate", verbosity=0)
HUEY.flush()
match = find_or_create_customer(name="队列测试", email="queue@example.cn")
ticket = open_ticket(
    actor=None,
    kind="inquiry",
    channel="email",
    subject="队列测试",
    customer=match.customer,
    contact=match.contact,
)
pending_before = HUEY.pending_count()
task = HUEY.dequeue()
HUEY.execute(task)
HUEY.execute(task)  # a task delivered twice must not send twice
# The acknowledgement went to the outbox; its delivery is the next task on the queue.
delivery = HUEY.dequeue()
HUEY.execute(delivery)
HUEY.execute(delivery)
ticket = Ticket.objects.get(pk=ticket.pk)
print(
    json.dumps(
        {
            "queue": type(HUEY).__name__,
            "pending_before": pending_before,
            "acknowledged": ticket.acknowledged_at is not None,
            "ack_events": ticket.events.filter(kind="acknowledged").count(),
            "outbox": len(os.listdir(os.environ["AFTERCARE_VAR_DIR"] + "/outbox")),
        }
    )
)
