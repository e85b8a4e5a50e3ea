"""Embedded mode in one process: the web server plus the task worker and its periodic jobs.

Scaled out, run `gunicorn config.wsgi` and `manage.py run_huey` as separate processes instead.
"""

import signal
import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand
from huey.contrib.djhuey import HUEY


class Command(BaseCommand):
    help = "Serve AfterCare with an embedded task worker (development and small installations)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args, addrport: str, workers: int, **options):
        # Locks left by a process that was killed mid-task are cleared at start.
        consumer = HUEY.create_consumer(
            workers=workers, worker_type="thread", periodic=True, flush_locks=True
        )
        consumer.start()
        # The consumer installs its own SIGINT/SIGTERM handlers; give them back to the web
        # server so Ctrl-C stops the whole process (worker threads are daemons).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.stdout.write(f"Task worker started ({workers} threads, queue: {HUEY.name}).")
        from aftercare.intake.imap import start_watchers

        watchers = start_watchers(threading.Event())
        if watchers:
            self.stdout.write(f"Watching {len(watchers)} mailbox(es) with IMAP IDLE.")
        call_command("runserver", addrport, use_reloader=False, use_threading=True)
