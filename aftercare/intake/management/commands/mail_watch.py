"""Keep an IMAP IDLE connection to every active mailbox and fetch mail as it arrives
(`manage.py serve` does this in the background by itself)."""

import threading

from django.core.management.base import BaseCommand

from aftercare.intake.imap import start_watchers


class Command(BaseCommand):
    help = "通过 IMAP IDLE 实时收取所有启用的服务邮箱（serve 命令已自动包含）"

    def handle(self, *args, **options):
        stop = threading.Event()
        threads = start_watchers(stop)
        self.stdout.write(f"Watching {len(threads)} mailbox(es); Ctrl-C stops.")
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            stop.set()
