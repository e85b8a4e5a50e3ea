"""Ticket numbers people can read out on the phone: AC-2026-000123, counted per year."""

from django.conf import settings
from django.db import DatabaseError, connection, transaction

# Migration 0002 creates the sequences of these years; others are created on first use.
PREPARED_YEARS = range(2000, 2101)


def _sequence_name(year: int) -> str:
    return f"ticket_number_{int(year)}"


def next_ticket_number(year: int) -> str:
    prefix = settings.AFTERCARE["TICKET_NUMBER_PREFIX"]
    return f"{prefix}-{year}-{next_serial(year):06d}"


def next_serial(year: int) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A sequence hands out values without a row lock held to commit; a rolled-back
            # ticket leaves a gap, which is fine for a reference number.
            name = _ensure_sequence(cursor, year)
            cursor.execute("SELECT nextval(%s)", [name])
            return int(cursor.fetchone()[0])
        cursor.execute(
            "INSERT INTO tickets_ticketnumbercounter (year, last_value) VALUES (%s, 1) "
            "ON CONFLICT (year) DO UPDATE SET last_value = last_value + 1 RETURNING last_value",
            [year],
        )
        return int(cursor.fetchone()[0])


def reserve_serials(year: int, count: int) -> int:
    """Reserve `count` consecutive serials for bulk generation; returns the first one."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            name = _ensure_sequence(cursor, year)
            cursor.execute("SELECT nextval(%s)", [name])
            first = int(cursor.fetchone()[0])
            cursor.execute("SELECT setval(%s, %s)", [name, first + count - 1])
            return first
        cursor.execute(
            "INSERT INTO tickets_ticketnumbercounter (year, last_value) VALUES (%s, %s) "
            "ON CONFLICT (year) DO UPDATE SET last_value = last_value + %s RETURNING last_value",
            [year, count, count],
        )
        return int(cursor.fetchone()[0]) - count + 1


def _ensure_sequence(cursor, year: int) -> str:
    name = _sequence_name(year)
    if year not in PREPARED_YEARS:
        try:
            with transaction.atomic():
                cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}")
        except DatabaseError:
            # Another process created it at the same moment; it exists now.
            pass
    return name
