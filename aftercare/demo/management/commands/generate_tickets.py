import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from aftercare.demo.generator import generate_tickets


class Command(BaseCommand):
    help = "Bulk-generate realistic tickets for scale tests (needs seed_demo's customers first)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="Only the creation event per ticket (faster, smaller).",
        )

    def handle(
        self, *args, count: int, days: int, seed: int, batch_size: int, no_history: bool, **options
    ):
        if count <= 0:
            raise CommandError("--count must be positive")
        started = time.perf_counter()
        with tqdm(total=count, unit="ticket", disable=None) as bar:
            try:
                made = generate_tickets(
                    count,
                    seed=seed,
                    days=days,
                    batch_size=batch_size,
                    with_history=not no_history,
                    progress=bar.update,
                )
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        self.stdout.write(f"{made} tickets in {elapsed:.1f} s ({made / elapsed:.0f}/s)")
