from django.core.management.base import BaseCommand
from tqdm import tqdm

from aftercare.demo.seed import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo organisation (华宁电器) with customers, units and tickets. Safe to rerun."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=2000)

    def handle(self, *args, tickets: int, **options):
        with tqdm(total=tickets, desc="demo tickets", unit="ticket", disable=None) as bar:
            result = seed_demo(tickets=tickets, progress=bar.update)
        if result.created_tickets == 0:
            self.stdout.write("Demo data already present; nothing added.")
        self.stdout.write("")
        self.stdout.write(f"AfterCare demo sign-ins (password for all: {DEMO_PASSWORD}):")
        for username, role in result.sign_ins:
            self.stdout.write(f"  {username:<12} {role}")
        self.stdout.write("Open http://127.0.0.1:8000 — API docs at /api/v1/docs, admin at /admin/")
