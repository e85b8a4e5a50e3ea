import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aftercare.core.errors import DomainError
from aftercare.sla.services import import_holiday_notice


class Command(BaseCommand):
    help = "Import a State Council holiday notice (holiday-cn JSON format) for one year."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--region", default="CN")

    def handle(self, *args, files: list[Path], region: str, **options):
        for path in files:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            try:
                count = import_holiday_notice(document=document, region=region)
            except DomainError as exc:
                details = "\n  ".join(map(str, exc.details or []))
                raise CommandError(f"{path}: {exc.message}\n  {details}".rstrip()) from exc
            self.stdout.write(f"{path}: {count} days imported for {region}")
