"""Calendar arithmetic from the command line. Prints only the answer on stdout."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from aftercare.core.errors import DomainError
from aftercare.sla.business_time import CalendarError
from aftercare.sla.calendars import clock_for


def _instant(raw: str, flag: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"{flag}: not an ISO 8601 instant: {raw!r}") from exc
    if moment.tzinfo is None:
        raise CommandError(f"{flag}: the instant needs a UTC offset, e.g. {raw}+08:00")
    return moment


class Command(BaseCommand):
    help = (
        "Business-time arithmetic: --add-minutes N prints the due instant (ISO 8601 with "
        "offset); --end ISO prints the business minutes elapsed as an integer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--calendar", required=True)
        parser.add_argument("--start", required=True)
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--add-minutes", type=int)
        group.add_argument("--end")

    def handle(self, *args, calendar: str, start: str, add_minutes, end, **options):
        begin = _instant(start, "--start")
        try:
            clock = clock_for(calendar)
            if add_minutes is not None:
                if add_minutes < 0:
                    raise CommandError("--add-minutes must not be negative")
                self.stdout.write(clock.add_minutes(begin, add_minutes).isoformat())
            else:
                finish = _instant(end, "--end")
                if finish < begin:
                    raise CommandError("--end is before --start")
                self.stdout.write(str(clock.elapsed_minutes(begin, finish)))
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc
        except CalendarError as exc:
            raise CommandError(str(exc)) from exc
